"""The quantity ledger: stock moves per item, written in the transaction of each posting that
moves stock, and the quantity on hand derived from them.

* goods receipt: ``+qty``; material issue ``-qty`` (a return, negative issue, ``+qty``);
* production (count / scrap events of an order): backflush ``-processed x BOM qty`` per
  ``backflush`` component and finished goods ``+good`` of the order's item, by the cumulative
  rule (:mod:`central.domain.stock`): a batch moves the cumulative quantity to date minus what
  has already moved for the order, kind and item, so batching and re-attribution (a ``stop``
  with a past ``at`` takes events back out) never change the totals;
* a journal reversal of a receipt or an issue reverses its moves (``reverses`` links them).

``item_stock.qty`` keeps the running sum per item with every move, so the negative-inventory
check is one key lookup; reports sum the moves themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, TypedDict, cast

from sqlalchemy import Select, Table, func, select
from sqlalchemy.orm import Session

from central.adapters.db.dialect import upsert_insert
from central.adapters.db.models_costing import ItemStockRow, StockMoveRow
from central.adapters.db.paging import keyset_page
from central.adapters.unit_of_work import SqlAlchemyUnitOfWork
from central.domain.errors import InputError
from central.domain.money import ZERO, format_quantity, to_unit
from central.domain.stock import BACKFLUSH, FINISHED_GOODS, MoveKey
from central.service_layer.alerts import raise_alert_in
from central.service_layer.costing.lineage import events_of

log = logging.getLogger(__name__)

__all__ = [
    "MoveSource", "add_move", "alert_negative", "increment_item_stocks", "moved_for_order", "moved_for_orders",
    "on_hand", "stored_qty", "on_hand_by_item", "check_negative",
    "reverse_moves", "list_moves", "move_view", "StockMoveView", "StockMovePage",
]


class StockMoveView(TypedDict):
    """A move as the API shows it: quantity a plain decimal string, dates ISO, lineage ids."""

    id: int
    kind: str
    item: str
    qty: str
    work_order: str | None
    machine: str | None
    period: str
    posting_date: str
    late: bool
    record: int | None
    entry: int | None
    reverses: int | None
    events: list[int]
    user: str
    created: str
    memo: str


class StockMovePage(TypedDict):
    stock_moves: list[StockMoveView]
    next: int | None


@dataclass(frozen=True)
class MoveSource:
    """Where a move comes from: the operational record, the journal entry posted with it, the
    order and machine, the posting period and date, and who caused it."""

    record_id: int | None
    period: str
    posting_date: date
    user: str
    work_order: str | None = None
    machine: str | None = None
    entry_id: int | None = None
    late: bool = False
    memo: str = ""


def add_move(
    session: Session, kind: str, item: str, qty: Decimal, source: MoveSource, now: datetime,
    reverses: int | None = None,
) -> StockMoveRow:
    """Write one move (quantity rounded half-up to 6 places) and bump the item's running on-hand."""
    qty = to_unit(qty)
    row = StockMoveRow(
        kind=kind, item=item, qty=qty, work_order=source.work_order, machine=source.machine,
        record_id=source.record_id, entry_id=source.entry_id, reverses=reverses, period=source.period,
        posting_date=source.posting_date, late=source.late, created=now, user=source.user,
        memo=source.memo,
    )
    session.add(row)
    increment_item_stock(session, item, "qty", qty, value=ZERO)
    return row


def increment_item_stock(
    session: Session, item: str, column: Literal["value", "qty"], delta: Decimal, **initial: Decimal
) -> None:
    """Add ``delta`` to ``item_stock.<column>`` of ``item`` (one upsert); a missing row is inserted
    with ``column`` = ``delta`` and the ``initial`` values of the other columns."""
    table = cast(Table, ItemStockRow.__table__)
    stmt = upsert_insert(session, ItemStockRow).values(item=item, **initial, **{column: delta})
    # the Decimal is bound through the column's type (Cents/Micros): it is scaled there, once
    session.execute(stmt.on_conflict_do_update(index_elements=["item"], set_={column: table.c[column] + delta}))


def increment_item_stocks(session: Session, deltas: Mapping[str, tuple[Decimal, Decimal]]) -> None:
    """Add ``(qty, value)`` deltas to many items' ``item_stock`` rows in one statement (an upsert
    executed for every item, in sorted order so two writers lock rows in the same order)."""
    if not deltas:
        return
    table = cast(Table, ItemStockRow.__table__)
    stmt = upsert_insert(session, ItemStockRow)
    stmt = stmt.on_conflict_do_update(index_elements=["item"], set_={
        "qty": table.c.qty + stmt.excluded.qty, "value": table.c.value + stmt.excluded.value})
    session.execute(stmt, [{"item": item, "qty": qty, "value": value} for item, (qty, value) in sorted(deltas.items())])


def on_hand(session: Session, item: str) -> Decimal:
    """Quantity on hand of ``item``: the sum of its moves (kept running in ``item_stock``)."""
    session.flush()
    row = session.get(ItemStockRow, item, populate_existing=True)
    return row.qty if row is not None and row.qty is not None else ZERO


def on_hand_by_item(session: Session) -> dict[str, Decimal]:
    """Quantity on hand of every item that ever moved, summed from the moves."""
    stmt = select(StockMoveRow.item, func.sum(StockMoveRow.qty)).group_by(StockMoveRow.item)
    return {str(item): Decimal(total or 0) for item, total in session.execute(stmt)}


def moved_for_order(session: Session, work_order: str) -> dict[MoveKey, Decimal]:
    """What production has moved so far for an order, per (kind, item): the cumulative memory."""
    stmt = select(StockMoveRow.kind, StockMoveRow.item, func.sum(StockMoveRow.qty)).where(
        StockMoveRow.work_order == work_order, StockMoveRow.kind.in_((BACKFLUSH, FINISHED_GOODS))
    ).group_by(StockMoveRow.kind, StockMoveRow.item)
    return {(str(kind), str(item)): Decimal(total or 0) for kind, item, total in session.execute(stmt)}


def moved_for_orders(session: Session, work_orders: Iterable[str]) -> dict[str, dict[MoveKey, Decimal]]:
    """:func:`moved_for_order` of many orders in one read (orders with no move map to ``{}``)."""
    wanted = sorted(set(work_orders))
    out: dict[str, dict[MoveKey, Decimal]] = {wo: {} for wo in wanted}
    for lo in range(0, len(wanted), 500):
        stmt = select(StockMoveRow.work_order, StockMoveRow.kind, StockMoveRow.item, func.sum(StockMoveRow.qty)).where(
            StockMoveRow.work_order.in_(wanted[lo:lo + 500]), StockMoveRow.kind.in_((BACKFLUSH, FINISHED_GOODS))
        ).group_by(StockMoveRow.work_order, StockMoveRow.kind, StockMoveRow.item)
        for wo, kind, item, total in session.execute(stmt):
            out[str(wo)][(str(kind), str(item))] = Decimal(total or 0)
    return out


def check_negative(
    session: Session, items: Iterable[str], cause: str, detail: Mapping[str, Any], now: datetime
) -> list[str]:
    """Raise a ``negative_inventory`` alert (one open alert per item) for each of ``items`` whose
    quantity on hand is below zero; issuing more than is on hand is allowed. Returns those items."""
    wanted = sorted(set(items))
    if not wanted:
        return []
    session.flush()
    stmt = select(ItemStockRow.item, ItemStockRow.qty).where(ItemStockRow.item.in_(wanted))
    stored = {str(item): qty for item, qty in session.execute(stmt)}  # one read for every item
    below = []
    for item in wanted:
        qty = stored.get(item)
        qty = ZERO if qty is None else qty
        if qty < 0:
            below.append(item)
            alert_negative(session, item, qty, cause, detail, now)
    return below


def stored_qty(session: Session, items: Iterable[str]) -> dict[str, Decimal]:
    """``item_stock.qty`` of ``items`` (0 for an item never moved), one read."""
    wanted = sorted(set(items))
    stored = {str(item): qty for item, qty in session.execute(
        select(ItemStockRow.item, ItemStockRow.qty).where(ItemStockRow.item.in_(wanted)))} if wanted else {}
    return {item: stored.get(item) or ZERO for item in wanted}


def alert_negative(
    session: Session, item: str, qty: Decimal, cause: str, detail: Mapping[str, Any], now: datetime
) -> None:
    """The ``negative_inventory`` alert of ``item`` (merged into its open one): ``qty`` on hand after ``cause``."""
    raise_alert_in(SqlAlchemyUnitOfWork.joining(session, lambda: now), "negative_inventory",
                   f"negative_inventory:{item}",
                   f"item {item} is below zero on hand ({qty}) after {cause}",
                   detail={"item": item, "on_hand": format_quantity(qty), "cause": cause, **detail})


def reverse_moves(session: Session, record_id: int, source: MoveSource, now: datetime) -> list[StockMoveRow]:
    """Take back every move of an operational record that is not reversed yet (journal reversal
    of a receipt or an issue); the reversing moves link the originals."""
    reversed_ids = select(StockMoveRow.reverses).where(StockMoveRow.reverses.is_not(None))
    originals = list(session.scalars(select(StockMoveRow).where(
        StockMoveRow.record_id == record_id, StockMoveRow.reverses.is_(None),
        StockMoveRow.id.not_in(reversed_ids)).order_by(StockMoveRow.id)))
    out = []
    for move in originals:
        src = MoveSource(record_id, source.period, source.posting_date, source.user, move.work_order, move.machine,
                         source.entry_id, memo=source.memo)
        out.append(add_move(session, move.kind, move.item, -move.qty, src, now, reverses=move.id))
    return out


def move_view(row: StockMoveRow, events: list[int] | None = None) -> StockMoveView:
    """A move as JSON: quantity as a plain decimal string (API.md), lineage ids."""
    return {
        "id": row.id, "kind": row.kind, "item": row.item, "qty": format_quantity(row.qty),
        "work_order": row.work_order, "machine": row.machine, "period": row.period,
        "posting_date": row.posting_date.isoformat(), "late": row.late, "record": row.record_id,
        "entry": row.entry_id, "reverses": row.reverses, "events": events or [], "user": row.user,
        "created": row.created.isoformat(), "memo": row.memo,
    }


def list_moves(
    session: Session, item: str | None = None, work_order: str | None = None, limit: int = 100,
    after: int | None = None,
) -> StockMovePage:
    """Moves oldest first, filtered; keyset paging by id (``next`` is None on the last page)."""
    if limit < 1:
        raise InputError(f"limit must be at least 1, got {limit}")
    stmt: Select[Any] = select(StockMoveRow)
    if item:
        stmt = stmt.where(StockMoveRow.item == item)
    if work_order:
        stmt = stmt.where(StockMoveRow.work_order == work_order)
    rows, next_after = keyset_page(session, stmt, StockMoveRow.id, limit, after)
    events = events_of(session, {r.record_id for r in rows if r.record_id is not None})
    return {"stock_moves": [move_view(r, events.get(r.record_id or 0)) for r in rows], "next": next_after}
