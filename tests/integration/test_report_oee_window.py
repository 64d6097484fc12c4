"""OEE over a window longer than the machine's history, on the demo's master data (issue 16 / the
console's report: availability ~0.1 % and performance > 10,000 % on the demo).

A machine first seen one hour before "now", asked for a ten-day window: planned production time is
the observed hour minus its planned stop (not ten days), and the demo routings' ideal cycle times
match the simulated plant, so every component lies in [0, 1]; the figures are computed by hand.
Cost of quality over the same window (summed in SQL) is checked to the cent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy.orm import Session

from central.adapters.db.models_costing import DispatchRow, EventPostingRow, WorkOrderRow
from central.adapters.db.models_ingest import EventRow, EventStatus
from central.adapters.master_snapshot import snapshot
from central.bootstrap import Container
from central.domain.time_accounting import Dispatch, MachineState, StateEvent, downtime_hours, machine_intervals
from central.service_layer.costing import reports
from central.service_layer.costing.master_data import load_file

DEMO_MASTER = Path(__file__).resolve().parents[2] / "central" / "demo_master.yaml"
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)  # PRESS-1's first state event
NOW = T0 + timedelta(hours=1)


def _event(s: Session, seq: int, kind: str, ts: datetime, *, qty: int = 0, state: str | None = None,
           reason: str | None = None, work_order: str | None = "WO-1") -> None:
    row = EventRow(plant="P1", edge="edge-1", stream="s-oee", seq=seq, status=EventStatus.ACCEPTED,
                   machine="PRESS-1", kind=kind, ts=ts, received=ts, accepted_at=ts, qty=qty, state=state,
                   reason=reason, flags=[])
    s.add(row)
    s.flush()
    s.add(EventPostingRow(event_id=row.id, machine="PRESS-1", kind=kind, ts=ts, qty=qty, state=state, reason=reason,
                          work_order=None if kind == "state" else work_order, status="posted"))


def _history(central: Container) -> None:
    with central.write_sessions() as s, s.begin():
        assert load_file(s, DEMO_MASTER, "engineer")["changed"]
    with central.write_sessions() as s, s.begin():
        s.add(WorkOrderRow(id="WO-1", item="BR-100", qty=Decimal(5000), status="released", machine="PRESS-1",
                           created=T0 - timedelta(days=1), created_by="test", accruals={}))
        s.flush()
        s.add(DispatchRow(work_order="WO-1", machine="PRESS-1", start=T0, end=None, created_by="test"))
        seq = iter(range(1, 1000))
        # running 40 min, down (EQ_FAIL) 10 min, break (planned) 10 min
        _event(s, next(seq), "state", T0, state="running")
        _event(s, next(seq), "state", T0 + timedelta(minutes=40), state="down", reason="EQ_FAIL")
        _event(s, next(seq), "state", T0 + timedelta(minutes=50), state="idle", reason="BREAK")
        for i in range(19):  # 1,900 good units, 100 a batch, every 2 min of the run
            _event(s, next(seq), "count", T0 + timedelta(minutes=2 * i + 1), qty=100)
        _event(s, next(seq), "scrap", T0 + timedelta(minutes=39), qty=100, reason="BURR")
        # a unit after "now" (an edge ahead of the clock) is outside the report's span
        _event(s, next(seq), "count", NOW + timedelta(minutes=5), qty=500)


def test_oee_over_a_window_longer_than_the_history(central: Container) -> None:
    _history(central)
    w = reports.Window(T0 - timedelta(days=10), T0 + timedelta(days=1))
    with central.read_sessions() as s:
        got = reports.oee(s, w, "PRESS-1", clock=lambda: NOW)
    for key in ("availability", "performance", "quality", "oee"):
        assert Decimal(0) <= Decimal(got[key]) <= Decimal(1), (key, got[key])
    # observed 1 h - 10 min break = 50 min planned; 40 min run -> 0.8
    assert got["planned_time_h"] == "0.8333" and got["run_time_h"] == "0.6667"
    assert got["availability"] == "0.8000"
    # 2,000 units x 0.000222 h = 0.444 h ideal over 2/3 h run = 0.666
    assert got["performance"] == "0.6660"
    assert got["quality"] == "0.9500"
    assert got["oee"] == "0.5062"  # 0.8 x 0.666 x 0.95 = 0.50616
    assert (got["good"], got["scrap"]) == ("1900", "100")
    assert got["to"] == NOW.isoformat()


def test_cost_of_quality_sums_the_window_in_sql(central: Container) -> None:
    _history(central)
    with central.read_sessions() as s:
        got = reports.cost_of_quality(s, reports.Window(T0, NOW), "PRESS-1")
        before = reports.cost_of_quality(s, reports.Window(T0 - timedelta(days=1), T0), "PRESS-1")
    assert before["rows"] == [] and before["total"] == "0.00"
    assert [(r["machine"], r["reason"], r["qty"]) for r in got["rows"]] == [("PRESS-1", "BURR", "100")]
    # BR-100 per unit processed = total standard cost / (1 - 0.03) is the master data's; the amount is
    # 100 x it, normal = min(100, 0.03 x 1,900 = 57) x it
    amount = Decimal(got["rows"][0]["amount"])
    assert amount > 0 and got["total"] == got["rows"][0]["amount"]
    assert Decimal(got["normal"]) == (amount * Decimal(57) / Decimal(100)).quantize(Decimal("0.01"))
    assert Decimal(got["abnormal"]) == amount - Decimal(got["normal"])


def _full_scan_downtime_hours(central: Container, w: reports.Window) -> dict[tuple[str, str | None], Decimal]:
    """Reference: every state event of the machine from the beginning, every dispatch, then clipped."""
    with central.read_sessions() as s:
        snap = snapshot(s)
        rows = s.query(EventPostingRow).filter(EventPostingRow.machine == "PRESS-1", EventPostingRow.kind == "state",
                                               EventPostingRow.status != "suspect").all()
        events = [StateEvent(r.ts, MachineState(r.state), r.reason) for r in rows if r.state]
        dispatches = [Dispatch(d.work_order, d.machine, d.start, d.end) for d in s.query(DispatchRow).all()]
    ivs = machine_intervals("PRESS-1", events, dispatches, snap.master.downtime_reasons_by_code, NOW)
    out: dict[tuple[str, str | None], Decimal] = {}
    for h in downtime_hours(ivs, w.start, min(w.end, NOW)):
        out[(h.machine, h.reason)] = out.get((h.machine, h.reason), Decimal(0)) + h.hours
    return out


def test_window_reads_equal_a_full_scan_after_late_events_and_reattribution(central: Container) -> None:
    """The reports read the state at the window start by an index seek and only the dispatches that
    overlap the timeline; after a late state event before the window and a dispatch made after the
    fact, they still equal a scan of every event from the beginning."""
    _history(central)
    with central.write_sessions() as s, s.begin():
        # a late event arriving now, stamped before the window: the machine was down from 7:30
        _event(s, 900, "state", T0 - timedelta(minutes=30), state="down", reason="MAT_SHORT")
        # re-attribution: an order dispatched after the fact for the early part
        s.add(WorkOrderRow(id="WO-0", item="PL-200", qty=Decimal(10), status="released", machine="PRESS-1",
                           created=T0 - timedelta(days=1), created_by="test", accruals={}))
        s.flush()
        s.add(DispatchRow(work_order="WO-0", machine="PRESS-1", start=T0 - timedelta(hours=2),
                          end=T0 - timedelta(minutes=10), created_by="test"))
    for w in (reports.Window(T0 - timedelta(minutes=15), NOW), reports.Window(T0 + timedelta(minutes=45), NOW),
              reports.Window(T0 - timedelta(days=2), NOW)):
        with central.read_sessions() as s:
            got = reports.downtime(s, w, "PRESS-1", clock=lambda: NOW)
        hours: dict[tuple[str, str | None], Decimal] = {}
        for r in got["rows"]:
            key = (r["machine"], r["reason"])
            hours[key] = hours.get(key, Decimal(0)) + Decimal(r["hours"])
        expected = {k: v.quantize(Decimal("0.0001")) for k, v in _full_scan_downtime_hours(central, w).items()}
        assert hours == expected, w
    # hand-checked: from 7:45 the late MAT_SHORT stop holds until the 8:00 run; EQ_FAIL 8:40-8:50
    with central.read_sessions() as s:
        got = reports.downtime(s, reports.Window(T0 - timedelta(minutes=15), NOW), "PRESS-1", clock=lambda: NOW)
    assert {(r["reason"], r["hours"]) for r in got["rows"]} == {("MAT_SHORT", "0.2500"), ("EQ_FAIL", "0.1667")}
