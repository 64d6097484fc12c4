"""Work orders and dispatch: create, release, start on a machine (optionally after the fact),
stop, complete; plus the controller's queues (unassigned events, suspect events).

Events attach by timestamp to the order dispatched to their machine at that time. A ``start``
with a past ``at`` posts the machine's unassigned events from then on; a ``stop`` with a past
``at`` takes the order's events after that time back out (a re-attribution entry, recorded
with the user) and leaves them unassigned.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.adapters.db.models_costing import (
    DispatchRow,
    EventPostingRow,
    EventPostingStatus,
    RecordEventRow,
    WorkOrderRow,
)
from central.domain.accruals import OrderAccruals
from central.domain.costing import missing_routings
from central.domain.errors import InputError, OrderStateError
from central.domain.master_data import MasterData
from central.domain.money import format_quantity, parse_decimal
from central.errors import Conflict, NotFound
from central.service_layer.costing.master_data import snapshot
from central.service_layer.costing.orders import load_order
from central.service_layer.costing.production import Pending, attach, post_to_order

log = logging.getLogger(__name__)

__all__ = [
    "create_order", "release", "start", "stop", "complete", "order_view", "get_order", "list_orders",
    "assign_event", "accept_suspect", "reject_suspect", "event_view", "list_event_postings",
]

_FUTURE_SLACK = timedelta(minutes=5)


def _now() -> datetime:
    return datetime.now(UTC)


def get_order(session: Session, order_id: str) -> WorkOrderRow:
    order = load_order(session, order_id)
    if order is None:
        raise NotFound(f"no work order {order_id!r}")
    return order


def create_order(
    session: Session, item: str, qty: Decimal, user: str, order_id: str | None = None, due: date | None = None
) -> WorkOrderRow:
    qty = parse_decimal(qty, 6)
    if qty <= 0:
        raise InputError(f"a work order needs a positive quantity, got {qty}")
    snap = snapshot(session)
    known = snap.master.items_by_id.get(item)
    if known is None:
        raise InputError(f"unknown item {item!r}")
    if not known.manufactured:
        raise InputError(f"item {item!r} is a raw item: it is bought, not manufactured")
    _require_routings(snap.master, item, "order")
    order_id = order_id or f"WO-{uuid.uuid4().hex[:10].upper()}"
    if session.get(WorkOrderRow, order_id) is not None:
        raise Conflict(f"work order {order_id} exists", code="duplicate")
    row = WorkOrderRow(id=order_id, item=item, qty=qty, due=due, status="created", created=_now(), created_by=user,
                       accruals=OrderAccruals(order_id, item).to_data())
    session.add(row)
    session.flush()
    return row


def _require(order: WorkOrderRow, allowed: tuple[str, ...], action: str) -> None:
    if order.status not in allowed:
        raise OrderStateError(f"work order {order.id} is {order.status}: cannot {action}")


def _require_routings(master: MasterData, item: str, action: str) -> None:
    """409 ``routing_missing`` naming each routing that ``item``'s standard cost still needs."""
    missing = missing_routings(master, item)
    if missing:
        named = ", ".join(repr(m) for m in missing)
        raise Conflict(f"cannot {action} {item!r}: no routing for {named} yet (create it with POST /routings)",
                       code="routing_missing")


def release(session: Session, order_id: str, user: str) -> WorkOrderRow:
    order = get_order(session, order_id)
    _require(order, ("created",), "release")
    _require_routings(snapshot(session).master, order.item, "release a work order for")
    order.status, order.released_at = "released", _now()
    return order


def _at(at: datetime | None) -> datetime:
    now = _now()
    if at is None:
        return now
    if at.tzinfo is None:
        raise InputError("'at' needs a time zone (e.g. 2026-11-25T08:00:00Z)")
    if at > now + _FUTURE_SLACK:
        raise InputError(f"'at' is in the future: {at.isoformat()}")
    return at.astimezone(UTC)


def start(session: Session, order_id: str, machine: str, user: str, at: datetime | None = None) -> WorkOrderRow:
    """Dispatch the order to ``machine`` from ``at`` (default now) and post events it covers."""
    order = get_order(session, order_id)
    _require(order, ("released", "stopped"), "start")
    when = _at(at)
    snap = snapshot(session)
    known = snap.master.machines_by_id.get(machine)
    if known is None:
        raise InputError(f"unknown machine {machine!r}")
    _require_routings(snap.master, order.item, "start a work order for")
    routing = snap.master.routing(order.item)
    if known.work_center != routing.work_center:
        raise InputError(
            f"machine {machine} is in {known.work_center}; {order.item} is routed to {routing.work_center}"
        )
    busy = session.scalars(select(DispatchRow).where(
        DispatchRow.machine == machine, (DispatchRow.end.is_(None)) | (DispatchRow.end > when))).first()
    if busy is not None:
        raise Conflict(f"machine {machine} runs work order {busy.work_order} from {busy.start.isoformat()}",
                       code="machine_busy")
    session.add(DispatchRow(work_order=order.id, machine=machine, start=when, created_by=user))
    order.status, order.machine, order.started_at = "started", machine, order.started_at or when
    session.flush()
    waiting = list(session.scalars(select(EventPostingRow).where(
        EventPostingRow.machine == machine, EventPostingRow.status == EventPostingStatus.UNASSIGNED,
        EventPostingRow.ts >= when).order_by(EventPostingRow.ts)))
    if waiting:
        _attach_rows(session, waiting, user, f"dispatch after the fact: {order.id} from {when.isoformat()}")
        log.info("start of %s at %s attached %d waiting events", order.id, when, len(waiting))
    return order


def _pending(row: EventPostingRow) -> Pending:
    return Pending(row.event_id, row.machine, row.kind, row.ts, row.qty, row.reason)


def _attach_rows(session: Session, rows: list[EventPostingRow], user: str, memo: str) -> None:
    snap = snapshot(session)
    done = attach(session, snap, [_pending(r) for r in rows], user, memo, link=True)
    for r in rows:
        a = done.get(r.event_id)
        if a is not None:
            r.status, r.work_order, r.record_id, r.late = EventPostingStatus.POSTED, a.work_order, a.record_id, a.late
        else:
            r.status = EventPostingStatus.UNASSIGNED


def stop(session: Session, order_id: str, user: str, at: datetime | None = None) -> WorkOrderRow:
    """End the order's dispatch at ``at`` (default now); events after a past ``at`` leave it."""
    order = get_order(session, order_id)
    _require(order, ("started",), "stop")
    _end_dispatch(session, order, user, _at(at))
    order.status, order.stopped_at = "stopped", _now()
    return order


def _end_dispatch(session: Session, order: WorkOrderRow, user: str, when: datetime) -> None:
    dispatch = session.scalars(select(DispatchRow).where(
        DispatchRow.work_order == order.id, DispatchRow.end.is_(None))).first()
    if dispatch is None:
        return
    if when < dispatch.start:
        raise InputError(f"'at' {when.isoformat()} is before the dispatch started ({dispatch.start.isoformat()})")
    dispatch.end = when
    moved = list(session.scalars(select(EventPostingRow).where(
        EventPostingRow.work_order == order.id, EventPostingRow.machine == dispatch.machine,
        EventPostingRow.status == EventPostingStatus.POSTED, EventPostingRow.ts >= when)))
    if moved:
        snap = snapshot(session)
        memo = f"re-attributed: {order.id} stopped at {when.isoformat()}"
        post_to_order(session, snap, order, [_pending(r) for r in moved], user, memo, sign=-1, link=True)
        _keep_lineage(session, moved)
        for r in moved:
            r.status, r.work_order, r.record_id = EventPostingStatus.UNASSIGNED, None, None
        log.info("%s: %d events re-attributed (stop at %s by %s)", order.id, len(moved), when, user)


def _keep_lineage(session: Session, rows: list[EventPostingRow]) -> None:
    """Before an event leaves its production record, write the record -> event link explicitly."""
    pairs = {(r.record_id, r.event_id) for r in rows if r.record_id is not None}
    if not pairs:
        return
    existing = set(session.execute(select(RecordEventRow.record_id, RecordEventRow.event_id).where(
        RecordEventRow.event_id.in_([e for _, e in pairs]))).tuples().all())
    session.add_all(RecordEventRow(record_id=rec, event_id=ev) for rec, ev in pairs - existing)


def complete(session: Session, order_id: str, user: str, at: datetime | None = None) -> WorkOrderRow:
    order = get_order(session, order_id)
    _require(order, ("started", "stopped"), "complete")
    _end_dispatch(session, order, user, _at(at))
    order.status, order.completed_at = "completed", _now()
    return order


def order_view(order: WorkOrderRow) -> dict[str, Any]:
    acc = OrderAccruals.from_data(order.accruals)

    def ts(v: datetime | None) -> str | None:
        return v.isoformat() if v else None

    return {
        "id": order.id, "item": order.item, "qty": format_quantity(order.qty),
        "planned_qty": format_quantity(order.qty),
        "due": order.due.isoformat() if order.due else None, "status": order.status, "machine": order.machine,
        "good_qty": format_quantity(acc.good_qty), "scrap_qty": format_quantity(acc.scrap_qty),
        "created": ts(order.created),
        "released_at": ts(order.released_at), "started_at": ts(order.started_at), "stopped_at": ts(order.stopped_at),
        "completed_at": ts(order.completed_at), "closed_at": ts(order.closed_at),
    }


def list_orders(session: Session, status: str | None, limit: int, offset: int) -> list[dict[str, Any]]:
    stmt = select(WorkOrderRow).order_by(WorkOrderRow.created, WorkOrderRow.id).limit(limit).offset(offset)
    if status:
        stmt = stmt.where(WorkOrderRow.status == status)
    return [order_view(o) for o in session.scalars(stmt)]


def _posting(session: Session, event_id: int, status: str) -> EventPostingRow:
    row = session.get(EventPostingRow, event_id)
    if row is None or row.status != status:
        raise NotFound(f"no {status} event {event_id}")
    return row


def assign_event(session: Session, event_id: int, order_id: str, user: str) -> EventPostingRow:
    """A controller assigns an unassigned count/scrap event to an order: it posts now."""
    row = _posting(session, event_id, EventPostingStatus.UNASSIGNED)
    order = get_order(session, order_id)
    snap = snapshot(session)
    done = post_to_order(session, snap, order, [_pending(row)], user, f"assigned by {user}", link=True)
    a = done[row.event_id]
    row.status, row.work_order, row.record_id, row.late, row.decided_by = (
        EventPostingStatus.POSTED, a.work_order, a.record_id, a.late, user)
    return row


def accept_suspect(session: Session, event_id: int, user: str) -> EventPostingRow:
    """Release a held suspect event: it posts like any event (or waits unassigned)."""
    row = _posting(session, event_id, EventPostingStatus.SUSPECT)
    row.decided_by = user
    if row.kind == "state" or row.qty == 0:
        row.status = EventPostingStatus.OPERATIONAL
        return row
    row.status = EventPostingStatus.UNASSIGNED
    _attach_rows(session, [row], user, f"suspect event accepted by {user}")
    return row


def reject_suspect(session: Session, event_id: int, user: str) -> EventPostingRow:
    row = _posting(session, event_id, EventPostingStatus.SUSPECT)
    row.status, row.decided_by = EventPostingStatus.REJECTED, user
    return row


def event_view(row: EventPostingRow) -> dict[str, Any]:
    return {
        "id": row.event_id, "machine": row.machine, "kind": row.kind, "ts": row.ts.isoformat(), "qty": row.qty,
        "state": row.state, "reason": row.reason, "status": row.status, "work_order": row.work_order,
        "record": row.record_id, "late": row.late, "decided_by": row.decided_by, "hold_reason": row.hold_reason,
    }


def list_event_postings(session: Session, status: str, limit: int, offset: int) -> list[dict[str, Any]]:
    stmt = select(EventPostingRow).where(EventPostingRow.status == status).order_by(
        EventPostingRow.ts, EventPostingRow.event_id).limit(limit).offset(offset)
    return [event_view(r) for r in session.scalars(stmt)]


def record_event_ids(session: Session, record_id: int) -> list[int]:
    return list(session.scalars(select(RecordEventRow.event_id).where(RecordEventRow.record_id == record_id)))
