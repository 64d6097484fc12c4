"""API inputs that post: goods receipts, material issues and returns, labour bookings, overhead
actuals. Each is one operational record and one journal entry in the request's transaction;
an input dated in a closed period is refused (409), nothing half-written."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.adapters.db.models_costing import OpRecordRow, PeriodRow
from central.domain.accruals import OrderAccruals
from central.domain.errors import InputError, OrderStateError, PeriodError
from central.domain.ledger import Tags
from central.domain.money import format_amount, format_price, format_quantity, parse_decimal, parse_money, parse_price
from central.domain.postings import OverheadKind, post_goods_receipt, post_labor_booking, post_material_issue
from central.domain.postings import post_overhead_actual as domain_overhead
from central.errors import NotFound
from central.service_layer.costing.closing import order_entity
from central.service_layer.costing.journal import PeriodChoice, period_for_input, save_entry
from central.service_layer.costing.master_data import Snapshot, snapshot
from central.service_layer.costing.orders import load_order
from central.service_layer.costing.stock import MoveSource, add_move, check_negative

log = logging.getLogger(__name__)

__all__ = ["goods_receipt", "material_issue", "labor_booking", "overhead_actual", "list_records", "record_view"]


def _default_entity(snap: Snapshot, entity: str | None) -> str | None:
    ids = [e.id for e in snap.master.entities]
    if entity is not None:
        if entity not in ids:
            raise InputError(f"unknown entity {entity!r}")
        return entity
    return ids[0] if ids else None


def _record(session: Session, **fields: Any) -> OpRecordRow:
    row = OpRecordRow(created=datetime.now(UTC), **fields)
    session.add(row)
    session.flush()
    return row


def goods_receipt(
    session: Session, item: str, qty: Decimal, unit_price: Decimal, ref: str, user: str,
    posting_date: date | None = None, entity: str | None = None,
) -> dict[str, Any]:
    """Dr raw materials at standard / Cr payables at actual, price variance at receipt."""
    qty, unit_price = parse_decimal(qty, 6), parse_price(unit_price)
    snap = snapshot(session)
    ctx = snap.context(_default_entity(snap, entity))
    choice = period_for_input(session, snap, ctx.chart.entity, posting_date)
    ctx.item(item)
    if qty <= 0:
        raise InputError(f"a goods receipt needs a positive quantity, got {qty}")
    rec = _record(session, kind="goods_receipt", item=item, qty=qty, price=unit_price, ref=ref,
                  period=choice.period, posting_date=choice.entry_date, user=user)
    entry = post_goods_receipt(ctx, choice.header(ctx.chart.entity, ref), item, qty, unit_price,
                               Tags(memo=ref, refs=(f"record:{rec.id}",)))
    row = save_entry(session, entry, user, rec.id)
    add_move(session, "goods_receipt", item, qty,
             MoveSource(rec.id, choice.period, choice.entry_date, user, entry_id=row.id, memo=ref))
    return record_view(rec) | {"entry": row.id}


def material_issue(
    session: Session, order_id: str, item: str, qty: Decimal, user: str, posting_date: date | None = None
) -> dict[str, Any]:
    """Issue (or, negative, return) a component to an order at standard; negative stock alerts."""
    qty = parse_decimal(qty, 6)
    order = load_order(session, order_id)
    if order is None:
        raise NotFound(f"no work order {order_id!r}")
    if order.status == "closed":
        raise OrderStateError(f"work order {order_id} is closed: no more issues")
    snap = snapshot(session)
    ctx = snap.context(order_entity(snap, order.item))
    ctx.item(item)
    choice = period_for_input(session, snap, ctx.chart.entity, posting_date)
    rec = _record(session, kind="material_issue", work_order=order.id, item=item, qty=qty, period=choice.period,
                  posting_date=choice.entry_date, user=user)
    accruals = OrderAccruals.from_data(order.accruals)
    posted = post_material_issue(ctx, choice.header(ctx.chart.entity), accruals, item, qty,
                                 Tags(refs=(f"record:{rec.id}",)))
    rows = [save_entry(session, entry, user, rec.id, order.id) for entry in posted.entries]
    order.accruals = posted.accruals.to_data()
    add_move(session, "material_issue", item, -qty,
             MoveSource(rec.id, choice.period, choice.entry_date, user, order.id,
                        entry_id=rows[0].id if rows else None))
    if qty > 0:  # issuing more than is on hand is allowed (production does not wait) and alerts
        check_negative(session, [item], f"issue to {order.id}", {"work_order": order.id, "record": rec.id})
    return record_view(rec)


def _period_choice(session: Session, snap: Snapshot, entity: str | None, period: str) -> PeriodChoice:
    row = session.get(PeriodRow, period)
    if row is None:
        raise InputError(f"unknown period {period!r}")
    if row.status != "open":
        raise PeriodError(f"period {period} is closed")
    today = datetime.now(UTC).date()
    day = min(max(today, row.start), row.end)
    return PeriodChoice(row.id, day, False, None)


def labor_booking(
    session: Session, work_center: str, period: str, hours: Decimal, amount: Decimal, user: str
) -> dict[str, Any]:
    """Paid hours and amount from time and attendance: Dr labor_control / Cr wages_payable."""
    hours, amount = parse_decimal(hours, 6), parse_money(amount)
    if hours < 0:
        raise InputError(f"paid hours cannot be negative, got {hours}")
    snap = snapshot(session)
    if work_center not in snap.master.work_centers_by_id:
        raise InputError(f"unknown work centre {work_center!r}")
    ctx = snap.context(snap.master.entity_of_work_center(work_center))
    choice = _period_choice(session, snap, ctx.chart.entity, period)
    rec = _record(session, kind="labor_booking", work_center=work_center, period=period, qty=hours, amount=amount,
                  posting_date=choice.entry_date, user=user)
    entry = post_labor_booking(ctx, choice.header(ctx.chart.entity), work_center, amount,
                               Tags(refs=(f"record:{rec.id}",)))
    save_entry(session, entry, user, rec.id)
    return record_view(rec)


def overhead_actual(
    session: Session, work_center: str, period: str, kind: str, amount: Decimal, user: str
) -> dict[str, Any]:
    """Actual overhead from payables: Dr voh_control or foh_control / Cr overhead_payable."""
    amount = parse_money(amount)
    try:
        okind = OverheadKind(kind)
    except ValueError:
        raise InputError(f"kind must be 'variable' or 'fixed', got {kind!r}") from None
    snap = snapshot(session)
    if work_center not in snap.master.work_centers_by_id:
        raise InputError(f"unknown work centre {work_center!r}")
    ctx = snap.context(snap.master.entity_of_work_center(work_center))
    choice = _period_choice(session, snap, ctx.chart.entity, period)
    rec = _record(session, kind="overhead_actual", subkind=okind.value, work_center=work_center, period=period,
                  amount=amount, posting_date=choice.entry_date, user=user)
    entry = domain_overhead(ctx, choice.header(ctx.chart.entity), work_center, okind, amount,
                            Tags(refs=(f"record:{rec.id}",)))
    save_entry(session, entry, user, rec.id)
    return record_view(rec)


def _text(value: Decimal | None, decimals: int | None = None) -> str | None:
    if value is None:
        return None
    return format_amount(value, decimals) if decimals is not None else str(value)


def _quantity(value: Decimal | None) -> str | None:
    return None if value is None else format_quantity(value)


def _price(value: Decimal | None) -> str | None:
    return None if value is None else format_price(value)


def record_view(rec: OpRecordRow) -> dict[str, Any]:
    """An operational record as JSON (decimals as strings)."""
    return {
        "id": rec.id, "kind": rec.kind, "subkind": rec.subkind, "work_order": rec.work_order, "machine": rec.machine,
        "item": rec.item, "work_center": rec.work_center, "period": rec.period,
        "posting_date": rec.posting_date.isoformat() if rec.posting_date else None,
        "qty": _quantity(rec.qty), "unit_price": _price(rec.price), "amount": _text(rec.amount, 2), "ref": rec.ref,
        "created": rec.created.isoformat(), "user": rec.user, "data": rec.data,
    }


def list_records(session: Session, kind: str, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    rows = session.scalars(select(OpRecordRow).where(OpRecordRow.kind == kind).order_by(OpRecordRow.id)
                           .limit(limit).offset(offset))
    return [record_view(r) for r in rows]
