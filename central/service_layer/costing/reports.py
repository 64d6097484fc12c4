"""Reports of ACCOUNTING.md: variances, inventory valuation, WIP, downtime cost, cost of quality,
OEE and the order cost sheet. Amounts and ratios leave as decimal strings."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import NotRequired, TypedDict
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central.adapters.db.dialect import unindexed
from central.adapters.db.models_costing import (
    EventPostingRow,
    EventPostingStatus,
    PeriodRow,
    WorkOrderRow,
)
from central.domain.accruals import OrderAccruals
from central.domain.bounds import check_date, check_instant
from central.domain.errors import InputError, RangeError
from central.domain.money import ZERO, format_amount, format_price, format_quantity
from central.domain.operations_reports import OrderOutput, ScrapRecord, downtime_cost, ideal_hours
from central.domain.operations_reports import cost_of_quality as domain_coq
from central.domain.operations_reports import oee as domain_oee
from central.domain.postings import PostingContext
from central.domain.reports import value_inventory
from central.domain.roles import VARIANCE_OF_ROLE, Role
from central.domain.time_accounting import MachineTime, downtime_hours, machine_time
from central.errors import NotFound
from central.service_layer.clock import Clock, utc_now
from central.service_layer.costing.master_data import Snapshot, snapshot
from central.service_layer.costing.snapshots import BalanceSource, SnapshotBalances
from central.service_layer.costing.timeline import intervals, order_run_hours

log = logging.getLogger(__name__)

__all__ = ["Window", "window", "variances", "inventory_valuation", "wip", "downtime", "cost_of_quality", "oee",
           "cost_sheet", "VarianceLine", "VarianceReport", "ValuationLine", "ValuationReport", "WipLine", "WipReport",
           "DowntimeLine", "DowntimeReport", "QualityCostLine", "QualityCostReport", "OeeReport", "ElementCost",
           "CostSheet"]


# The reports as they leave the service: amounts, prices, quantities and ratios already formatted
# as decimal strings (API.md); key order is the order on the wire.


class VarianceLine(TypedDict):
    """One variance: type and amount (money string, positive = unfavourable), and only the
    dimensions that are set."""

    type: str
    amount: str
    item: NotRequired[str]
    work_center: NotRequired[str]
    work_order: NotRequired[str]
    reason: NotRequired[str]


class VarianceReport(TypedDict):
    variances: list[VarianceLine]
    total: str


class ValuationLine(TypedDict):
    item: str
    role: str
    unit_cost: str
    qty: str
    value: str
    ledger: str
    difference: str


class ValuationReport(TypedDict):
    rows: list[ValuationLine]
    total: str
    ledger: str
    difference: str


class WipLine(TypedDict):
    work_order: str | None
    status: str | None
    amount: str


class WipReport(TypedDict):
    rows: list[WipLine]
    total: str


class DowntimeLine(TypedDict):
    machine: str
    reason: str | None
    category: str
    hours: str
    cost: str


class DowntimeReport(TypedDict):
    rows: list[DowntimeLine]
    total_hours: str
    total_cost: str


class QualityCostLine(TypedDict):
    machine: str
    reason: str | None
    qty: str
    amount: str


class QualityCostReport(TypedDict):
    rows: list[QualityCostLine]
    normal: str
    abnormal: str
    total: str


OeeReport = TypedDict("OeeReport", {
    "machine": str | None, "from": str, "to": str, "availability": str, "performance": str, "quality": str,
    "oee": str, "planned_time_h": str, "run_time_h": str, "good": str, "scrap": str,
})
"""OEE over a window (``from``/``to``: ISO timestamps, UTC); ratios at 4 places, hours at 4."""


class ElementCost(TypedDict):
    standard: str
    actual: str


class CostSheet(TypedDict):
    work_order: str
    item: str
    status: str
    standard_unit_cost: str
    good_unit_cost: str
    good_qty: str
    scrap_qty: str
    normal_scrap_qty: str
    abnormal_scrap_qty: str
    run_hours: str
    standard_hours: str
    elements: dict[str, ElementCost]
    variances: list[VarianceLine]


def _m(value: Decimal) -> str:
    return format_amount(value)


def _h(value: Decimal) -> str:
    return format_amount(value, 4)


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime


def _parse_bound(text: str, tz: ZoneInfo, end: bool) -> datetime:
    try:
        if len(text) == 10:
            day = check_date(date.fromisoformat(text), "'to'" if end else "'from'")
            return datetime.combine(day + timedelta(days=1 if end else 0), time(0), tzinfo=tz).astimezone(UTC)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except RangeError:
        raise
    except ValueError:
        raise InputError(f"not an ISO date or timestamp: {text[:40]!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return check_instant(parsed, "'to'" if end else "'from'").astimezone(UTC)


def window(
    session: Session, snap: Snapshot, period: str | None, start: str | None, end: str | None, *,
    clock: Clock = utc_now,
) -> Window:
    """``period=`` (its bounds in the entity's zone) or ``from=``/``to=`` (a date ``to`` is inclusive;
    no ``to``: up to now)."""
    tz = ZoneInfo(snap.entity(snap.master.entities[0].id if snap.master.entities else None).timezone or "UTC")
    if period:
        row = session.get(PeriodRow, period)
        if row is None:
            raise InputError(f"unknown period {period!r}")
        return Window(datetime.combine(row.start, time(0), tzinfo=tz).astimezone(UTC),
                      datetime.combine(row.end + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC))
    lo = _parse_bound(start, tz, False) if start else datetime(1970, 1, 1, tzinfo=UTC)
    hi = _parse_bound(end, tz, True) if end else clock()
    if hi <= lo:
        raise InputError("'to' must be after 'from'")
    return Window(lo, hi)


def variances(session: Session, period: str | None = None, work_order: str | None = None,
              work_center: str | None = None, *, source: BalanceSource | None = None) -> VarianceReport:
    """Variance lines of the journal by type, item, work centre, order and reason (positive = unfavourable).
    Read from the ledger day snapshots (a period's or an order's rows only); ``source`` =
    :class:`ScanBalances` sums every journal line instead (the reference)."""
    source = source or SnapshotBalances(session)
    rows: list[VarianceLine] = []
    total = ZERO
    for role, item, wc, wo, reason, debit, credit in source.variance_sums(period, work_order, work_center):
        amount = debit - credit
        if amount == 0:
            continue
        total += amount
        row = VarianceLine(type=VARIANCE_OF_ROLE[Role(role)].value, amount=_m(amount))
        if item:
            row["item"] = item
        if wc:
            row["work_center"] = wc
        if wo:
            row["work_order"] = wo
        if reason:
            row["reason"] = reason
        rows.append(row)
    rows.sort(key=lambda r: (r["type"], r.get("item", ""), r.get("reason", ""), r.get("work_center", ""),
                             r.get("work_order", "")))
    return VarianceReport(variances=rows, total=_m(total))


def inventory_valuation(session: Session, *, source: BalanceSource | None = None) -> ValuationReport:
    """Raw materials and finished goods per item: the quantity on hand (running, ``item_stock``) at
    the standard unit cost (``value``), beside the ledger balance of the item (``ledger``, from the
    ledger snapshot) and ``difference`` = value - ledger (nonzero e.g. after a standard-cost change
    that did not revalue the stock on hand). ``source`` = :class:`ScanBalances`: every line and move."""
    source = source or SnapshotBalances(session)
    snap = snapshot(session)
    ctx = snap.context(snap.master.entities[0].id if snap.master.entities else None)
    ledger: dict[tuple[Role, str], Decimal] = {}
    for role in (Role.RAW_MATERIALS, Role.FINISHED_GOODS):
        for item, balance in source.role_balances(role).items():
            if item is None:
                if balance != 0:
                    log.warning("%s holds %s on lines without an item: not in the valuation", role.value, balance)
                continue
            ledger[(role, item)] = balance
    rows = value_inventory(ctx, source.on_hand(), ledger)
    out = [ValuationLine(item=r.item, role=r.role.value, unit_cost=format_price(r.unit_cost),
                         qty=format_quantity(r.qty), value=_m(r.value), ledger=_m(r.ledger),
                         difference=_m(r.difference)) for r in rows]
    return ValuationReport(rows=out, total=_m(sum((r.value for r in rows), ZERO)),
                           ledger=_m(sum((r.ledger for r in rows), ZERO)),
                           difference=_m(sum((r.difference for r in rows), ZERO)))


_NOT_CLOSED = ("created", "released", "started", "stopped", "completed")
"""Work-order statuses before ``closed`` (an order whose WIP is not yet settled)."""
_WIP_KEYS_MAX = 2_000
"""More open orders than this: read every order's WIP row and keep theirs (one statement, no huge IN list)."""


def wip(session: Session, *, source: BalanceSource | None = None) -> WipReport:
    """WIP at standard per order that holds WIP or is not closed yet (a closed order's WIP is 0.00
    by its close), from the ledger snapshot; ``source`` = :class:`ScanBalances`: every WIP line.

    The read follows the open orders, not every order ever made: the open orders' rows, then the WIP
    account's total (one row per account); only if the two differ (WIP on a closed order or on lines
    without one, which the close never leaves) every order's row, so such WIP is shown, never hidden."""
    src = source or SnapshotBalances(session)
    status = dict(session.execute(select(WorkOrderRow.id, WorkOrderRow.status).where(
        WorkOrderRow.status.in_(_NOT_CLOSED))).tuples().all())

    def every_order() -> dict[str | None, Decimal]:
        return {k: v for k, v in src.role_balances(Role.WIP).items() if k in status or v}

    balances = src.role_balances(Role.WIP, keys=status.keys()) if len(status) <= _WIP_KEYS_MAX else every_order()
    total = sum((d - c for _a, role, d, c in src.account_sums(None, None, None, None) if role == Role.WIP.value), ZERO)
    if sum(balances.values(), ZERO) != total:
        balances = every_order()
    others = sorted(k for k in balances if k is not None and k not in status)
    if others:  # closed orders that hold WIP
        status.update(session.execute(select(WorkOrderRow.id, WorkOrderRow.status).where(
            WorkOrderRow.id.in_(others))).tuples().all())
    rows = [WipLine(work_order=wo, status=status.get(wo or ""), amount=_m(v))
            for wo, v in sorted(balances.items(), key=lambda kv: kv[0] or "")]
    return WipReport(rows=rows, total=_m(sum(balances.values(), ZERO)))


def _machines(snap: Snapshot, machine: str | None) -> list[str]:
    if machine is None:
        return [m.id for m in snap.master.machines]
    if machine not in snap.master.machines_by_id:
        raise InputError(f"unknown machine {machine!r}")
    return [machine]


def _items_of(session: Session, orders: set[str]) -> dict[str, str]:
    """Item of each of ``orders`` (only those: the read follows the window, not every order ever made)."""
    if not orders:
        return {}
    return dict(session.execute(select(WorkOrderRow.id, WorkOrderRow.item).where(
        WorkOrderRow.id.in_(sorted(orders)))).tuples().all())


def _ctx(snap: Snapshot) -> PostingContext:
    return snap.context(snap.master.entities[0].id if snap.master.entities else None)


def downtime(session: Session, w: Window, machine: str | None = None, *, clock: Clock = utc_now) -> DowntimeReport:
    """Downtime hours and cost (labour x crew ratio + FOH per hour) by machine, reason and category."""
    snap = snapshot(session)
    ivs = intervals(session, snap, _machines(snap, machine), w.start, min(w.end, clock()))
    hours = downtime_hours(ivs, w.start, w.end)
    report = downtime_cost(_ctx(snap), hours, _items_of(session, {h.work_order for h in hours if h.work_order}))
    rows = [DowntimeLine(machine=r.machine, reason=r.reason, category=r.category.value, hours=_h(r.hours),
                         cost=_m(r.cost)) for r in report.rows]
    return DowntimeReport(rows=rows, total_hours=_h(report.total_hours), total_cost=_m(report.total_cost))


@dataclass(frozen=True)
class _CountSum:
    """Units of one kind (``count``/``scrap``) of one order on one machine for one reason in a window."""

    kind: str
    work_order: str | None
    machine: str
    reason: str | None
    qty: Decimal


def _count_sums(session: Session, start: datetime, end: datetime, machines: list[str],
                statuses: tuple[str, ...]) -> list[_CountSum]:
    """Counted and scrapped units in [start, end), summed in SQL (one row per kind, order, machine and
    reason): the read follows the window through ``ix_event_postings_machine_kind_ts``, and no event
    row reaches Python."""
    qty = func.sum(EventPostingRow.qty)
    stmt = select(EventPostingRow.kind, EventPostingRow.work_order, EventPostingRow.machine,
                  EventPostingRow.reason, qty).where(
        EventPostingRow.machine.in_(machines), EventPostingRow.kind.in_(("count", "scrap")),
        EventPostingRow.ts >= start, EventPostingRow.ts < end, unindexed(EventPostingRow.status).in_(statuses),
    ).group_by(EventPostingRow.kind, EventPostingRow.work_order, EventPostingRow.machine, EventPostingRow.reason)
    return [_CountSum(str(kind), wo, str(m), reason, Decimal(int(total or 0)))
            for kind, wo, m, reason, total in session.execute(stmt)]


def cost_of_quality(session: Session, w: Window, machine: str | None = None) -> QualityCostReport:
    """Scrap x standard cost per unit processed by machine and reason; normal = within the allowance."""
    snap = snapshot(session)
    good: dict[str, Decimal] = defaultdict(lambda: ZERO)
    scrap: dict[tuple[str, str, str | None], Decimal] = defaultdict(lambda: ZERO)
    for r in _count_sums(session, w.start, w.end, _machines(snap, machine), (EventPostingStatus.POSTED,)):
        if r.work_order is None:
            continue
        if r.kind == "count":
            good[r.work_order] += r.qty
        else:
            scrap[(r.work_order, r.machine, r.reason)] += r.qty
    items_of = _items_of(session, {wo for wo, _, _ in scrap})
    records = [ScrapRecord(wo, m, reason, qty) for (wo, m, reason), qty in scrap.items()]
    outputs = [OrderOutput(wo, items_of[wo], good[wo]) for wo in {wo for wo, _, _ in scrap}]
    report = domain_coq(_ctx(snap), records, outputs)
    rows = [QualityCostLine(machine=r.machine, reason=r.reason, qty=str(r.qty), amount=_m(r.amount))
            for r in report.rows]
    return QualityCostReport(rows=rows, normal=_m(report.normal), abnormal=_m(report.abnormal),
                             total=_m(report.total))


def oee(session: Session, w: Window, machine: str | None = None, *, clock: Clock = utc_now) -> OeeReport:
    """Availability x performance x quality over the window (all machines summed when none is named)."""
    snap = snapshot(session)
    machines = _machines(snap, machine)
    end = min(w.end, clock())
    ivs = intervals(session, snap, machines, w.start, end)
    times = [machine_time(ivs, m, w.start, end) for m in machines]
    total = MachineTime(
        window_hours=sum((t.window_hours for t in times), ZERO), run_hours=sum((t.run_hours for t in times), ZERO),
        planned_stop_hours=sum((t.planned_stop_hours for t in times), ZERO),
        downtime_hours=sum((t.downtime_hours for t in times), ZERO),
    )
    sums = _count_sums(session, w.start, end, machines, (EventPostingStatus.POSTED, EventPostingStatus.UNASSIGNED))
    items_of = _items_of(session, {r.work_order for r in sums if r.work_order})
    good = scrap = ZERO
    processed: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for r in sums:
        if r.kind == "count":
            good += r.qty
        else:
            scrap += r.qty
        item = items_of.get(r.work_order or "")
        if item is not None:
            processed[item] += r.qty
    ctx = _ctx(snap)
    figures = domain_oee(total, ideal_hours(ctx, processed), good, scrap)
    ratios = figures.rounded()
    return {"machine": machine, "from": w.start.isoformat(), "to": end.isoformat(),
            "availability": str(ratios["availability"]), "performance": str(ratios["performance"]),
            "quality": str(ratios["quality"]), "oee": str(ratios["oee"]),
            "planned_time_h": _h(figures.planned_time_h), "run_time_h": _h(figures.run_time_h),
            "good": format_quantity(good), "scrap": format_quantity(scrap)}


def cost_sheet(session: Session, order_id: str, *, clock: Clock = utc_now) -> CostSheet:
    """Standard vs actual per element for the units processed, and the order's variances."""
    order = session.get(WorkOrderRow, order_id)
    if order is None:
        raise NotFound(f"no work order {order_id!r}")
    snap = snapshot(session)
    routing = snap.master.routing(order.item)
    ctx = snap.context(snap.master.entity_of_work_center(routing.work_center))
    card = ctx.card(order.item)
    acc = OrderAccruals.from_data(order.accruals)
    processed = acc.processed_qty
    run_hours = acc.run_hours if acc.closed else order_run_hours(session, snap, order.id, clock())
    sh = processed * card.machine_hours
    elements: dict[str, ElementCost] = {}
    for m in card.materials:
        issued = acc.issued.get(m.item, processed * m.qty if ctx.item(m.item).issue.value == "backflush" else ZERO)
        elements[f"material:{m.item}"] = ElementCost(standard=_m(processed * m.qty * m.unit_cost),
                                                     actual=_m(issued * m.unit_cost))
    elements["labor"] = ElementCost(standard=_m(processed * card.labor_hours * card.labor_rate),
                                    actual=_m(run_hours * card.crew_ratio * card.labor_rate))
    elements["voh"] = ElementCost(standard=_m(sh * card.voh_rate), actual=_m(run_hours * card.voh_rate))
    elements["foh"] = ElementCost(standard=_m(sh * card.foh_rate), actual=_m(sh * card.foh_rate))
    normal_qty = min(acc.scrap_qty, card.normal_spoilage * acc.good_qty)
    return {
        "work_order": order.id, "item": order.item, "status": order.status,
        "standard_unit_cost": format_price(card.per_unit_processed), "good_unit_cost": format_price(
            card.good_unit), "good_qty": format_quantity(acc.good_qty), "scrap_qty": format_quantity(acc.scrap_qty),
        "normal_scrap_qty": format_quantity(normal_qty),
        "abnormal_scrap_qty": format_quantity(acc.scrap_qty - normal_qty),
        "run_hours": _h(run_hours), "standard_hours": _h(sh), "elements": elements,
        "variances": variances(session, work_order=order.id)["variances"],
    }
