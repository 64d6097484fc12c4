"""Reports from the ledger balance snapshots equal a full scan (issue 16).

A real history on the worked example's master data (ingest with postings, API inputs), checked at
five points: after units that waited unassigned were attributed by a dispatch after the fact, after
an order close and a period close, after late events (dated in the closed period, posted into the
next one), after a re-attribution in the closed period (an order stopped with a past 'at': its
postings reversed and reposted), and after the period was reopened and posted into again (and an
entry reversed). At each point every report is computed twice: as served (ledger reports from the
snapshots, downtime / OEE / cost of quality by index seeks over the window) and from a full scan
(:class:`ScanBalances`: every journal line and stock move; every state event and dispatch from the
beginning, every unit summed in Python), and the two must be equal; ``snapshots.verify`` compares
the snapshot tables row by row with the journal. SQLite, and PostgreSQL when configured.
"""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, delete, select, text
from sqlalchemy.orm import Session
from support.costing import MACHINE, costing_container, ingest, load, timeline, wire_events, worked_example_master

from central.adapters.db.migrate import upgrade
from central.adapters.db.models_costing import (
    EventPostingRow,
    JournalEntryRow,
    LedgerBalanceRow,
    LedgerDayBalanceRow,
    PeriodRow,
)
from central.bootstrap import Container
from central.domain.ledger import JournalEntry, JournalLine, Tags
from central.domain.roles import Role
from central.service_layer.costing import closing, inputs, ledger, reports, snapshots, work_orders
from central.service_layer.costing import timeline as timelines
from central.service_layer.costing.journal import save_entry
from central.service_layer.costing.snapshot_compactor import SnapshotCompactor, compact_all

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
TODAY = NOW.date()
T0 = NOW - timedelta(days=12)  # the first order runs 40 h from here, inside period A
PERIODS = [("P-A", TODAY - timedelta(days=40), TODAY - timedelta(days=6)),
           ("P-B", TODAY - timedelta(days=5), TODAY + timedelta(days=30))]


def _master() -> dict[str, Any]:
    doc: dict[str, Any] = worked_example_master()
    doc["periods"] = [{"id": p, "start": a.isoformat(), "end": b.isoformat()} for p, a, b in PERIODS]
    return doc


def _units(first_seq: int, start: datetime, good: int, scrap: int) -> list[dict[str, Any]]:
    events = []
    for n in range(good + scrap):
        kind = "count" if n < good else "scrap"
        events.append({"kind": kind, "ts": start + timedelta(seconds=30 * n), "qty": 1,
                       "reason": "BURR" if kind == "scrap" else None,
                       "raw": {"tag": kind, "value": n + 1, "prev": n}})
    docs: list[dict[str, Any]] = wire_events(events, first_seq=first_seq)
    return docs


@contextmanager
def _full_scan(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The window reports' reads replaced by full scans: every state event and every dispatch from the
    beginning (then clipped to the window by the same domain code), every unit posting summed in Python."""
    def every_interval(session: Session, snap: Any, machines: Any, lo: datetime | None, hi: datetime) -> Any:
        return timelines.intervals(session, snap, machines, None, hi)

    def every_unit(session: Session, start: datetime, end: datetime, machines: list[str],
                   statuses: tuple[str, ...]) -> list[Any]:
        sums: dict[tuple[str, str | None, str, str | None], Decimal] = defaultdict(Decimal)
        for p in session.scalars(select(EventPostingRow)):
            if p.kind in ("count", "scrap") and p.machine in machines and p.status in statuses and \
                    start <= p.ts < end:
                sums[(p.kind, p.work_order, p.machine, p.reason)] += Decimal(p.qty)
        return [reports._CountSum(k, wo, m, why, q) for (k, wo, m, why), q in sums.items()]

    with monkeypatch.context() as m:
        m.setattr(reports, "intervals", every_interval)
        m.setattr(reports, "_count_sums", every_unit)
        yield


def _windows() -> list[reports.Window]:
    return [reports.Window(T0 - timedelta(days=1), NOW), reports.Window(T0 + timedelta(hours=20), NOW),
            reports.Window(T0 + timedelta(hours=22), T0 + timedelta(hours=30)),
            reports.Window(T0 + timedelta(hours=41), T0 + timedelta(hours=44))]


def _window_reports(s: Session) -> dict[str, Any]:
    out: dict[str, Any] = {}
    clock = lambda: NOW  # noqa: E731
    for n, w in enumerate(_windows()):
        out[f"downtime {n}"] = reports.downtime(s, w, None, clock=clock)
        out[f"oee plant {n}"] = reports.oee(s, w, None, clock=clock)
        out[f"oee {MACHINE} {n}"] = reports.oee(s, w, MACHINE, clock=clock)
        out[f"cost of quality {n}"] = reports.cost_of_quality(s, w, None)
    return out


def _ledger_reports(s: Session, source: snapshots.BalanceSource) -> dict[str, Any]:
    out: dict[str, Any] = {}
    clock = lambda: NOW  # noqa: E731
    days: list[date | None] = [None, T0.date(), T0.date() + timedelta(days=1), PERIODS[0][2], PERIODS[1][1], TODAY]
    for entity in (None, "E1"):
        for period in (None, "P-A", "P-B"):
            out[f"tb {entity} {period}"] = ledger.trial_balance(s, entity, period, clock=clock, source=source)
            for start in days:
                for end in days:
                    if start is not None and end is not None and end < start:
                        continue
                    out[f"tb {entity} {period} {start} {end}"] = ledger.trial_balance(
                        s, entity, period, start=start, end=end, clock=clock, source=source)
    for period in (None, "P-A", "P-B"):
        for wo in (None, "WO-1", "WO-2"):
            out[f"variances {period} {wo}"] = reports.variances(s, period, wo, source=source)
        out[f"variances {period} WC-PRESS"] = reports.variances(s, period, None, "WC-PRESS", source=source)
    out["wip"] = reports.wip(s, source=source)
    out["inventory valuation"] = reports.inventory_valuation(s, source=source)
    return out


def _check(central: Container, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Every report as served equals its full scan; the snapshot tables equal the journal. Returns the reports."""
    with central.read_sessions() as s:
        assert snapshots.verify(s) == []
        served = _ledger_reports(s, snapshots.SnapshotBalances(s)) | _window_reports(s)
        scanned = _ledger_reports(s, snapshots.ScanBalances(s))
        with _full_scan(monkeypatch):
            scanned |= _window_reports(s)
    assert served.keys() == scanned.keys()
    for name in served:
        assert served[name] == scanned[name], name
    for name, tb in served.items():
        if name.startswith("tb"):
            assert tb["balanced"], (name, tb)
    return served


def _amounts(tb: dict[str, Any]) -> dict[str, str]:
    return {x["role"]: x["balance"] for x in tb["lines"]}


def test_reports_from_snapshots_equal_a_full_scan(central: Container, monkeypatch: pytest.MonkeyPatch) -> None:
    load(central, _master())
    docs = wire_events(timeline(T0, good=400, scrap=20))
    third = len(docs) // 3
    ingest(central, docs[:third], 25)  # no order dispatched yet: these wait unassigned
    with central.write_sessions() as s, s.begin():
        work_orders.create_order(s, "BR-100", Decimal(500), "planner", "WO-1")
        work_orders.release(s, "WO-1", "planner")
        work_orders.start(s, "WO-1", MACHINE, "planner", at=T0)  # after the fact: attributes the waiting units
    ingest(central, docs[third:], 25)
    with central.write_sessions() as s, s.begin():
        inputs.goods_receipt(s, "S", Decimal(1000), Decimal("4.10"), "GR-1", "stores", posting_date=T0.date())
        inputs.goods_receipt(s, "F", Decimal(2000), Decimal("0.24"), "GR-2", "stores", posting_date=T0.date())
        inputs.material_issue(s, "WO-1", "S", Decimal(650), "stores", posting_date=T0.date())
        inputs.material_issue(s, "WO-1", "F", Decimal(1700), "stores", posting_date=T0.date())
        inputs.labor_booking(s, "WC-PRESS", "P-A", Decimal(36), Decimal("918.00"), "payroll")
        inputs.overhead_actual(s, "WC-PRESS", "P-A", "variable", Decimal("560.00"), "ctl")
        inputs.overhead_actual(s, "WC-PRESS", "P-A", "fixed", Decimal("1450.00"), "ctl")
    first = _check(central, monkeypatch)
    assert first["wip"]["rows"] and first["wip"]["total"] != "0.00"
    assert first["downtime 0"]["rows"] and first["cost of quality 0"]["rows"]

    # the order and the period close
    with central.write_sessions() as s, s.begin():
        work_orders.complete(s, "WO-1", "planner", at=T0 + timedelta(hours=40, minutes=30))
    with central.write_sessions() as s, s.begin():
        closing.close_order(s, "WO-1", "ctl", posting_date=T0.date() + timedelta(days=1))
    with central.write_sessions() as s, s.begin():
        closing.close_period(s, "P-A", "ctl", clock=lambda: NOW)
    closed = _check(central, monkeypatch)
    assert closed["variances P-A None"]["variances"], "the closes posted variances"
    assert closed["wip"] == {"rows": [], "total": "0.00"}, "a closed order's settled WIP is not listed"
    assert _amounts(closed["tb None P-A"]) != _amounts(first["tb None P-A"])

    # late events: a second order's units dated in the closed period post into P-B, flagged late
    with central.write_sessions() as s, s.begin():
        work_orders.create_order(s, "BR-100", Decimal(100), "planner", "WO-2")
        work_orders.release(s, "WO-2", "planner")
        work_orders.start(s, "WO-2", MACHINE, "planner", at=T0 + timedelta(hours=41))
    late_start = T0 + timedelta(hours=41, minutes=5)
    ingest(central, _units(len(docs) + 1, late_start, 60, 4), 16)
    with central.read_sessions() as s:
        late = s.scalars(select(JournalEntryRow).where(JournalEntryRow.late.is_(True))).all()
        assert late and {e.period for e in late} == {"P-B"}
    after_late = _check(central, monkeypatch)
    assert [(r["work_order"], r["status"]) for r in after_late["wip"]["rows"]] == [("WO-2", "started")]
    assert _amounts(after_late["tb None P-B"]) != _amounts(closed["tb None P-B"])
    assert after_late["tb None P-A"] == closed["tb None P-A"] | {"as_of": after_late["tb None P-A"]["as_of"]}

    # re-attribution in the closed period: WO-2 stopped with a past 'at' (its later units' postings are
    # reversed and reposted as unassigned), then a third order takes them from that time
    with central.write_sessions() as s, s.begin():
        work_orders.stop(s, "WO-2", "planner", at=late_start + timedelta(minutes=10))
    with central.write_sessions() as s, s.begin():
        work_orders.create_order(s, "BR-100", Decimal(100), "planner", "WO-3")
        work_orders.release(s, "WO-3", "planner")
        work_orders.start(s, "WO-3", MACHINE, "planner", at=late_start + timedelta(minutes=10))
    reattributed = _check(central, monkeypatch)
    assert reattributed["wip"] != after_late["wip"]

    # the period reopened (its status only; no line changes) and posted into again; an entry reversed
    with central.write_sessions() as s, s.begin():
        period = s.get(PeriodRow, "P-A")
        assert period is not None
        period.status, period.closed_at, period.closed_by = "open", None, None
    with central.write_sessions() as s, s.begin():
        inputs.labor_booking(s, "WC-PRESS", "P-A", Decimal(2), Decimal("51.00"), "payroll")
        receipt = s.scalars(select(JournalEntryRow.id).where(JournalEntryRow.kind == "goods_receipt")
                            .order_by(JournalEntryRow.id)).first()
        assert receipt is not None
        ledger.reverse_entry(s, receipt, "wrong supplier price", "ctl", clock=lambda: NOW)
    reopened = _check(central, monkeypatch)
    assert _amounts(reopened["tb None P-A"]) != _amounts(reattributed["tb None P-A"])
    assert reopened["inventory valuation"] != reattributed["inventory valuation"]

    # the compactor folds each key's rows (one per posting transaction) into one; nothing changes
    assert _snapshot_rows(central) > _snapshot_keys(central)
    removed, _high = compact_all(central.write_sessions, max_keys=3)  # several transactions
    assert removed > 0
    assert _snapshot_rows(central) == _snapshot_keys(central)
    assert _check(central, monkeypatch) == reopened
    assert compact_all(central.write_sessions)[0] == 0


def _snapshot_rows(central: Container) -> int:
    with central.read_sessions() as s:
        return sum(len(s.scalars(select(m.id)).all()) for m in (LedgerDayBalanceRow, LedgerBalanceRow))


def _snapshot_keys(central: Container) -> int:
    with central.read_sessions() as s:
        n = 0
        for model, key in ((LedgerDayBalanceRow, snapshots.DAY_KEY), (LedgerBalanceRow, snapshots.TOTAL_KEY)):
            n += len(s.execute(select(*[getattr(model, c) for c in key]).distinct()).all())
        return n


def test_concurrent_posting_and_compacting_keep_the_snapshots_exact(central: Container) -> None:
    """Writers posting while two compactors fold (two central processes): no posting waits on a
    snapshot row, no row is folded twice, and the tables equal the journal afterwards."""
    load(central, _master())
    stop = threading.Event()
    errors: list[BaseException] = []

    def compactor() -> None:
        since: tuple[int, int] | None = None
        try:
            while not stop.is_set():
                since = compact_all(central.write_sessions, since=since, max_keys=2)[1]
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=compactor) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for n in range(12):
            with central.write_sessions() as s, s.begin():
                inputs.labor_booking(s, "WC-PRESS", "P-B", Decimal(1 + n % 3), Decimal("75.00"), "payroll")
                inputs.goods_receipt(s, "S", Decimal(2), Decimal("4.00"), f"GR-{n}", "stores")
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert errors == []
    compact_all(central.write_sessions)
    with central.read_sessions() as s:
        assert snapshots.verify(s) == []
    assert _snapshot_rows(central) == _snapshot_keys(central)


@pytest.mark.skipif(not os.environ.get("SFSYNC_TEST_PG_URL"), reason="PostgreSQL row locks: needs SFSYNC_TEST_PG_URL")
def test_a_posting_never_waits_for_another_transactions_snapshot_rows(central_pg_url: str) -> None:
    """Two transactions posting to the same accounts on the same day: the second commits while the
    first is still open (an in-place snapshot row would make it wait for the first's commit)."""
    c = costing_container(central_pg_url)
    try:
        load(c, _master())
        slow = c.write_sessions()
        slow.begin()
        inputs.labor_booking(slow, "WC-PRESS", "P-B", Decimal(1), Decimal("75.00"), "payroll")
        with c.write_sessions() as s, s.begin():
            s.execute(text("SET LOCAL lock_timeout = '5s'"))
            inputs.labor_booking(s, "WC-PRESS", "P-B", Decimal(2), Decimal("75.00"), "payroll")
        slow.commit()
        slow.close()
        with c.read_sessions() as s:
            assert snapshots.verify(s) == []
    finally:
        c.dispose()


def test_rebuild_restores_the_snapshots_from_the_journal(central: Container) -> None:
    """``rebuild`` (what the migration's backfill does for an existing database) gives the tables the
    writer kept; emptied snapshots are found by ``verify``."""
    load(central, _master())
    with central.write_sessions() as s, s.begin():
        inputs.goods_receipt(s, "S", Decimal(10), Decimal("4.00"), "GR-1", "stores")
        inputs.labor_booking(s, "WC-PRESS", "P-B", Decimal(3), Decimal("75.00"), "payroll")
    with central.read_sessions() as s:
        kept = ledger.trial_balance(s, clock=lambda: NOW)
    with central.write_sessions() as s, s.begin():
        s.execute(delete(LedgerBalanceRow))
    with central.read_sessions() as s:
        assert any("ledger_balances" in d for d in snapshots.verify(s))
        assert ledger.trial_balance(s, clock=lambda: NOW)["lines"] == []
    with central.write_sessions() as s, s.begin():
        snapshots.rebuild(s)
    with central.read_sessions() as s:
        assert snapshots.verify(s) == []
        assert ledger.trial_balance(s, clock=lambda: NOW) == kept


def test_migration_0014_backfills_the_snapshots_of_an_existing_journal(tmp_path: Path) -> None:
    """A database at 0012 with posted lines upgrades with snapshots equal to its journal."""
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        upgrade(engine, "0012_selling_prices")
        with engine.begin() as con:
            con.execute(text("INSERT INTO periods (id, entity, start, \"end\", status) VALUES "
                             "('2026-11', NULL, '2026-11-01', '2026-11-30', 'open')"))
            for entry_id, day, entity in ((1, "2026-11-02", "E1"), (2, "2026-11-02", None), (3, "2026-11-05", "E1")):
                con.execute(text("INSERT INTO journal_entries (id, entity, period, entry_date, kind, memo, late, "
                                 "reason, created, user) VALUES (:id, :entity, '2026-11', :day, 'manual', '', 0, '', "
                                 "'2026-11-05 10:00:00', 'ctl')"), {"id": entry_id, "entity": entity, "day": day})
                for n, (account, role, debit, credit, wo, item) in enumerate((
                        ("1400", "wip", 12_345, 0, "WO-1", "S"), ("1300", "raw_materials", 0, 12_345, "WO-1", "S"),
                        ("1400", "wip", 100, 0, None, None), ("5120", "foh_control", 0, 100, None, None)), 1):
                    con.execute(text("INSERT INTO journal_lines (entry_id, line_no, account, role, debit, credit, "
                                     "work_order, item, memo) VALUES (:e, :n, :a, :r, :d, :c, :wo, :item, '')"),
                                {"e": entry_id, "n": n, "a": account, "r": role, "d": debit * entry_id,
                                 "c": credit * entry_id, "wo": wo, "item": item})
        upgrade(engine)
        with Session(engine) as s:
            assert snapshots.verify(s) == []
            assert len(s.scalars(select(LedgerDayBalanceRow)).all()) == 2 * 4 + 4  # two days of E1, one of no entity
            scan, kept = snapshots.ScanBalances(s), snapshots.SnapshotBalances(s)
            assert kept.role_balances(Role.WIP) == scan.role_balances(Role.WIP) == {
                "WO-1": Decimal("740.70"), None: Decimal("6.00")}
            assert sorted(kept.account_sums("E1", None, None, date(2026, 11, 3))) == sorted(
                scan.account_sums("E1", None, None, date(2026, 11, 3)))
    finally:
        engine.dispose()


def test_the_compactor_job_folds_what_was_posted_since_its_last_run(central: Container) -> None:
    """``serve``'s job: its first run folds every key, later runs the keys that gained rows."""
    load(central, _master())

    def post(n: int) -> None:
        for k in range(n):
            with central.write_sessions() as s, s.begin():
                inputs.labor_booking(s, "WC-PRESS", "P-B", Decimal(1 + k % 2), Decimal("75.00"), "payroll")

    job = SnapshotCompactor(central.write_sessions, interval=3600, full_every=1000)
    post(3)
    assert _snapshot_rows(central) > _snapshot_keys(central)
    assert job.run_once() and _snapshot_rows(central) == _snapshot_keys(central)
    post(2)
    assert _snapshot_rows(central) > _snapshot_keys(central)
    assert job.run_once() and _snapshot_rows(central) == _snapshot_keys(central)
    assert job.run_once() == 0 and job.state.failures == 0
    with central.read_sessions() as s:
        assert snapshots.verify(s) == []


@pytest.mark.parametrize("keys_max", [2_000, 0], ids=["open-orders-read", "every-order-read"])
def test_wip_on_a_closed_order_is_shown_not_hidden(central: Container, monkeypatch: pytest.MonkeyPatch,
                                                   keys_max: int) -> None:
    """The WIP report reads the open orders' rows (or, past ``_WIP_KEYS_MAX`` open orders, every
    order's row); WIP that a close did not settle (here a manual entry on a closed order) still
    shows, with its order's status, from the snapshots and the scan."""
    monkeypatch.setattr(reports, "_WIP_KEYS_MAX", keys_max)
    load(central, _master())
    with central.write_sessions() as s, s.begin():
        for wo in ("WO-1", "WO-2"):
            work_orders.create_order(s, "BR-100", Decimal(100), "planner", wo)
            work_orders.release(s, wo, "planner")
        work_orders.start(s, "WO-1", MACHINE, "planner", at=T0)
    ingest(central, _units(1, T0 + timedelta(minutes=1), 20, 2), 11)
    with central.write_sessions() as s, s.begin():
        work_orders.complete(s, "WO-1", "planner", at=T0 + timedelta(hours=1))
    with central.write_sessions() as s, s.begin():
        closing.close_order(s, "WO-1", "ctl", posting_date=T0.date())
    with central.read_sessions() as s:
        assert reports.wip(s) == {"rows": [], "total": "0.00"}
    with central.write_sessions() as s, s.begin():
        work_orders.start(s, "WO-2", MACHINE, "planner", at=T0 + timedelta(hours=2))
    ingest(central, _units(23, T0 + timedelta(hours=2, minutes=1), 3, 0), 3)
    with central.read_sessions() as s:
        open_wip = reports.wip(s)
        assert [(r["work_order"], r["status"]) for r in open_wip["rows"]] == [("WO-2", "started")]
        assert open_wip["total"] != "0.00" and open_wip["rows"][0]["amount"] == open_wip["total"]
    with central.write_sessions() as s, s.begin():
        entry = JournalEntry(entry_date=T0.date(), period="P-A", kind="manual", entity="E1", lines=(
            JournalLine(Role.WIP, debit=Decimal("12.34"), account="1400", tags=Tags(work_order="WO-1")),
            JournalLine(Role.ROUNDING, credit=Decimal("12.34"), account="5900")))
        save_entry(s, entry, "ctl", NOW)
    with central.read_sessions() as s:
        for source in (snapshots.SnapshotBalances(s), snapshots.ScanBalances(s)):
            wip = reports.wip(s, source=source)
            assert wip["rows"] == [{"work_order": "WO-1", "status": "closed", "amount": "12.34"},
                                   *open_wip["rows"]]
            assert Decimal(wip["total"]) == Decimal("12.34") + Decimal(open_wip["total"])
