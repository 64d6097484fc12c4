"""Work orders and dispatch: create, release, start on a machine (optionally after the fact),
stop, complete; plus the controller's queues (unassigned events, suspect events).

Events attach by timestamp to the order dispatched to their machine at that time. A ``start``
with a past ``at`` posts the machine's unassigned events from then on; a ``stop`` with a past
``at`` takes the order's events after that time back out (a re-attribution entry, recorded
with the user) and leaves them unassigned.

The changes are handlers: ``handler(command, uow)`` loads through the unit of work's
repositories, takes the time from ``uow.clock``, and commits once. Posting the events a start,
stop or assignment moves still goes through :mod:`~central.service_layer.costing.production`
with ``uow.session`` until that module takes a unit of work too. The session-taking functions
below the handlers (``create_order(session, ...)``, ...) are kept for callers that already hold
a transaction (tests, scripts): each runs its handler in that transaction.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TypedDict

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.adapters.db.models_costing import (
    DispatchRow,
    EventPostingRow,
    EventPostingStatus,
    RecordEventRow,
    WorkOrderRow,
)
from central.adapters.unit_of_work import SqlAlchemyUnitOfWork
from central.domain.accruals import OrderAccruals
from central.domain.commands import (
    AcceptSuspectEvent,
    AssignEvent,
    CompleteWorkOrder,
    CreateWorkOrder,
    RejectSuspectEvent,
    ReleaseWorkOrder,
    StartWorkOrder,
    StopWorkOrder,
)
from central.domain.costing import missing_routings
from central.domain.errors import InputError, OrderStateError
from central.domain.master_data import MasterData
from central.domain.money import format_quantity, parse_decimal
from central.errors import Conflict, NotFound
from central.service_layer.costing.lineage import keep_links
from central.service_layer.costing.orders import load_order
from central.service_layer.costing.production import Pending, attach, post_to_order
from central.service_layer.unit_of_work import AbstractUnitOfWork

log = logging.getLogger(__name__)

__all__ = [
    "create_work_order", "release_work_order", "start_work_order", "stop_work_order", "complete_work_order",
    "assign_event_to_order", "accept_suspect_event", "reject_suspect_event",
    "create_order", "release", "start", "stop", "complete", "order_view", "get_order", "list_orders",
    "assign_event", "accept_suspect", "reject_suspect", "event_view", "list_event_postings",
    "WorkOrderView", "EventPostingView",
]

_FUTURE_SLACK = timedelta(minutes=5)


def get_order(session: Session, order_id: str) -> WorkOrderRow:
    order = load_order(session, order_id)
    if order is None:
        raise NotFound(f"no work order {order_id!r}")
    return order


def _order(uow: AbstractUnitOfWork, order_id: str) -> WorkOrderRow:
    order = uow.work_orders.get(order_id)
    if order is None:
        raise NotFound(f"no work order {order_id!r}")
    return order


def create_work_order(cmd: CreateWorkOrder, uow: AbstractUnitOfWork) -> WorkOrderRow:
    with uow:
        qty = parse_decimal(cmd.qty, 6)
        if qty <= 0:
            raise InputError(f"a work order needs a positive quantity, got {qty}")
        master = uow.master.snapshot().master
        known = master.items_by_id.get(cmd.item)
        if known is None:
            raise InputError(f"unknown item {cmd.item!r}")
        if not known.manufactured:
            raise InputError(f"item {cmd.item!r} is a raw item: it is bought, not manufactured")
        _require_routings(master, cmd.item, "order")
        order_id = cmd.order_id or f"WO-{uuid.uuid4().hex[:10].upper()}"
        if uow.work_orders.get(order_id, lock=False) is not None:
            raise Conflict(f"work order {order_id} exists", code="duplicate")
        row = WorkOrderRow(id=order_id, item=cmd.item, qty=qty, due=cmd.due, status="created", created=uow.clock(),
                           created_by=cmd.user, accruals=OrderAccruals(order_id, cmd.item).to_data())
        uow.work_orders.add(row)
        uow.commit()
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


def release_work_order(cmd: ReleaseWorkOrder, uow: AbstractUnitOfWork) -> WorkOrderRow:
    with uow:
        order = _order(uow, cmd.order_id)
        _require(order, ("created",), "release")
        _require_routings(uow.master.snapshot().master, order.item, "release a work order for")
        order.status, order.released_at = "released", uow.clock()
        uow.commit()
        return order


def _at(uow: AbstractUnitOfWork, at: datetime | None) -> datetime:
    now = uow.clock()
    if at is None:
        return now
    if at.tzinfo is None:
        raise InputError("'at' needs a time zone (e.g. 2026-11-25T08:00:00Z)")
    if at > now + _FUTURE_SLACK:
        raise InputError(f"'at' is in the future: {at.isoformat()}")
    return at.astimezone(UTC)


def start_work_order(cmd: StartWorkOrder, uow: AbstractUnitOfWork) -> WorkOrderRow:
    """Dispatch the order to the machine from ``at`` (default now) and post events it covers."""
    with uow:
        order = _order(uow, cmd.order_id)
        _require(order, ("released", "stopped"), "start")
        when = _at(uow, cmd.at)
        master = uow.master.snapshot().master
        known = master.machines_by_id.get(cmd.machine)
        if known is None:
            raise InputError(f"unknown machine {cmd.machine!r}")
        _require_routings(master, order.item, "start a work order for")
        routing = master.routing(order.item)
        if known.work_center != routing.work_center:
            raise InputError(
                f"machine {cmd.machine} is in {known.work_center}; {order.item} is routed to {routing.work_center}"
            )
        busy = uow.dispatches.running_on(cmd.machine, when)
        if busy is not None:
            raise Conflict(f"machine {cmd.machine} runs work order {busy.work_order} from {busy.start.isoformat()}",
                           code="machine_busy")
        order.status, order.machine, order.started_at = "started", cmd.machine, order.started_at or when
        uow.dispatches.add(DispatchRow(work_order=order.id, machine=cmd.machine, start=when, created_by=cmd.user))
        waiting = uow.event_postings.unassigned_since(cmd.machine, when)
        if waiting:
            _attach_rows(uow, waiting, cmd.user, f"dispatch after the fact: {order.id} from {when.isoformat()}")
            log.info("start of %s at %s attached %d waiting events", order.id, when, len(waiting))
        uow.commit()
        return order


def _pending(row: EventPostingRow) -> Pending:
    return Pending(row.event_id, row.machine, row.kind, row.ts, row.qty, row.reason)


def _attach_rows(uow: AbstractUnitOfWork, rows: list[EventPostingRow], user: str, memo: str) -> None:
    snap = uow.master.snapshot()
    done = attach(uow.session, snap, [_pending(r) for r in rows], user, memo, uow.clock(), link=True)
    for r in rows:
        a = done.get(r.event_id)
        if a is not None:
            r.status, r.work_order, r.record_id, r.late = EventPostingStatus.POSTED, a.work_order, a.record_id, a.late
        else:
            r.status = EventPostingStatus.UNASSIGNED


def stop_work_order(cmd: StopWorkOrder, uow: AbstractUnitOfWork) -> WorkOrderRow:
    """End the order's dispatch at ``at`` (default now); events after a past ``at`` leave it."""
    with uow:
        order = _order(uow, cmd.order_id)
        _require(order, ("started",), "stop")
        _end_dispatch(uow, order, cmd.user, _at(uow, cmd.at))
        order.status, order.stopped_at = "stopped", uow.clock()
        uow.commit()
        return order


def _end_dispatch(uow: AbstractUnitOfWork, order: WorkOrderRow, user: str, when: datetime) -> None:
    dispatch = uow.dispatches.open_for(order.id)
    if dispatch is None:
        return
    if when < dispatch.start:
        raise InputError(f"'at' {when.isoformat()} is before the dispatch started ({dispatch.start.isoformat()})")
    dispatch.end = when
    moved = uow.event_postings.posted_since(order.id, dispatch.machine, when)
    if moved:
        snap = uow.master.snapshot()
        memo = f"re-attributed: {order.id} stopped at {when.isoformat()}"
        post_to_order(uow.session, snap, order, [_pending(r) for r in moved], user, memo, uow.clock(), sign=-1,
                      link=True)
        keep_links(uow.session, moved)
        for r in moved:
            r.status, r.work_order, r.record_id = EventPostingStatus.UNASSIGNED, None, None
        log.info("%s: %d events re-attributed (stop at %s by %s)", order.id, len(moved), when, user)


def complete_work_order(cmd: CompleteWorkOrder, uow: AbstractUnitOfWork) -> WorkOrderRow:
    with uow:
        order = _order(uow, cmd.order_id)
        _require(order, ("started", "stopped"), "complete")
        _end_dispatch(uow, order, cmd.user, _at(uow, cmd.at))
        order.status, order.completed_at = "completed", uow.clock()
        uow.commit()
        return order


class WorkOrderView(TypedDict):
    """A work order as the API shows it: quantities plain decimal strings, times ISO."""

    id: str
    item: str
    qty: str
    planned_qty: str
    due: str | None
    status: str
    machine: str | None
    good_qty: str
    scrap_qty: str
    created: str | None
    released_at: str | None
    started_at: str | None
    stopped_at: str | None
    completed_at: str | None
    closed_at: str | None


class EventPostingView(TypedDict):
    """A machine event as costing holds it (unassigned, suspect, posted, ...)."""

    id: int
    machine: str
    kind: str
    ts: str
    qty: int
    state: str | None
    reason: str | None
    status: str
    work_order: str | None
    record: int | None
    late: bool
    decided_by: str | None
    hold_reason: str | None


def order_view(order: WorkOrderRow) -> WorkOrderView:
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


def list_orders(session: Session, status: str | None, limit: int, offset: int) -> list[WorkOrderView]:
    stmt = select(WorkOrderRow).order_by(WorkOrderRow.created, WorkOrderRow.id).limit(limit).offset(offset)
    if status:
        stmt = stmt.where(WorkOrderRow.status == status)
    return [order_view(o) for o in session.scalars(stmt)]


def _posting(uow: AbstractUnitOfWork, event_id: int, status: str) -> EventPostingRow:
    row = uow.event_postings.get(event_id)
    if row is None or row.status != status:
        raise NotFound(f"no {status} event {event_id}")
    return row


def assign_event_to_order(cmd: AssignEvent, uow: AbstractUnitOfWork) -> EventPostingRow:
    """A controller assigns an unassigned count/scrap event to an order: it posts now."""
    with uow:
        row = _posting(uow, cmd.event_id, EventPostingStatus.UNASSIGNED)
        order = _order(uow, cmd.order_id)
        snap = uow.master.snapshot()
        done = post_to_order(uow.session, snap, order, [_pending(row)], cmd.user, f"assigned by {cmd.user}",
                             uow.clock(), link=True)
        a = done[row.event_id]
        row.status, row.work_order, row.record_id, row.late, row.decided_by = (
            EventPostingStatus.POSTED, a.work_order, a.record_id, a.late, cmd.user)
        uow.commit()
        return row


def accept_suspect_event(cmd: AcceptSuspectEvent, uow: AbstractUnitOfWork) -> EventPostingRow:
    """Release a held suspect event: it posts like any event (or waits unassigned)."""
    with uow:
        row = _posting(uow, cmd.event_id, EventPostingStatus.SUSPECT)
        row.decided_by = cmd.user
        if row.kind == "state" or row.qty == 0:
            row.status = EventPostingStatus.OPERATIONAL
        else:
            row.status = EventPostingStatus.UNASSIGNED
            _attach_rows(uow, [row], cmd.user, f"suspect event accepted by {cmd.user}")
        uow.commit()
        return row


def reject_suspect_event(cmd: RejectSuspectEvent, uow: AbstractUnitOfWork) -> EventPostingRow:
    with uow:
        row = _posting(uow, cmd.event_id, EventPostingStatus.SUSPECT)
        row.status, row.decided_by = EventPostingStatus.REJECTED, cmd.user
        uow.commit()
        return row


def event_view(row: EventPostingRow) -> EventPostingView:
    return {
        "id": row.event_id, "machine": row.machine, "kind": row.kind, "ts": row.ts.isoformat(), "qty": row.qty,
        "state": row.state, "reason": row.reason, "status": row.status, "work_order": row.work_order,
        "record": row.record_id, "late": row.late, "decided_by": row.decided_by, "hold_reason": row.hold_reason,
    }


def list_event_postings(session: Session, status: str, limit: int, offset: int) -> list[EventPostingView]:
    stmt = select(EventPostingRow).where(EventPostingRow.status == status).order_by(
        EventPostingRow.ts, EventPostingRow.event_id).limit(limit).offset(offset)
    return [event_view(r) for r in session.scalars(stmt)]


def record_event_ids(session: Session, record_id: int) -> list[int]:
    return list(session.scalars(select(RecordEventRow.event_id).where(RecordEventRow.record_id == record_id)))


# The same changes inside a transaction the caller holds (its owner commits).


def create_order(
    session: Session, item: str, qty: Decimal, user: str, order_id: str | None = None, due: date | None = None
) -> WorkOrderRow:
    return create_work_order(CreateWorkOrder(item, qty, user, order_id, due), SqlAlchemyUnitOfWork.joining(session))


def release(session: Session, order_id: str, user: str) -> WorkOrderRow:
    return release_work_order(ReleaseWorkOrder(order_id, user), SqlAlchemyUnitOfWork.joining(session))


def start(session: Session, order_id: str, machine: str, user: str, at: datetime | None = None) -> WorkOrderRow:
    return start_work_order(StartWorkOrder(order_id, machine, user, at), SqlAlchemyUnitOfWork.joining(session))


def stop(session: Session, order_id: str, user: str, at: datetime | None = None) -> WorkOrderRow:
    return stop_work_order(StopWorkOrder(order_id, user, at), SqlAlchemyUnitOfWork.joining(session))


def complete(session: Session, order_id: str, user: str, at: datetime | None = None) -> WorkOrderRow:
    return complete_work_order(CompleteWorkOrder(order_id, user, at), SqlAlchemyUnitOfWork.joining(session))


def assign_event(session: Session, event_id: int, order_id: str, user: str) -> EventPostingRow:
    return assign_event_to_order(AssignEvent(event_id, order_id, user), SqlAlchemyUnitOfWork.joining(session))


def accept_suspect(session: Session, event_id: int, user: str) -> EventPostingRow:
    return accept_suspect_event(AcceptSuspectEvent(event_id, user), SqlAlchemyUnitOfWork.joining(session))


def reject_suspect(session: Session, event_id: int, user: str) -> EventPostingRow:
    return reject_suspect_event(RejectSuspectEvent(event_id, user), SqlAlchemyUnitOfWork.joining(session))
