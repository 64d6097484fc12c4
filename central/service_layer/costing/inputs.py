"""API inputs that post: goods receipts, material issues and returns, labour bookings, overhead
actuals. Each is one operational record and one journal entry in the request's transaction;
an input dated in a closed period is refused (409), nothing half-written.

The changes are handlers taking a command and a unit of work: the record, the order and the
period come through its repositories, its clock dates the record. The journal writer, the
period choice for a dated input and stock moves still take ``uow.session`` until they are
converted. ``goods_receipt(session, ...)`` and the other session-taking functions run the same
handlers inside a transaction the caller holds.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from typing_extensions import TypedDict

from central.adapters.db.models_costing import OpRecordRow
from central.adapters.unit_of_work import SqlAlchemyUnitOfWork
from central.domain.accruals import OrderAccruals
from central.domain.commands import BookLabour, IssueMaterial, RecordGoodsReceipt, RecordOverheadActual
from central.domain.errors import InputError, OrderStateError, PeriodError
from central.domain.ledger import Tags
from central.domain.money import format_amount, format_price, format_quantity, parse_decimal, parse_money, parse_price
from central.domain.postings import OverheadKind, post_goods_receipt, post_labor_booking, post_material_issue
from central.domain.postings import post_overhead_actual as domain_overhead
from central.errors import NotFound
from central.service_layer.costing.closing import order_entity
from central.service_layer.costing.journal import PeriodChoice, period_for_input, save_entry
from central.service_layer.costing.master_data import Snapshot
from central.service_layer.costing.stock import MoveSource, add_move, check_negative
from central.service_layer.purchasing import receive_against_line
from central.service_layer.unit_of_work import AbstractUnitOfWork

log = logging.getLogger(__name__)

__all__ = [
    "InputRecordView", "GoodsReceiptView",
    "record_goods_receipt", "issue_material", "book_labour", "record_overhead_actual",
    "goods_receipt", "material_issue", "labor_booking", "overhead_actual", "list_records", "record_view",
]


def _default_entity(snap: Snapshot, entity: str | None) -> str | None:
    ids = [e.id for e in snap.master.entities]
    if entity is not None:
        if entity not in ids:
            raise InputError(f"unknown entity {entity!r}")
        return entity
    return ids[0] if ids else None


def _record(uow: AbstractUnitOfWork, now: datetime, **fields: Any) -> OpRecordRow:
    row = OpRecordRow(created=now, **fields)
    uow.records.add(row)
    return row


def record_goods_receipt(cmd: RecordGoodsReceipt, uow: AbstractUnitOfWork) -> GoodsReceiptView:
    """Dr raw materials at standard / Cr payables at actual, price variance at receipt."""
    with uow:
        qty, unit_price = parse_decimal(cmd.qty, 6), parse_price(cmd.unit_price)
        now = uow.clock()
        snap = uow.master.snapshot()
        ctx = snap.context(_default_entity(snap, cmd.entity))
        choice = period_for_input(uow.session, snap, ctx.chart.entity, cmd.posting_date, now)
        ctx.item(cmd.item)
        if qty <= 0:
            raise InputError(f"a goods receipt needs a positive quantity, got {qty}")
        rec = _record(uow, now, kind="goods_receipt", item=cmd.item, qty=qty, price=unit_price, ref=cmd.ref,
                      period=choice.period, posting_date=choice.entry_date, user=cmd.user)
        entry = post_goods_receipt(ctx, choice.header(ctx.chart.entity, cmd.ref), cmd.item, qty, unit_price,
                                   Tags(memo=cmd.ref, refs=(f"record:{rec.id}",)))
        entry_id = save_entry(uow.session, entry, cmd.user, now, record_id=rec.id)
        add_move(uow.session, "goods_receipt", cmd.item, qty,
                 MoveSource(rec.id, choice.period, choice.entry_date, cmd.user, entry_id=entry_id, memo=cmd.ref), now)
        po_line: dict[str, Any] = {}
        if cmd.purchase_order_line is not None:  # issue 14: a receipt against a PO line (409 over tolerance)
            po_line = {"purchase_order_line": receive_against_line(uow, cmd.purchase_order_line, cmd.item, qty,
                                                                   rec.id, now)}
            rec.data = {**(rec.data or {}), **po_line}
        uow.commit()
        return GoodsReceiptView(**record_view(rec), entry=entry_id)


def issue_material(cmd: IssueMaterial, uow: AbstractUnitOfWork) -> InputRecordView:
    """Issue (or, negative, return) a component to an order at standard; negative stock alerts."""
    with uow:
        qty = parse_decimal(cmd.qty, 6)
        now = uow.clock()
        order = uow.work_orders.get(cmd.order_id)
        if order is None:
            raise NotFound(f"no work order {cmd.order_id!r}")
        if order.status == "closed":
            raise OrderStateError(f"work order {cmd.order_id} is closed: no more issues")
        snap = uow.master.snapshot()
        ctx = snap.context(order_entity(snap, order.item))
        ctx.item(cmd.item)
        choice = period_for_input(uow.session, snap, ctx.chart.entity, cmd.posting_date, now)
        rec = _record(uow, now, kind="material_issue", work_order=order.id, item=cmd.item, qty=qty,
                      period=choice.period, posting_date=choice.entry_date, user=cmd.user)
        accruals = OrderAccruals.from_data(order.accruals)
        posted = post_material_issue(ctx, choice.header(ctx.chart.entity), accruals, cmd.item, qty,
                                     Tags(refs=(f"record:{rec.id}",)))
        entry_ids = [save_entry(uow.session, entry, cmd.user, now, record_id=rec.id, work_order=order.id)
                     for entry in posted.entries]
        order.accruals = posted.accruals.to_data()
        add_move(uow.session, "material_issue", cmd.item, -qty,
                 MoveSource(rec.id, choice.period, choice.entry_date, cmd.user, order.id,
                            entry_id=entry_ids[0] if entry_ids else None), now)
        if qty > 0:  # issuing more than is on hand is allowed (production does not wait) and alerts
            check_negative(uow.session, [cmd.item], f"issue to {order.id}", {"work_order": order.id, "record": rec.id},
                           now)
        uow.commit()
        return record_view(rec)


def _period_choice(uow: AbstractUnitOfWork, period: str, now: datetime) -> PeriodChoice:
    """A period named by the input: known and open; the entry is dated today, within it."""
    row = uow.periods.get(period)
    if row is None:
        raise InputError(f"unknown period {period!r}")
    if row.status != "open":
        raise PeriodError(f"period {period} is closed")
    today = now.date()
    day = min(max(today, row.start), row.end)
    return PeriodChoice(row.id, day, False, None)


def book_labour(cmd: BookLabour, uow: AbstractUnitOfWork) -> InputRecordView:
    """Paid hours and amount from time and attendance: Dr labor_control / Cr wages_payable."""
    with uow:
        hours, amount = parse_decimal(cmd.hours, 6), parse_money(cmd.amount)
        now = uow.clock()
        if hours < 0:
            raise InputError(f"paid hours cannot be negative, got {hours}")
        snap = uow.master.snapshot()
        if cmd.work_center not in snap.master.work_centers_by_id:
            raise InputError(f"unknown work centre {cmd.work_center!r}")
        ctx = snap.context(snap.master.entity_of_work_center(cmd.work_center))
        choice = _period_choice(uow, cmd.period, now)
        rec = _record(uow, now, kind="labor_booking", work_center=cmd.work_center, period=cmd.period, qty=hours,
                      amount=amount, posting_date=choice.entry_date, user=cmd.user)
        entry = post_labor_booking(ctx, choice.header(ctx.chart.entity), cmd.work_center, amount,
                                   Tags(refs=(f"record:{rec.id}",)))
        save_entry(uow.session, entry, cmd.user, now, record_id=rec.id)
        uow.commit()
        return record_view(rec)


def record_overhead_actual(cmd: RecordOverheadActual, uow: AbstractUnitOfWork) -> InputRecordView:
    """Actual overhead from payables: Dr voh_control or foh_control / Cr overhead_payable."""
    with uow:
        amount = parse_money(cmd.amount)
        now = uow.clock()
        try:
            okind = OverheadKind(cmd.kind)
        except ValueError:
            raise InputError(f"kind must be 'variable' or 'fixed', got {cmd.kind!r}") from None
        snap = uow.master.snapshot()
        if cmd.work_center not in snap.master.work_centers_by_id:
            raise InputError(f"unknown work centre {cmd.work_center!r}")
        ctx = snap.context(snap.master.entity_of_work_center(cmd.work_center))
        choice = _period_choice(uow, cmd.period, now)
        rec = _record(uow, now, kind="overhead_actual", subkind=okind.value, work_center=cmd.work_center,
                      period=cmd.period, amount=amount, posting_date=choice.entry_date, user=cmd.user)
        entry = domain_overhead(ctx, choice.header(ctx.chart.entity), cmd.work_center, okind, amount,
                                Tags(refs=(f"record:{rec.id}",)))
        save_entry(uow.session, entry, cmd.user, now, record_id=rec.id)
        uow.commit()
        return record_view(rec)


def _text(value: Decimal | None, decimals: int | None = None) -> str | None:
    if value is None:
        return None
    return format_amount(value, decimals) if decimals is not None else str(value)


def _quantity(value: Decimal | None) -> str | None:
    return None if value is None else format_quantity(value)


def _price(value: Decimal | None) -> str | None:
    return None if value is None else format_price(value)


class InputRecordView(TypedDict):
    """A recorded input; quantities, prices and amounts are decimal strings."""

    id: int
    kind: str
    subkind: str | None
    work_order: str | None
    machine: str | None
    item: str | None
    work_center: str | None
    period: str | None
    posting_date: str | None
    qty: str | None
    unit_price: str | None
    amount: str | None
    ref: str | None
    created: str
    user: str
    data: Any


class GoodsReceiptView(InputRecordView):
    """A recorded goods receipt and the journal entry it posted."""

    entry: int


def record_view(rec: OpRecordRow) -> InputRecordView:
    """An operational record as JSON (decimals as strings)."""
    return {
        "id": rec.id, "kind": rec.kind, "subkind": rec.subkind, "work_order": rec.work_order, "machine": rec.machine,
        "item": rec.item, "work_center": rec.work_center, "period": rec.period,
        "posting_date": rec.posting_date.isoformat() if rec.posting_date else None,
        "qty": _quantity(rec.qty), "unit_price": _price(rec.price), "amount": _text(rec.amount, 2), "ref": rec.ref,
        "created": rec.created.isoformat(), "user": rec.user, "data": rec.data,
    }


def list_records(session: Session, kind: str, limit: int = 100, offset: int = 0) -> list[InputRecordView]:
    rows = session.scalars(select(OpRecordRow).where(OpRecordRow.kind == kind).order_by(OpRecordRow.id)
                           .limit(limit).offset(offset))
    return [record_view(r) for r in rows]


# The same inputs inside a transaction the caller holds (its owner commits).


def goods_receipt(
    session: Session, item: str, qty: Decimal, unit_price: Decimal, ref: str, user: str,
    posting_date: date | None = None, entity: str | None = None,
) -> GoodsReceiptView:
    return record_goods_receipt(RecordGoodsReceipt(item, qty, unit_price, ref, user, posting_date, entity),
                                SqlAlchemyUnitOfWork.joining(session))


def material_issue(
    session: Session, order_id: str, item: str, qty: Decimal, user: str, posting_date: date | None = None
) -> InputRecordView:
    return issue_material(IssueMaterial(order_id, item, qty, user, posting_date), SqlAlchemyUnitOfWork.joining(session))


def labor_booking(
    session: Session, work_center: str, period: str, hours: Decimal, amount: Decimal, user: str
) -> InputRecordView:
    return book_labour(BookLabour(work_center, period, hours, amount, user), SqlAlchemyUnitOfWork.joining(session))


def overhead_actual(
    session: Session, work_center: str, period: str, kind: str, amount: Decimal, user: str
) -> InputRecordView:
    return record_overhead_actual(RecordOverheadActual(work_center, period, kind, amount, user),
                                  SqlAlchemyUnitOfWork.joining(session))
