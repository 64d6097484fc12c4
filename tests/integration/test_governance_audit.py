"""The audit log on real SQLite and PostgreSQL: commit-bound records, tamper detection by editing
rows directly in the database, append-only triggers, concurrent writers that must not fork the chain."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy import select
from support.central import make_container
from support.governance import tamper

from central.adapters.db.models_access import ApiTokenRow
from central.adapters.db.models_governance import AuditHeadRow, AuditRow
from central.bootstrap import Container
from central.errors import ServiceUnavailable
from central.service_layer import governance
from central.service_layer.access import Principal, issue_token

ALICE = Principal("alice", "controller", "tok-a")


@pytest.fixture
def central(central_db_url: str) -> Iterator[Container]:
    c = make_container(central_db_url)
    yield c
    c.dispose()


def write(c: Container, n: int, actor: governance.Actor = ALICE, prefix: str = "thing") -> None:
    for i in range(n):
        with c.write_sessions() as s, s.begin():
            governance.record(s, actor, "test.write", f"{prefix}/{i}", {"i": i, "amount": "1.10"})


def verify(c: Container) -> dict[str, object]:
    return governance.verify_snapshot(c.read_sessions)


def broken(c: Container) -> tuple[object, object]:
    report = verify(c)
    assert report["ok"] is False, report
    first = report["first_broken"]
    assert isinstance(first, dict)
    return first["code"], first["seq"]


def test_records_are_written_at_commit_and_dropped_on_rollback(central: Container) -> None:
    with central.write_sessions() as s, s.begin():
        governance.record(s, ALICE, "test.write", "a/1", {"x": 1})
        assert s.scalar(select(sa.func.count()).select_from(AuditRow)) == 0  # queued, not yet written
    with pytest.raises(RuntimeError), central.write_sessions() as s, s.begin():
        governance.record(s, ALICE, "test.write", "a/2")
        raise RuntimeError("the change failed")
    with central.write_sessions() as s, s.begin():
        governance.record(s, "bob", "test.write", "a/3")
        assert governance.flush_audit(s) == [2]
    with central.read_sessions() as s:
        page = governance.list_audit(s, limit=10)
    assert [(r["seq"], r["actor"], r["role"], r["target"]) for r in page["records"]] == [
        (1, "alice", "controller", "a/1"), (2, "bob", None, "a/3")]
    report = verify(central)
    assert report == {"ok": True, "checked": 2, "head": {"seq": 2, "hash": page["records"][1]["hash"]},
                      "first_broken": None}


def test_bad_records_are_refused_when_recorded(central: Container) -> None:
    with central.write_sessions() as s, s.begin():
        with pytest.raises(ValueError, match="action"):
            governance.record(s, ALICE, "", "t")
        with pytest.raises(ValueError, match="target"):
            governance.record(s, ALICE, "x", "t" * 301)
        with pytest.raises(ValueError, match="not JSON"):
            governance.record(s, ALICE, "x", "t", {"o": object()})


def test_the_database_refuses_update_and_delete(central: Container) -> None:
    write(central, 1)
    for sql in ("UPDATE audit_log SET actor = 'eve'", "DELETE FROM audit_log"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), central.engine.begin() as conn:
            conn.execute(sa.text(sql))
    assert verify(central)["ok"] is True


def test_editing_a_row_in_the_database_is_detected(central: Container) -> None:
    write(central, 5)
    url = central.engine.url.render_as_string(hide_password=False)
    tamper(url, "UPDATE audit_log SET actor = 'eve' WHERE seq = 3")
    assert broken(central) == ("altered", 3)


def test_editing_the_detail_json_is_detected(central: Container) -> None:
    write(central, 3)
    url = central.engine.url.render_as_string(hide_password=False)
    with central.read_sessions() as s:
        detail = s.scalar(select(AuditRow.detail).where(AuditRow.seq == 2))
    assert detail == {"i": 1, "amount": "1.10"}
    tamper(url, "UPDATE audit_log SET detail = :d WHERE seq = 2", params={"d": '{"i": 1, "amount": "0.10"}'})
    assert broken(central) == ("altered", 2)


def test_deleting_rows_is_detected_in_the_middle_and_at_the_end(central: Container) -> None:
    write(central, 5)
    url = central.engine.url.render_as_string(hide_password=False)
    tamper(url, "DELETE FROM audit_log WHERE seq = 5")
    assert broken(central) == ("truncated", 5)
    tamper(url, "DELETE FROM audit_log WHERE seq = 2")
    assert broken(central) == ("missing", 2)


def test_inserting_a_forged_row_is_detected(central: Container) -> None:
    write(central, 3)
    url = central.engine.url.render_as_string(hide_password=False)
    # make room after seq 1 and insert a forged record that claims to follow it
    tamper(url, "UPDATE audit_log SET seq = seq + 10 WHERE seq > 1",
           "INSERT INTO audit_log (seq, at, actor, role, token_id, action, target, detail, request_digest, "
           "prev_hash, hash) SELECT 2, at, 'eve', role, token_id, action, 'forged', detail, request_digest, hash, "
           "hash FROM audit_log WHERE seq = 1")
    assert broken(central) == ("altered", 2)


def test_a_failing_audit_write_fails_the_transaction(central: Container) -> None:
    with central.engine.begin() as conn:
        conn.execute(sa.delete(AuditHeadRow))
    with pytest.raises(ServiceUnavailable, match="head is missing"), central.write_sessions() as s, s.begin():
        issue_token(s, "someone", "planner")
        governance.record(s, ALICE, "token.issue", "token/someone")
    with central.read_sessions() as s:
        assert s.scalar(select(ApiTokenRow).where(ApiTokenRow.user == "someone")) is None


def test_paging_and_filters(central: Container) -> None:
    write(central, 4, ALICE, "a")
    write(central, 3, Principal("bob", "engineer", "tok-b"), "b")
    with central.read_sessions() as s:
        first = governance.list_audit(s, limit=3)
        assert [r["seq"] for r in first["records"]] == [1, 2, 3] and first["next"] == 3
        rest = governance.list_audit(s, limit=10, after=first["next"])
        assert [r["seq"] for r in rest["records"]] == [4, 5, 6, 7] and rest["next"] is None
        assert [r["seq"] for r in governance.list_audit(s, limit=10, actor="bob")["records"]] == [5, 6, 7]
        assert [r["target"] for r in governance.list_audit(s, limit=10, target="b/*")["records"]] == \
            ["b/0", "b/1", "b/2"]
        newest = governance.list_audit(s, limit=2, newest_first=True)
        assert [r["seq"] for r in newest["records"]] == [7, 6]
        assert [r["seq"] for r in governance.list_audit(s, limit=2, newest_first=True, after=6)["records"]] == [5, 4]
        assert governance.list_audit(s, limit=10, action="test.w*")["records"][0]["action"] == "test.write"
        assert governance.list_audit(s, limit=10, action="test_w*")["records"] == []  # _ is literal


@pytest.mark.timeout(180)
def test_concurrent_writers_never_fork_the_chain(central: Container) -> None:
    threads, each = 4, 8
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            start.wait(30)
            for i in range(each):
                with central.write_sessions() as s, s.begin():
                    governance.record(s, Principal(f"user{n}", "controller", f"t{n}"), "test.write", f"w{n}/{i}")
                    governance.record(s, Principal(f"user{n}", "controller", f"t{n}"), "test.second", f"w{n}/{i}")
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(150)
    assert not errors, errors
    report = verify(central)
    assert report["ok"] is True and report["checked"] == threads * each * 2, report
    with central.read_sessions() as s:
        rows = s.execute(select(AuditRow.target, AuditRow.action).order_by(AuditRow.seq)).all()
    # the two records of one transaction are adjacent: appends are atomic per transaction
    for first, second in zip(rows[::2], rows[1::2], strict=True):
        assert first.target == second.target and (first.action, second.action) == ("test.write", "test.second")
