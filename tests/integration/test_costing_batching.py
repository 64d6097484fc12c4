"""The ledger never depends on batching: the same events in batches of 1, 7 and 500 give the same
ledger to the cent, with an FOH rate that does not divide evenly (1,000 / 30 per hour) — through
production, order close and period close."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from support.costing import (
    MACHINE,
    costing_container,
    ingest,
    load,
    period_id,
    timeline,
    window_start,
    wire_events,
    worked_example_master,
)

from central.adapters.db.models_costing import JournalEntryRow, JournalLineRow
from central.service_layer.costing import closing, inputs, ledger, work_orders


def _ledger(url: str, size: int, docs: list[dict[str, Any]], t0: Any) -> dict[tuple[str, ...], Decimal]:
    c = costing_container(url)
    try:
        load(c, worked_example_master(foh_budget="1000.00", normal_hours="30"))
        with c.write_sessions() as s, s.begin():
            work_orders.create_order(s, "BR-100", Decimal(500), "planner", "WO-B")
            work_orders.release(s, "WO-B", "planner")
            work_orders.start(s, "WO-B", MACHINE, "planner", at=t0)
            inputs.material_issue(s, "WO-B", "S", Decimal("700.5"), "op")
            inputs.labor_booking(s, "WC-PRESS", period_id(), Decimal("37.5"), Decimal("1001.11"), "ctl")
            inputs.overhead_actual(s, "WC-PRESS", period_id(), "fixed", Decimal("999.99"), "ctl")
        ingest(c, docs, size, stream=f"s-{size}")
        with c.write_sessions() as s, s.begin():
            work_orders.complete(s, "WO-B", "planner", at=t0 + timedelta(hours=40))
        with c.write_sessions() as s, s.begin():
            closing.close_order(s, "WO-B", "ctl")
        with c.write_sessions() as s, s.begin():
            closing.close_period(s, period_id(), "ctl")
        out: dict[tuple[str, ...], Decimal] = defaultdict(Decimal)
        with c.read_sessions() as s:
            rows = s.execute(select(JournalLineRow, JournalEntryRow.period).join(
                JournalEntryRow, JournalEntryRow.id == JournalLineRow.entry_id)).all()
            for line, period in rows:
                key = (period, line.account, line.role, line.work_order or "", line.item or "",
                       line.work_center or "", line.reason or "")
                out[key] += line.debit - line.credit
            assert ledger.trial_balance(s)["balanced"]
        return {k: v for k, v in out.items() if v != 0}
    finally:
        c.dispose()


@pytest.mark.timeout(300)
def test_batches_of_1_7_500_give_the_same_ledger(central_sqlite_url: str, tmp_path: Any) -> None:
    t0 = window_start()
    events = timeline(t0, good=397, scrap=19)
    for n, e in enumerate(events):  # uneven quantities: 1..3 units per event
        if e["kind"] == "count":
            e["qty"] = 1 + n % 3
    docs = wire_events(events)
    urls = [central_sqlite_url, _clone(central_sqlite_url, tmp_path, 1), _clone(central_sqlite_url, tmp_path, 2)]
    ledgers = [_ledger(url, size, docs, t0) for url, size in zip(urls, (1, 7, 500), strict=True)]
    assert ledgers[0] == ledgers[1] == ledgers[2]
    fg = sum((v for k, v in ledgers[0].items() if k[2] == "finished_goods"), Decimal(0))
    assert fg > 0 and fg == fg.quantize(Decimal("0.01"))
    foh_applied = [v for k, v in ledgers[0].items() if k[2] == "foh_volume_variance"]
    assert foh_applied, "the FOH volume variance posted"
    # control accounts and WIP are zero after both closes, even with a rate of 33.333333/h
    for role in ("wip", "labor_control", "voh_control", "foh_control"):
        assert sum((v for k, v in ledgers[0].items() if k[2] == role), Decimal(0)) == 0, role


def _clone(url: str, tmp_path: Any, n: int) -> str:
    """A fresh copy of the migrated template database behind ``url``."""
    src = url.split("sqlite:///", 1)[1]
    dst = tmp_path / f"clone{n}.db"
    with open(src, "rb") as fin:
        dst.write_bytes(fin.read())
    return f"sqlite:///{dst}"
