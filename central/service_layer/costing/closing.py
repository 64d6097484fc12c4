"""Order close and period close (ACCOUNTING.md, "Variances").

Order close posts usage, spoilage and efficiency variances and clears the order's WIP to
zero; every amount is cumulative-to-date minus what is already posted, so a late event for a
closed order recomputes the close for the difference, and an efficiency taken at a period
close is not taken twice. Period close posts rate, idle (by downtime reason), spending, budget
and volume variances per work centre and leaves every control account at zero.

``close_completed_order`` and ``close_accounting_period`` are the handlers (``(command, uow)``): they
load and refuse through the unit of work's repositories and read the time from ``uow.clock``;
the variance computation below them still reads the database through ``uow.session`` (the
transitional seam). ``close_order``/``close_period`` run them in a session the caller holds.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typing_extensions import TypedDict

from central.adapters.db.models_costing import (
    DispatchRow,
    EventPostingRow,
    EventPostingStatus,
    JournalEntryRow,
    JournalLineRow,
    OpRecordRow,
    PeriodRow,
    WorkOrderRow,
)
from central.adapters.unit_of_work import SqlAlchemyUnitOfWork
from central.domain.accruals import OrderAccruals
from central.domain.commands import ClosePeriod, CloseWorkOrder
from central.domain.errors import OrderStateError, PeriodError
from central.domain.money import ZERO, format_money, format_quantity
from central.domain.order_close import OrderFacts, close_work_order
from central.domain.order_close import adjust_closed_order as domain_adjust
from central.domain.period_close import CentreFacts, close_period_for_centre, downtime_labour, standard_machine_hours
from central.domain.postings import Posted, PostingContext
from central.domain.roles import CONTROL_ROLES, Role
from central.domain.time_accounting import work_centre_hours
from central.errors import NotFound
from central.service_layer.alerts import raise_alert_in
from central.service_layer.clock import Clock, utc_now
from central.service_layer.costing.journal import PeriodChoice, period_for_input, save_entries, save_entry
from central.service_layer.costing.master_data import Snapshot
from central.service_layer.costing.timeline import intervals, order_run_hours
from central.service_layer.governance.seal import SealView, seal_pending
from central.service_layer.unit_of_work import AbstractUnitOfWork

log = logging.getLogger(__name__)

__all__ = ["OrderClosed", "CentreClose", "PeriodClosed",
           "close_completed_order", "close_accounting_period", "close_order", "adjust_closed_order", "close_period",
           "order_entity"]


def order_entity(snap: Snapshot, item: str) -> str | None:
    routing = snap.master.routings_by_item.get(item)
    return None if routing is None else snap.master.entity_of_work_center(routing.work_center)


def _facts(
    session: Session, snap: Snapshot, order: WorkOrderRow, accruals: OrderAccruals, now: datetime
) -> OrderFacts:
    return OrderFacts(accruals, order_run_hours(session, snap, order.id, now))


def _persist(
    session: Session, posted: Posted, user: str, record_id: int, work_order: str | None, now: datetime
) -> None:
    save_entries(session, posted.entries, user, now, record_id=record_id, work_order=work_order)


class OrderClosed(TypedDict):
    """A closed order: the period its variances posted to, its run hours (a quantity string) and
    how many entries posted."""

    work_order: str
    period: str
    run_hours: str
    entries: int


class CentreClose(TypedDict):
    """One work centre's period close: entries posted, rounding residues per role (money strings)."""

    entries: int
    rounding: dict[str, str]


class PeriodClosed(TypedDict):
    """A closed period: per work centre what its close posted, and the seals over the ledger."""

    period: str
    work_centers: dict[str, CentreClose]
    seals: list[SealView]


def close_completed_order(cmd: CloseWorkOrder, uow: AbstractUnitOfWork) -> OrderClosed:
    """Close a completed order: variances, WIP to zero. 409 unless the order is complete."""
    with uow:
        order = uow.work_orders.get(cmd.order_id)
        if order is None:
            raise NotFound(f"no work order {cmd.order_id!r}")
        if order.status != "completed":
            raise OrderStateError(f"work order {cmd.order_id} is {order.status}: only a completed order can be "
                                  "closed")
        result = _close_order(uow.session, uow.master.snapshot(), order, cmd.user, cmd.posting_date, uow.clock())
        uow.commit()
        return result


def close_order(
    session: Session, order_id: str, user: str, posting_date: date | None = None, *, clock: Clock = utc_now
) -> OrderClosed:
    """:func:`close_completed_order` in ``session``'s transaction."""
    uow = SqlAlchemyUnitOfWork.joining(session, clock)
    return close_completed_order(CloseWorkOrder(order_id, user, posting_date), uow)


def _close_order(
    session: Session, snap: Snapshot, order: WorkOrderRow, user: str, posting_date: date | None, now: datetime
) -> OrderClosed:
    entity = order_entity(snap, order.item)
    ctx = snap.context(entity)
    choice = period_for_input(session, snap, entity, posting_date, now)
    facts = _facts(session, snap, order, OrderAccruals.from_data(order.accruals), now)
    record = OpRecordRow(kind="order_close", work_order=order.id, item=order.item, period=choice.period,
                         posting_date=choice.entry_date, created=now, user=user,
                         data={"run_hours": str(facts.run_hours)})
    session.add(record)
    session.flush()
    posted = close_work_order(ctx, choice.header(entity), facts)
    _persist(session, posted, user, record.id, order.id, now)
    order.accruals = posted.accruals.to_data()
    order.status, order.closed_at, order.closed_by = "closed", now, user
    log.info("work order %s closed by %s (period %s)", order.id, user, choice.period)
    return {"work_order": order.id, "period": choice.period, "run_hours": format_quantity(facts.run_hours),
            "entries": len(posted.entries)}


def adjust_closed_order(
    session: Session, snap: Snapshot, order: WorkOrderRow, accruals: OrderAccruals, choice: PeriodChoice, user: str,
    now: datetime,
) -> OrderAccruals:
    """A late event for a closed order: recompute its close for the difference, and alert."""
    entity = order_entity(snap, order.item)
    facts = _facts(session, snap, order, accruals, now)
    record = OpRecordRow(kind="order_close_adjustment", work_order=order.id, item=order.item, period=choice.period,
                         posting_date=choice.entry_date, created=now, user=user,
                         data={"run_hours": str(facts.run_hours)})
    session.add(record)
    session.flush()
    posted = domain_adjust(snap.context(entity), choice.header(entity), facts)
    _persist(session, posted, user, record.id, order.id, now)
    raise_alert_in(SqlAlchemyUnitOfWork.joining(session, lambda: now), "late_event", f"late_event:{order.id}",
                   f"late event for closed work order {order.id}",
                   detail={"work_order": order.id, "period": choice.period})
    return posted.accruals


def _bounds(snap: Snapshot, entity: str | None, period: PeriodRow) -> tuple[datetime, datetime]:
    tz = ZoneInfo(snap.entity(entity).timezone or "UTC")
    lo = datetime.combine(period.start, time(0), tzinfo=tz).astimezone(UTC)
    hi = datetime.combine(period.end + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    return lo, hi


def _sum(session: Session, kind: str, period: str, wc: str, subkind: str | None = None) -> tuple[Decimal, Decimal]:
    stmt = select(func.sum(OpRecordRow.qty), func.sum(OpRecordRow.amount)).where(
        OpRecordRow.kind == kind, OpRecordRow.period == period, OpRecordRow.work_center == wc,
        OpRecordRow.reversed_by.is_(None))
    if subkind is not None:
        stmt = stmt.where(OpRecordRow.subkind == subkind)
    qty, amount = session.execute(stmt).one()
    return (Decimal(qty or 0), Decimal(amount or 0))


def _balance(session: Session, period: str, wc: str, role: Role, kind: str | None = None) -> Decimal:
    stmt = select(func.sum(JournalLineRow.debit), func.sum(JournalLineRow.credit)).join(
        JournalEntryRow, JournalEntryRow.id == JournalLineRow.entry_id).where(
        JournalEntryRow.period == period, JournalLineRow.work_center == wc, JournalLineRow.role == role.value)
    if kind is not None:
        stmt = stmt.where(JournalEntryRow.kind == kind)
    debit, credit = session.execute(stmt).one()
    return Decimal(debit or 0) - Decimal(credit or 0)


def close_accounting_period(cmd: ClosePeriod, uow: AbstractUnitOfWork) -> PeriodClosed:
    """Close a period: per work centre, open orders' efficiency to date, then its variances; the
    ledger is sealed with the close. 409 when the period is already closed."""
    with uow:
        period = uow.periods.get(cmd.period_id)
        if period is None:
            raise NotFound(f"no period {cmd.period_id!r}")
        if period.status != "open":
            raise PeriodError(f"period {cmd.period_id} is already closed")
        summary = _close_period(uow.session, uow.master.snapshot(), period, cmd.user, uow.clock())
        uow.commit()
        return summary


def close_period(session: Session, period_id: str, user: str, *, clock: Clock = utc_now) -> PeriodClosed:
    """:func:`close_accounting_period` in ``session``'s transaction."""
    return close_accounting_period(ClosePeriod(period_id, user), SqlAlchemyUnitOfWork.joining(session, clock))


def _close_period(session: Session, snap: Snapshot, period: PeriodRow, user: str, now: datetime) -> PeriodClosed:
    entities: list[str | None] = [e.id for e in snap.master.entities] or [None]
    entity = period.entity if period.entity is not None else entities[0]
    lo, hi = _bounds(snap, entity, period)
    until = min(hi, now)
    choice = PeriodChoice(period.id, period.end, False, None)
    ctx = snap.context(entity)
    items_of = dict(session.execute(select(WorkOrderRow.id, WorkOrderRow.item)).tuples().all())
    summary: PeriodClosed = {"period": period.id, "work_centers": {}, "seals": []}
    for wc in snap.master.work_centers:
        if snap.master.entity_of_work_center(wc.id) != entity:
            continue
        facts, orders = _centre_facts(session, snap, ctx, period, wc.id, lo, until, items_of)
        record = OpRecordRow(kind="period_close", work_center=wc.id, period=period.id, posting_date=period.end,
                             created=now, user=user, data={"open_orders": [o.id for o in orders]})
        session.add(record)
        session.flush()
        closed = close_period_for_centre(ctx, choice.header(entity), facts)
        for entry in closed.entries:  # each entry names its own order: one write each
            save_entry(session, entry, user, now, record_id=record.id, work_order=entry.lines[0].tags.work_order)
        by_id = {o.id: o for o in orders}
        for acc in closed.accruals:
            by_id[acc.work_order].accruals = acc.to_data()
        summary["work_centers"][wc.id] = {"entries": len(closed.entries),
                                          "rounding": {r.value: format_money(v) for r, v in closed.residues.items()}}
    period.status, period.closed_at, period.closed_by = "closed", now, user
    # every entry posted so far, the close's own included, is sealed with the close (audit chain)
    sealed = seal_pending(session, user, "period_close", period=period.id, now=now)
    summary["seals"] = [m.as_dict() for m in sealed]
    log.info("period %s closed by %s", period.id, user)
    return summary


def _processed(session: Session, order_id: str | None, hi: datetime) -> tuple[Decimal, Decimal]:
    stmt = select(EventPostingRow.kind, func.sum(EventPostingRow.qty)).where(
        EventPostingRow.status == EventPostingStatus.POSTED, EventPostingRow.ts < hi).group_by(EventPostingRow.kind)
    if order_id is not None:
        stmt = stmt.where(EventPostingRow.work_order == order_id)
    sums = {k: Decimal(v or 0) for k, v in session.execute(stmt)}
    return sums.get("count", ZERO), sums.get("scrap", ZERO)


def _centre_facts(
    session: Session, snap: Snapshot, ctx: PostingContext, period: PeriodRow, wc_id: str, lo: datetime,
    hi: datetime, items_of: dict[str, str],
) -> tuple[CentreFacts, list[WorkOrderRow]]:
    master = snap.master
    machines = [m.id for m in master.machines if m.work_center == wc_id]
    ivs = intervals(session, snap, machines, lo, hi) if hi > lo else []

    def crew(order: str | None) -> Decimal:
        item = items_of.get(order or "")
        return ctx.card(item).crew_ratio if item is not None and item in ctx.costs else Decimal(1)

    hours = work_centre_hours(ivs, lambda m: master.machine(m).work_center, crew, lo, hi).get(wc_id)
    paid, booked = _sum(session, "labor_booking", period.id, wc_id)
    _, voh = _sum(session, "overhead_actual", period.id, wc_id, "variable")
    _, foh = _sum(session, "overhead_actual", period.id, wc_id, "fixed")
    processed: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for rec in session.scalars(select(OpRecordRow).where(
            OpRecordRow.period == period.id, OpRecordRow.kind.in_(("production", "production_reversal")))):
        if rec.item is not None and ctx.card(rec.item).work_center == wc_id:
            processed[rec.item] += Decimal(rec.data["good"]) + Decimal(rec.data["scrap"])
    orders = [o for o in session.scalars(select(WorkOrderRow).where(WorkOrderRow.status != "closed").where(
        WorkOrderRow.id.in_(select(DispatchRow.work_order).where(DispatchRow.start < hi))))
        if ctx.card(o.item).work_center == wc_id]
    open_orders = []
    for o in orders:
        good, scrap = _processed(session, o.id, hi)
        open_orders.append(OrderFacts(OrderAccruals.from_data(o.accruals), order_run_hours(session, snap, o.id, hi),
                                      good, scrap))
    facts = CentreFacts(
        work_center=wc_id, paid_hours=paid, booked_amount=booked, actual_voh=voh, actual_foh=foh,
        run_machine_hours=hours.run_machine_hours if hours else ZERO,
        run_labor_hours=hours.run_labor_hours if hours else ZERO,
        standard_machine_hours=standard_machine_hours(ctx, processed),
        downtime=downtime_labour(ctx, hours.downtime if hours else (), items_of),
        control_balances={role: _balance(session, period.id, wc_id, role) for role in CONTROL_ROLES},
        open_orders=tuple(open_orders),
    )
    return facts, orders
