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
from central.bootstrap import Container
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
