"""Set-based posting across orders: the same events over many machines (one work order each),
posted in one batch that touches every order, in batches of 7 and one event per batch, give the
same journal, stock moves, item stock, production records, event postings and quality
exceptions; backflush below zero raises the same negative-inventory alerts."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from support.central import EDGE
from support.costing import costing_container, ingest, load, window_start, worked_example_master

from central.adapters.db.models_costing import (
    EventPostingRow,
    ItemStockRow,
    JournalEntryRow,
    JournalLineRow,
    OpRecordRow,
    QualityExceptionRow,
    StockMoveRow,
)
from central.adapters.db.models_ingest import AlertRow
from central.service_layer.costing import ledger, work_orders
from shared.contract import format_ts

MACHINES = [f"M-{n}" for n in range(6)]


def _master() -> dict[str, Any]:
    doc: dict[str, Any] = worked_example_master()
    for item in doc["items"]:
        if item["id"] == "F":
            item["issue"] = "backflush"  # taken by every production posting: stock goes below zero
    doc["machines"] = [{"id": m, "work_center": "WC-PRESS", "edge": EDGE,
                        "thresholds": {"scrap_window_units": 20}} for m in MACHINES]
    return doc


def _docs(t0: datetime, per_machine: int) -> list[dict[str, Any]]:
    """Round-robin over the machines (one event each per slot), uneven quantities, scrap in bursts
    so the 20-unit window opens and clears quality exceptions, and a state event now and then."""
    docs: list[dict[str, Any]] = []
    counters: dict[tuple[str, str], int] = defaultdict(int)
    for k in range(per_machine):
        for n, machine in enumerate(MACHINES):
            ts = format_ts(t0 + timedelta(seconds=k * 10 + n))
            doc: dict[str, Any] = {"seq": len(docs) + 1, "machine": machine, "ts": ts, "rx": ts, "flags": []}
            if k % 30 == 29:
                doc |= {"kind": "state", "state": "running", "raw": {"tag": "state", "value": 1, "prev": 0}}
            else:
                kind = "scrap" if (k // 10) % 3 == n % 3 and k % 2 else "count"
                counters[(machine, kind)] += 1
                doc |= {"kind": kind, "qty": 1 + (k + n) % 3, "raw": {"tag": kind, "value": counters[(machine, kind)],
                                                                    "prev": counters[(machine, kind)] - 1}}
                if kind == "scrap":
                    doc["reason"] = "BURR"
            docs.append(doc)
    return docs


def _figures(url: str, size: int, docs: list[dict[str, Any]], t0: datetime) -> dict[str, Any]:
    c = costing_container(url)
    try:
        load(c, _master())
        with c.write_sessions() as s, s.begin():
            for n, machine in enumerate(MACHINES):
                work_orders.create_order(s, "BR-100", Decimal(10_000), "planner", f"WO-{n}")
                work_orders.release(s, f"WO-{n}", "planner")
                work_orders.start(s, f"WO-{n}", machine, "planner", at=t0)
        ingest(c, docs, size, stream=f"s-{size}")
        with c.read_sessions() as s:
            assert ledger.trial_balance(s)["balanced"]
            journal: dict[tuple[Any, ...], Decimal] = defaultdict(Decimal)
            for line, period, kind in s.execute(select(JournalLineRow, JournalEntryRow.period, JournalEntryRow.kind)
                                                .join(JournalEntryRow, JournalEntryRow.id == JournalLineRow.entry_id)):
                journal[(period, kind, line.account, line.role, line.work_order, line.item)] += line.debit - line.credit
            moves: dict[tuple[Any, ...], Decimal] = defaultdict(Decimal)
            for m in s.scalars(select(StockMoveRow)):
                moves[(m.kind, m.item, m.work_order, m.machine, m.period)] += m.qty
            records: dict[tuple[Any, ...], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0), Decimal(0)])
            for r in s.scalars(select(OpRecordRow).where(OpRecordRow.kind == "production")):
                acc = records[(r.work_order, r.machine, r.item, r.period)]
                acc[0] += r.qty or 0
                acc[1] += Decimal(r.data["scrap"])
                acc[2] += r.data["events"]
            postings = sorted((p.machine, p.ts, p.kind, p.qty, p.status, p.work_order, p.record_id is not None)
                              for p in s.scalars(select(EventPostingRow)))
            exceptions = sorted((q.machine, q.work_order, q.status, q.opened_at, q.rate, q.peak_rate, q.scrap_qty,
                                 q.window_units, str(q.reasons), q.cleared_at, q.cleared_rate)
                                for q in s.scalars(select(QualityExceptionRow)))
            stock = {i.item: (i.qty, i.value) for i in s.scalars(select(ItemStockRow))}
            alerts = sorted(a.key for a in s.scalars(select(AlertRow).where(AlertRow.kind == "negative_inventory")))
        return {"journal": {k: v for k, v in journal.items() if v}, "moves": dict(moves),
                "records": {k: tuple(v) for k, v in records.items()}, "postings": postings,
                "exceptions": exceptions, "stock": stock, "alerts": alerts}
    finally:
        c.dispose()


def _clone(url: str, tmp_path: Path, n: int) -> str:
    dst = tmp_path / f"clone{n}.db"
    dst.write_bytes(Path(url.split("sqlite:///", 1)[1]).read_bytes())
    return f"sqlite:///{dst}"


@pytest.mark.timeout(300)
def test_one_batch_over_many_orders_posts_as_one_event_per_batch(central_sqlite_url: str, tmp_path: Path) -> None:
    t0 = window_start()
    docs = _docs(t0, per_machine=60)
    urls = [_clone(central_sqlite_url, tmp_path, n) for n in range(2)] + [central_sqlite_url]
    one_batch, sevens, singles = (_figures(url, size, docs, t0) for url, size in zip(urls, (len(docs), 7, 1),
                                                                                       strict=True))
    assert one_batch["records"] and one_batch["moves"] and one_batch["journal"]
    assert len({k[0] for k in one_batch["records"]}) == len(MACHINES), "every order posted in the one batch"
    assert one_batch["exceptions"], "the scrap bursts opened quality exceptions"
    assert any(e[2] == "cleared" for e in one_batch["exceptions"]), "and cleared them"
    assert one_batch["stock"]["F"][0] < 0 and one_batch["alerts"] == ["negative_inventory:F"]
    for other in (sevens, singles):
        for key in ("journal", "moves", "postings", "exceptions", "stock", "alerts"):
            assert one_batch[key] == other[key], key
        # records: one per order per batch, so their count differs; their sums do not
        assert one_batch["records"].keys() == other["records"].keys()
        for k, v in one_batch["records"].items():
            assert v == other["records"][k], k


@pytest.mark.timeout(300)
def test_one_batch_over_many_orders_on_postgresql(central_pg_url: str, central_sqlite_url: str) -> None:
    t0 = window_start()
    docs = _docs(t0, per_machine=30)
    on_pg = _figures(central_pg_url, len(docs), docs, t0)
    singles = _figures(central_sqlite_url, 1, docs, t0)
    for key in ("journal", "moves", "postings", "exceptions", "stock", "alerts", "records"):
        assert on_pg[key] == singles[key], key
