"""The sealed ledger on real SQLite and PostgreSQL: journal rows refuse UPDATE and DELETE, seals in
the audit chain name a tampered entry or line, every entry ends up in exactly one seal (also when
PostgreSQL commits a lower id later), concurrent sealers, period close, the migration, the sealer."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from support.costing import costing_container, load, period_id, worked_example_master
from support.governance import tamper

from central.adapters.db.engine import make_engine, write_engine
from central.adapters.db.migrate import offline_sql, upgrade
from central.adapters.db.models_access import ApiTokenRow
from central.adapters.db.models_governance import AuditRow, LedgerSealEntryRow, LedgerSealRow
from central.bootstrap import Container
from central.domain.ledger import JournalEntry, JournalLine, Tags
from central.domain.roles import Role
from central.domain.seal_hash import LINE_COLUMNS, line_hash
from central.entrypoints.api.app import create_app
from central.service_layer import governance
from central.service_layer.access import issue_token
from central.service_layer.costing import closing, ledger
from central.service_layer.costing.journal import save_entry
from central.service_layer.governance.seal import SEAL_ACTION, SEALER, seal_ledger, verify_all
from central.service_layer.governance.sealer import LedgerSealer, seal_once
from shared.waiting import wait_until

LOOKBACK = timedelta(minutes=10)


@pytest.fixture
def central(central_db_url: str) -> Iterator[Container]:
    c = costing_container(central_db_url)
    load(c, worked_example_master())
    yield c
    c.dispose()


def _entry(entity: str | None, amount: str, memo: str) -> JournalEntry:
    value = Decimal(amount)
    return JournalEntry(date.today(), period_id(), "test", (
        JournalLine(Role.LABOR_CONTROL, debit=value, account="5100", tags=Tags(work_center="WC-PRESS")),
        JournalLine(Role.WAGES_PAYABLE, credit=value, account="2100"),
    ), entity=entity, memo=memo)


def post(c: Container, n: int = 1, entity: str | None = "E1", amount: str = "10.00") -> list[int]:
    """``n`` balanced two-line entries in one transaction; their ids."""
    with c.write_sessions() as s, s.begin():
        return [save_entry(s, _entry(entity, amount, f"entry {i}"), "tester", datetime.now(UTC)) for i in range(n)]


def seal(c: Container, lookback: timedelta | None = LOOKBACK) -> list[dict[str, Any]]:
    with c.write_sessions() as s, s.begin():
        made = seal_ledger(s, SEALER, "periodic", lookback=lookback) or []
    return [m.as_dict() for m in made]


def verify(c: Container) -> dict[str, Any]:
    return verify_all(c.read_sessions)


def url_of(c: Container) -> str:
    return c.engine.url.render_as_string(hide_password=False)


def lines_of(c: Container, entry_id: int) -> list[tuple[int, int]]:
    with c.read_sessions() as s:
        rows = s.execute(sa.text("SELECT id, line_no FROM journal_lines WHERE entry_id = :e ORDER BY line_no"),
                         {"e": entry_id}).all()
    return [(int(r[0]), int(r[1])) for r in rows]


def membership(c: Container) -> tuple[int, int, int]:
    """(journal entries, membership rows, distinct members): equal when each entry is in one seal."""
    with c.read_sessions() as s:
        entries = s.scalar(sa.text("SELECT count(*) FROM journal_entries"))
        members = s.scalar(sa.select(sa.func.count()).select_from(LedgerSealEntryRow))
        distinct = s.scalar(sa.select(sa.func.count(sa.distinct(LedgerSealEntryRow.entry_id))))
    return int(entries or 0), int(members or 0), int(distinct or 0)


def test_journal_and_seal_rows_refuse_update_and_delete(central: Container) -> None:
    post(central, 2)
    seal(central)
    before = verify(central)
    statements = [
        "UPDATE journal_lines SET debit = debit + 100", "DELETE FROM journal_lines",
        "UPDATE journal_entries SET memo = 'x'", "DELETE FROM journal_entries",
        "UPDATE ledger_seal_entries SET hash = 'x'", "DELETE FROM ledger_seal_lines", "DELETE FROM ledger_seals",
    ]
    if central.engine.dialect.name == "postgresql":
        statements += ["TRUNCATE journal_lines", "TRUNCATE ledger_seal_entries"]
    for sql in statements:
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), central.engine.begin() as conn:
            conn.execute(sa.text(sql))
    after = verify(central)
    assert after == before and after["ok"] is True
    assert after["ledger"]["entries"] == 2 and after["ledger"]["lines"] == 4


def test_a_sealed_line_edited_on_both_sides_is_named_by_verify(central: Container) -> None:
    ids = post(central, 3)
    made = seal(central)
    assert [(m["entity"], m["entries"], m["lines"]) for m in made] == [("E1", 3, 6)]
    report = verify(central)
    assert report["ok"] is True and report["ledger"] == {
        "ok": True, "seals": 1, "entries": 3, "lines": 6, "unsealed_entries": 0, "first_mismatch": None}
    (debit_line, _), (credit_line, _) = lines_of(central, ids[1])
    # as the database owner: drop the guard trigger, move 1,000.00 on both sides of one entry
    tamper(url_of(central), "UPDATE journal_lines SET debit = debit + 100000 WHERE id = :d",
           "UPDATE journal_lines SET credit = credit + 100000 WHERE id = :c",
           params={"d": debit_line, "c": credit_line})
    with central.read_sessions() as s:
        assert ledger.trial_balance(s)["balanced"] is True  # the trial balance cannot see it
    report = verify(central)
    assert report["ok"] is False
    assert report["first_broken"] is None  # the audit chain itself is intact
    mismatch = report["ledger"]["first_mismatch"]
    assert (mismatch["code"], mismatch["seal"], mismatch["entry"], mismatch["line"], mismatch["line_no"]) == (
        "line_altered", made[0]["seal"], ids[1], debit_line, 1)
    assert f"journal line {debit_line}" in mismatch["message"]


def test_verify_over_http_names_the_line_and_counts_unsealed_entries(central_sqlite_url: str) -> None:
    c = costing_container(central_sqlite_url)
    try:
        load(c, worked_example_master())
        ids = post(c, 2)
        seal(c)
        post(c, 3)  # not sealed yet
        with c.write_sessions() as s, s.begin():
            hdr = {"Authorization": f"Bearer {issue_token(s, 'ann', 'auditor').token}"}
        client = TestClient(create_app(c), raise_server_exceptions=False)
        report = client.get("/api/v1/audit/verify", headers=hdr).json()
        assert report["ok"] is True and report["ledger"]["unsealed_entries"] == 3
        line, line_no = lines_of(c, ids[0])[1]
        tamper(url_of(c), "UPDATE journal_lines SET credit = credit + 1 WHERE id = :x", params={"x": line})
        report = client.get("/api/v1/audit/verify", headers=hdr).json()
        assert report["ok"] is False and report["ledger"]["unsealed_entries"] == 3
        mismatch = report["ledger"]["first_mismatch"]
        assert (mismatch["code"], mismatch["entry"], mismatch["line"], mismatch["line_no"]) == (
            "line_altered", ids[0], line, line_no)
    finally:
        c.dispose()


def test_deleted_rows_and_consistently_rewritten_hashes_are_detected(central: Container) -> None:
    (first,) = post(central, 1)
    (seal_a,) = seal(central)
    (second,) = post(central, 1)
    (seal_b,) = seal(central)
    url = url_of(central)
    line, _ = lines_of(central, first)[0]
    with central.read_sessions() as s:
        memo, stored = s.execute(sa.text("SELECT l.memo, h.hash FROM journal_lines l JOIN ledger_seal_lines h "
                                         "ON h.line_id = l.id WHERE l.id = :x"), {"x": line}).one()
    # a line edited and its stored hash rewritten to match: the seal's digest in the chain catches it
    tamper(url, "UPDATE journal_lines SET memo = 'forged' WHERE id = :x", params={"x": line})
    with central.read_sessions() as s:
        row = s.execute(sa.text(f"SELECT {', '.join(LINE_COLUMNS)} FROM journal_lines WHERE id = :x"),
                        {"x": line}).one()
    tamper(url, "UPDATE ledger_seal_lines SET hash = :h WHERE line_id = :x",
           params={"h": line_hash(tuple(row)), "x": line})
    mismatch = verify(central)["ledger"]["first_mismatch"]
    assert (mismatch["code"], mismatch["seal"], mismatch["entry"]) == ("seal_altered", seal_a["seal"], first)
    # put both back: the first seal verifies again
    tamper(url, "UPDATE journal_lines SET memo = :m WHERE id = :x",
           "UPDATE ledger_seal_lines SET hash = :h WHERE line_id = :x", params={"m": memo, "h": stored, "x": line})
    assert verify(central)["ok"] is True
    # an entry deleted with its lines: named as missing, in the second seal
    tamper(url, "DELETE FROM journal_lines WHERE entry_id = :e", "DELETE FROM journal_entries WHERE id = :e",
           params={"e": second})
    report = verify(central)["ledger"]
    assert report["seals"] == 1 and report["unsealed_entries"] == 0
    mismatch = report["first_mismatch"]
    assert (mismatch["code"], mismatch["seal"], mismatch["entry"], mismatch["line"]) == (
        "entry_missing", seal_b["seal"], second, None)


def test_an_entry_marked_sealed_by_a_seal_the_chain_lacks_is_detected(central: Container) -> None:
    post(central, 1)
    seal(central)
    forged = post(central, 1)[0]
    tamper(url_of(central), "INSERT INTO ledger_seal_entries (entry_id, seal_id, hash) VALUES (:e, 999, :h)",
           params={"e": forged, "h": "f" * 64})
    report = verify(central)["ledger"]
    assert report["unsealed_entries"] == 0
    assert (report["first_mismatch"]["code"], report["first_mismatch"]["entry"]) == ("unknown_seal", forged)


def test_unsealed_entries_are_counted_and_each_is_sealed_once_per_entity(central: Container) -> None:
    post(central, 2, entity="E1")
    post(central, 1, entity="E2")
    assert verify(central)["ledger"]["unsealed_entries"] == 3
    made = seal(central)
    assert sorted((m["entity"], m["entries"]) for m in made) == [("E1", 2), ("E2", 1)]
    assert seal(central) == []  # nothing twice
    late = post(central, 1, entity="E1")
    assert verify(central)["ledger"]["unsealed_entries"] == 1
    again = seal(central)
    assert [(m["entity"], m["first_entry"], m["last_entry"]) for m in again] == [("E1", late[0], late[0])]
    report = verify(central)
    assert report["ok"] is True and report["ledger"]["seals"] == 3 and report["ledger"]["unsealed_entries"] == 0
    assert membership(central) == (4, 4, 4)
    with central.read_sessions() as s:
        records = s.scalars(sa.select(AuditRow).where(AuditRow.action == SEAL_ACTION).order_by(AuditRow.seq)).all()
    assert [(r.actor, r.target, r.detail["entity"], r.detail["reason"]) for r in records] == [
        (SEALER, f"ledger_seal/{m['seal']}", m["entity"], "periodic") for m in [*made, *again]]


def test_a_period_close_seals_everything_with_the_close(central: Container) -> None:
    post(central, 2)
    with central.write_sessions() as s, s.begin():
        summary = closing.close_period(s, period_id(), "ctl")
    assert summary["seals"] and sum(m["entries"] for m in summary["seals"]) >= 2
    report = verify(central)
    assert report["ok"] is True and report["ledger"]["unsealed_entries"] == 0
    with central.read_sessions() as s:
        rec = s.scalars(sa.select(AuditRow).where(AuditRow.action == SEAL_ACTION).order_by(AuditRow.seq)).first()
        seal_row = s.get(LedgerSealRow, summary["seals"][0]["seal"])
    assert rec is not None and rec.actor == "ctl" and rec.detail["reason"] == "period_close"
    assert rec.detail["period"] == period_id() and seal_row is not None and seal_row.reason == "period_close"


def test_postgresql_entry_committed_after_a_higher_id_is_still_sealed_exactly_once(central_pg_url: str) -> None:
    """Sequence ids commit out of order: ``a < b`` but ``b`` commits (and is sealed) first."""
    c = costing_container(central_pg_url)
    try:
        load(c, worked_example_master())
        slow = c.write_sessions()
        slow.begin()
        a = save_entry(slow, _entry("E1", "1.00", "in flight"), "tester", datetime.now(UTC))
        (b,) = post(c, 1)
        assert a < b
        assert seal_once(c.write_sessions, lookback=LOOKBACK, batch=100) == 1  # only b is visible
        slow.commit()
        slow.close()
        assert verify(c)["ledger"]["unsealed_entries"] == 1
        assert seal_once(c.write_sessions, lookback=LOOKBACK, batch=100) == 1  # a, below the last seal's ids
        report = verify(c)
        assert report["ok"] is True and report["ledger"]["unsealed_entries"] == 0 and report["ledger"]["seals"] == 2
        assert membership(c) == (2, 2, 2)
        # in flight for longer than the lookback: a periodic run does not look that far, a full one does
        slow = c.write_sessions()
        slow.begin()
        old = save_entry(slow, _entry("E1", "2.00", "very slow"), "tester", datetime.now(UTC))
        post(c, 1)
        seal_once(c.write_sessions, lookback=LOOKBACK, batch=100)
        slow.commit()
        slow.close()
        assert seal_once(c.write_sessions, lookback=timedelta(0), batch=100) == 0
        assert verify(c)["ledger"]["unsealed_entries"] == 1
        assert seal_once(c.write_sessions, lookback=None, batch=100) == 1
        with c.read_sessions() as s:
            assert s.get(LedgerSealEntryRow, old) is not None
        assert verify(c)["ok"] is True and membership(c) == (4, 4, 4)
    finally:
        c.dispose()


@pytest.mark.timeout(300)
def test_concurrent_sealers_and_writers_never_seal_an_entry_twice(central: Container) -> None:
    stop = threading.Event()
    errors: list[BaseException] = []

    def sealer(full: bool) -> None:
        try:
            while not stop.is_set():
                if full:
                    with central.write_sessions() as s, s.begin():
                        governance_seal = seal_ledger(s, SEALER, "periodic", lookback=None, batch=7, wait=True)
                        assert governance_seal is not None
                else:
                    seal_once(central.write_sessions, lookback=LOOKBACK, batch=5)
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    threads = [threading.Thread(target=sealer, args=(full,)) for full in (False, False, True)]
    for t in threads:
        t.start()
    try:
        for i in range(15):
            post(central, 1 + i % 3, entity="E1" if i % 2 else "E2")
    finally:
        stop.set()
        for t in threads:
            t.join(120)
    assert errors == []
    seal_once(central.write_sessions, lookback=None, batch=1000)
    total = sum(1 + i % 3 for i in range(15))
    assert membership(central) == (total, total, total)
    report = verify(central)
    assert report["ok"] is True and report["ledger"]["entries"] == total


def test_the_periodic_sealer_seals_new_entries_and_survives_a_failing_run(central: Container) -> None:
    sealer = LedgerSealer(central.write_sessions, interval=0.05, lookback=600, batch=100)
    sealer.start()
    try:
        post(central, 2)
        wait_until("the sealer to seal", lambda: verify(central)["ledger"]["unsealed_entries"] == 0, 30)
    finally:
        sealer.stop()
    broken = LedgerSealer(central.write_sessions, interval=0.05, lookback=600, batch=100)
    with central.engine.begin() as conn:  # the sealer's table is gone: every run fails, the thread lives on
        conn.execute(sa.text("ALTER TABLE ledger_seal_lines RENAME TO ledger_seal_lines_away"))
    post(central, 1)
    broken.start()
    try:
        wait_until("two failed runs", lambda: broken.state.failures >= 2, 30)
        assert broken._thread is not None and broken._thread.is_alive()
        with central.engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE ledger_seal_lines_away RENAME TO ledger_seal_lines"))
        wait_until("sealing to resume", lambda: verify(central)["ledger"]["unsealed_entries"] == 0, 30)
    finally:
        broken.stop()
    assert broken.state.last_error is None and verify(central)["ok"] is True


def test_the_migration_seals_what_exists_and_keeps_reversal_links(tmp_path: Any) -> None:
    _migrate_existing_ledger(f"sqlite:///{tmp_path / 'old.db'}")


def test_the_migration_seals_what_exists_on_postgresql(pg_url: str) -> None:
    _migrate_existing_ledger(pg_url)


def _migrate_existing_ledger(url: str) -> None:
    from central.adapters.db.base import UtcDateTime

    engine = make_engine(url)
    try:
        upgrade(write_engine(engine), "0006_event_bounds")
        entries = sa.table("journal_entries", *(sa.column(n) for n in (
            "id", "entity", "period", "entry_date", "kind", "memo", "late", "reverses", "reversed_by", "reason",
            "user")), sa.column("created", UtcDateTime()))
        lines = sa.table("journal_lines", *(sa.column(n) for n in (
            "id", "entry_id", "line_no", "account", "role", "debit", "credit", "memo")))
        at = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
        tokens = sa.table("api_tokens", *(sa.column(n) for n in ("id", "user", "role", "token_hash")),
                          sa.column("created", UtcDateTime()), sa.column("expires", UtcDateTime()),
                          sa.column("revoked_at", UtcDateTime()))
        with engine.begin() as conn:
            conn.execute(sa.insert(tokens), [
                {"id": "forever", "user": "admin", "role": "admin", "token_hash": "a" * 64, "created": at,
                 "expires": None, "revoked_at": None},
                {"id": "dated", "user": "u", "role": "planner", "token_hash": "b" * 64, "created": at,
                 "expires": at + timedelta(days=5), "revoked_at": None}])
            for eid, rev, rev_by in ((1, None, 2), (2, 1, None), (3, None, None)):
                conn.execute(sa.insert(entries).values(
                    id=eid, entity="E1", period="2026-11", entry_date=date(2026, 11, 2), kind="goods_receipt",
                    memo="old", late=False, reverses=rev, reversed_by=rev_by, reason="", user="u", created=at))
                debit, credit = (1234, 0) if rev is None else (0, 1234)
                conn.execute(sa.insert(lines), [
                    {"id": eid * 10 + 1, "entry_id": eid, "line_no": 1, "account": "1300", "role": "raw_materials",
                     "debit": debit, "credit": credit, "memo": ""},
                    {"id": eid * 10 + 2, "entry_id": eid, "line_no": 2, "account": "2000",
                     "role": "accounts_payable", "debit": credit, "credit": debit, "memo": ""}])
        upgrade(write_engine(engine))
        from central.adapters.db.engine import make_session_factory

        sessions = make_session_factory(engine)
        report = verify_all(sessions)
        assert report["ok"] is True, report
        assert report["ledger"] == {"ok": True, "seals": 1, "entries": 3, "lines": 6, "unsealed_entries": 0,
                                    "first_mismatch": None}
        with sessions() as s:
            seal_row = s.scalars(sa.select(LedgerSealRow)).one()
            assert (seal_row.reason, seal_row.first_entry, seal_row.last_entry) == ("migration", 1, 3)
            assert ledger.get_entry(s, 1)["reversed_by"] == 2 and ledger.get_entry(s, 2)["reverses"] == 1
            assert ledger.get_entry(s, 3)["reversed_by"] is None
            assert [r.action for r in s.scalars(sa.select(AuditRow))] == [SEAL_ACTION]
            expiry = {t.id: t.expires for t in s.scalars(sa.select(ApiTokenRow))}
        assert expiry["dated"] == at + timedelta(days=5)  # an expiry already set is kept
        left = expiry["forever"] - datetime.now(UTC) if expiry["forever"] is not None else None
        assert left is not None and timedelta(days=89) < left <= timedelta(days=90)
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(sa.text("UPDATE journal_lines SET debit = 1 WHERE id = 11"))
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:  # a second reversal of entry 1
            conn.execute(sa.insert(entries).values(
                id=4, entity="E1", period="2026-11", entry_date=date(2026, 11, 3), kind="goods_receipt", memo="",
                late=False, reverses=1, reason="again", user="u", created=at))
    finally:
        engine.dispose()


def test_record_of_a_side_effect_keeps_the_requests_generic_record(central: Container) -> None:
    """A seal made inside a write request does not stand in for the request's own audit record."""
    post(central, 1)
    ctx = governance.RequestContext("POST", "/api/v1/periods/P/close", "", "d" * 64, None)
    with central.write_sessions() as s, s.begin():
        governance.attach_request(s, ctx)
        seal_ledger(s, "ctl", "period_close", period="P")
    with central.read_sessions() as s:
        actions = [r.action for r in s.scalars(sa.select(AuditRow).order_by(AuditRow.seq))]
    assert actions[-2:] == [SEAL_ACTION, "http.post"]


def test_offline_migration_gives_old_tokens_an_expiry_too(tmp_path: Any) -> None:
    """``migrate --sql`` (the script the PostgreSQL fixtures run) carries the token expiry and the triggers."""
    for url, trigger in ((f"sqlite:///{tmp_path / 'x.db'}", "CREATE TRIGGER journal_lines_no_update"),
                         ("postgresql+psycopg://localhost/unused", "CREATE TRIGGER journal_lines_append_only")):
        script = offline_sql(url)
        assert "UPDATE api_tokens SET expires" in script and trigger in script


def test_postgresql_posting_does_not_wait_for_an_open_seal(central_pg_url: str) -> None:
    """A seal holds its advisory lock and the chain head until it commits; a posting needs neither."""
    c = costing_container(central_pg_url)
    try:
        load(c, worked_example_master())
        post(c, 2)
        sealer = c.write_sessions()
        sealer.begin()
        try:
            assert seal_ledger(sealer, SEALER, "periodic", lookback=None)
            governance.flush_audit(sealer)  # the chain head is now locked by the sealer
            with c.write_sessions() as s, s.begin():
                s.execute(sa.text("SET LOCAL lock_timeout = '20s'"))  # blocked on a lock: an error, not a hang
                posted = save_entry(s, _entry("E1", "3.00", "during the seal"), "tester", datetime.now(UTC))
        finally:
            sealer.commit()
            sealer.close()
        report = verify(c)
        assert report["ok"] is True and report["ledger"]["unsealed_entries"] == 1
        assert seal(c)[0]["first_entry"] == posted
    finally:
        c.dispose()
