"""The margin report (issue 15): ``GET /reports/margin?period=&plant=&product=``.

- **products**: per manufactured product with a routing, the standard cost of a good unit, the
  selling price in force on the report's day (the period's last day; today without a period) and
  the standard margin.
- **orders**: per closed order (closed in the period, when one is named: the period of its
  ``order_close`` record), the actual cost of a good unit = (good units x standard cost of a good
  unit + the order's material usage, abnormal spoilage, labour efficiency and VOH efficiency
  variances, over the order's whole life) / good units, and the actual margin at the price in
  force on the last day of the period the order closed in.
- **leakage**: per period, the variance lines of that period's journal mapped to causes
  (:data:`central.domain.margin.CAUSE_OF_VARIANCE`); the causes add up to the variance report's
  total of the period. Normal spoilage is no variance: it is shown beside the causes as cost of
  quality (normal and abnormal, live from the period's scrap records as in
  ``/reports/cost-of-quality``).

Filters: ``plant`` keeps the products made there, their orders, and the variance lines that
belong to the plant (a line's work centre, else its work order's routing, else -- a material price
variance taken at goods receipt -- its entity when the entity has exactly one plant).
``product`` keeps that product, its orders and the variance lines of its orders (period variances
of work centres and purchase price variances belong to no product). Unfiltered, and with
``plant=`` when every line is attributable, the leakage total equals ``/reports/variances``'s.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central.adapters.db.models_costing import (
    JournalLineRow,
    LedgerDayBalanceRow,
    OpRecordRow,
    PeriodRow,
    WorkOrderRow,
)
from central.domain.accruals import OrderAccruals
from central.domain.errors import InputError
from central.domain.margin import (
    ORDER_VARIANCE_TYPES,
    Leakage,
    OrderMargin,
    ProductMargin,
    margin_leakage,
    order_margin,
    types_of,
)
from central.domain.master_data import Period
from central.domain.money import ZERO, format_amount, format_money, format_price, format_quantity
from central.domain.operations_reports import CostOfQuality, OrderOutput, ScrapRecord, cost_of_quality
from central.domain.roles import VARIANCE_OF_ROLE, VARIANCE_ROLES, Role, VarianceType
from central.domain.selling_prices import SellingPrice, entity_of_product, price_at
from central.service_layer.clock import Clock, utc_now
from central.service_layer.costing.master_data import Snapshot, snapshot
from central.service_layer.costing.past_cache import posted_scrap_split, production_totals_split
from central.service_layer.costing.selling_prices import stored_prices
from central.service_layer.costing.snapshots import NONE

__all__ = ["ProductRow", "OrderRow", "PeriodLeakage", "MarginReport", "margin_report", "margin_data", "Scope"]


@dataclass(frozen=True)
class ProductRow:
    """A product's standard margin, with its entity, currency and the price record used."""

    margin: ProductMargin
    entity: str | None
    currency: str
    price_valid_from: date | None


@dataclass(frozen=True)
class OrderRow:
    """A closed order's actual margin; ``period`` is the period its close posted to."""

    margin: OrderMargin
    period: str | None
    currency: str
    price_valid_from: date | None


@dataclass(frozen=True)
class PeriodLeakage:
    """Margin leakage of one period by cause, beside its cost of quality."""

    period: str
    leakage: Leakage
    cost_of_quality: CostOfQuality


@dataclass(frozen=True)
class MarginReport:
    period: str | None
    plant: str | None
    product: str | None
    as_of: date
    products: tuple[ProductRow, ...]
    orders: tuple[OrderRow, ...]
    periods: tuple[PeriodLeakage, ...]


@dataclass(frozen=True)
class Scope:
    """Which products, machines and entities a plant / product filter keeps."""

    snap: Snapshot
    plant: str | None
    product: str | None

    def plant_of_centre(self, centre: str | None) -> str | None:
        wc = self.snap.master.work_centers_by_id.get(centre or "")
        return None if wc is None else wc.plant

    def plant_of_item(self, item: str | None) -> str | None:
        routing = self.snap.master.routings_by_item.get(item or "")
        return None if routing is None else self.plant_of_centre(routing.work_center)

    def keeps_product(self, item: str) -> bool:
        if self.product is not None and item != self.product:
            return False
        return self.plant is None or self.plant_of_item(item) == self.plant

    def machines(self) -> list[str]:
        return [m.id for m in self.snap.master.machines
                if self.plant is None or self.plant_of_centre(m.work_center) == self.plant]

    def sole_plant(self, entity: str | None) -> str | None:
        plants = [p.id for p in self.snap.master.plants if p.entity == entity]
        return plants[0] if len(plants) == 1 else None


def _check_filters(snap: Snapshot, plant: str | None, product: str | None) -> None:
    if plant is not None and plant not in {p.id for p in snap.master.plants}:
        raise InputError(f"unknown plant {plant!r}")
    if product is not None:
        item = snap.master.items_by_id.get(product)
        if item is None or not item.manufactured:
            raise InputError(f"unknown product {product!r} (a manufactured item)")


def _currency(snap: Snapshot, entity: str | None) -> str:
    return snap.entity(entity).currency


def _amount(value: Any) -> Decimal:
    return ZERO if value is None else Decimal(value)


def _priced(prices: list[SellingPrice], product: str, day: date) -> tuple[Decimal | None, date | None]:
    found = price_at(prices, product, day)
    return (None, None) if found is None else (found.price, found.valid_from)


def _products(scope: Scope, prices: list[SellingPrice], day: date) -> tuple[ProductRow, ...]:
    snap = scope.snap
    rows = []
    for item in snap.master.items:
        if not item.manufactured or item.id not in snap.master.routings_by_item or not scope.keeps_product(item.id):
            continue
        entity = entity_of_product(snap.master, item.id)
        card = snap.context(entity).card(item.id)
        price, since = _priced(prices, item.id, day)
        rows.append(ProductRow(ProductMargin(item.id, card.good_unit, price), entity, _currency(snap, entity), since))
    return tuple(rows)


def _closed_orders(session: Session, period: str | None) -> dict[str, str | None]:
    """Closed order -> the period its (first) close posted to; only those closed in ``period``."""
    stmt = select(OpRecordRow.work_order, func.min(OpRecordRow.period)).where(
        OpRecordRow.kind == "order_close", OpRecordRow.work_order.is_not(None)).group_by(OpRecordRow.work_order)
    closes = {str(wo): (None if p is None else str(p)) for wo, p in session.execute(stmt)}
    closed = session.scalars(select(WorkOrderRow.id).where(WorkOrderRow.status == "closed"))
    out = {wo: closes.get(wo) for wo in closed}
    return {wo: p for wo, p in out.items() if period is None or p == period}


def _order_variances(session: Session, orders: list[str]) -> dict[str, dict[VarianceType, Decimal]]:
    roles = [VARIANCE_ROLES[kind].value for kind in ORDER_VARIANCE_TYPES]
    out: dict[str, dict[VarianceType, Decimal]] = defaultdict(dict)
    for start in range(0, len(orders), 500):
        chunk = orders[start:start + 500]
        stmt = select(JournalLineRow.work_order, JournalLineRow.role, func.sum(JournalLineRow.debit),
                      func.sum(JournalLineRow.credit)).where(
            JournalLineRow.role.in_(roles), JournalLineRow.work_order.in_(chunk)).group_by(
            JournalLineRow.work_order, JournalLineRow.role)
        for wo, role, debit, credit in session.execute(stmt):
            kind = VARIANCE_OF_ROLE[Role(str(role))]
            out[str(wo)][kind] = out[str(wo)].get(kind, ZERO) + _amount(debit) - _amount(credit)
    return out


def _period_end(session: Session, period: str | None, fallback: date) -> date:
    if period is None:
        return fallback
    row = session.get(PeriodRow, period)
    return fallback if row is None else row.end


def _orders(
    session: Session, scope: Scope, prices: list[SellingPrice], period: str | None, today: date
) -> tuple[OrderRow, ...]:
    snap = scope.snap
    closed = _closed_orders(session, period)
    if not closed:
        return ()
    rows = list(session.scalars(select(WorkOrderRow).where(WorkOrderRow.id.in_(list(closed))).order_by(
        WorkOrderRow.id))) if len(closed) <= 900 else [
        r for r in session.scalars(select(WorkOrderRow).where(WorkOrderRow.status == "closed").order_by(
            WorkOrderRow.id)) if r.id in closed]
    kept = [r for r in rows if scope.keeps_product(r.item) and r.item in snap.master.routings_by_item]
    variances = _order_variances(session, [r.id for r in kept])
    ends: dict[str | None, date] = {}
    out = []
    for row in kept:
        close_period = closed[row.id]
        if close_period not in ends:
            ends[close_period] = _period_end(session, close_period, today)
        entity = entity_of_product(snap.master, row.item)
        card = snap.context(entity).card(row.item)
        good = OrderAccruals.from_data(row.accruals).good_qty
        price, since = _priced(prices, row.item, ends[close_period])
        margin = order_margin(row.id, row.item, good, card.good_unit, price, variances.get(row.id, {}))
        out.append(OrderRow(margin, close_period, _currency(snap, entity), since))
    return tuple(out)


def _line_plant(scope: Scope, centre: str | None, order_item: str | None, entity: str | None) -> str | None:
    if centre is not None:
        return scope.plant_of_centre(centre)
    if order_item is not None:
        return scope.plant_of_item(order_item)
    return scope.sole_plant(entity)


def _key(value: Any) -> str | None:
    """A snapshot key column's value: ``NONE`` ('') is a dimension the lines did not have."""
    return None if value is None or value == NONE else str(value)


def _leakage(session: Session, scope: Scope, period: str) -> Leakage:
    roles = [r.value for r in VARIANCE_OF_ROLE]
    t = LedgerDayBalanceRow  # the period's variance lines summed per day and key (costing/snapshots.py)
    stmt = select(t.role, t.work_center, t.work_order, t.entity, func.sum(t.debit), func.sum(t.credit)).where(
        t.role.in_(roles), t.period == period).group_by(t.role, t.work_center, t.work_order, t.entity)
    lines = [(role, _key(centre), _key(order), _key(entity), debit, credit)
             for role, centre, order, entity, debit, credit in session.execute(stmt)]
    filtered = scope.plant is not None or scope.product is not None
    items: dict[str, str] = {}
    if filtered:
        items = dict(session.execute(select(WorkOrderRow.id, WorkOrderRow.item)).tuples().all())
    by_type: dict[VarianceType, Decimal] = {}
    for role, centre, order, entity, debit, credit in lines:
        item = items.get(str(order)) if order is not None else None
        if scope.product is not None and item != scope.product:
            continue
        if scope.plant is not None and _line_plant(scope, centre, item, entity) != scope.plant:
            continue
        kind = VARIANCE_OF_ROLE[Role(str(role))]
        by_type[kind] = by_type.get(kind, ZERO) + _amount(debit) - _amount(credit)
    return margin_leakage(by_type)


def _cost_of_quality(session: Session, scope: Scope, period: PeriodRow, split: datetime) -> CostOfQuality:
    """As ``/reports/cost-of-quality?period=``, for the scope's machines and products: the posted
    scrap events of the period's time window by machine and reason, the allowance from the good
    units of the period's production records (:mod:`central.service_layer.costing.output_totals`)."""
    snap = scope.snap
    machines = scope.machines()
    start, end = _bounds(snap, period)
    items: dict[str, str] = {}
    good: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for t in production_totals_split(session, period.id, machines, split, split.date()):
        items[t.work_order] = t.item
        good[t.work_order] += t.good
    scrap = posted_scrap_split(session, machines, start, end, split)  # before split (midnight): cached
    missing = {wo for wo, _, _, _ in scrap if wo not in items}
    if missing:
        items |= dict(session.execute(select(WorkOrderRow.id, WorkOrderRow.item).where(
            WorkOrderRow.id.in_(sorted(missing)))).tuples().all())
    records = [ScrapRecord(wo, m, reason, qty) for wo, m, reason, qty in scrap
               if wo in items and scope.keeps_product(items[wo]) and items[wo] in snap.master.routings_by_item]
    outputs = [OrderOutput(wo, items[wo], good[wo]) for wo in {r.work_order for r in records}]
    entity = snap.master.entities[0].id if snap.master.entities else None
    return cost_of_quality(snap.context(entity), records, outputs)


def _bounds(snap: Snapshot, row: PeriodRow) -> tuple[datetime, datetime]:
    """[start, end) of the period in its entity's time zone (the first entity's when it names none)."""
    entity = row.entity or (snap.master.entities[0].id if snap.master.entities else None)
    return Period(row.id, row.start, row.end).bounds(ZoneInfo(snap.entity(entity).timezone or "UTC"))


def margin_report(
    session: Session, period: str | None = None, plant: str | None = None, product: str | None = None, *,
    clock: Clock = utc_now,
) -> MarginReport:
    """The margin report; unknown period, plant or product: :class:`InputError` (400)."""
    snap = snapshot(session)
    _check_filters(snap, plant, product)
    today = clock().date()
    tz = ZoneInfo(snap.entity(snap.master.entities[0].id if snap.master.entities else None).timezone or "UTC")
    midnight = datetime.combine(clock().astimezone(tz).date(), time(0), tzinfo=tz)
    if period is not None:
        row = session.get(PeriodRow, period)
        if row is None:
            raise InputError(f"unknown period {period!r}")
        periods = [row]
    else:
        periods = list(session.scalars(select(PeriodRow).order_by(PeriodRow.start)))
    scope = Scope(snap, plant, product)
    prices = stored_prices(session, product)
    as_of = periods[0].end if period is not None else today
    leakage = tuple(
        PeriodLeakage(p.id, _leakage(session, scope, p.id), _cost_of_quality(session, scope, p, midnight))
        for p in periods
    )
    return MarginReport(period, plant, product, as_of, _products(scope, prices, as_of),
                        _orders(session, scope, prices, period, today), leakage)


def _opt(value: Decimal | None, fmt: Any) -> str | None:
    return None if value is None else str(fmt(value))


def _day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def margin_data(report: MarginReport) -> dict[str, Any]:
    """The report as the API's JSON: money with 2 places, unit costs, prices and margins per unit
    with 6, ratios with 4, quantities in plain notation; a figure that cannot exist (no price in
    force, no good unit) is ``null``."""
    products = [{
        "product": r.margin.product, "entity": r.entity, "currency": r.currency,
        "standard_cost": format_price(r.margin.standard_cost), "price": _opt(r.margin.price, format_price),
        "price_valid_from": _day(r.price_valid_from), "standard_margin": _opt(r.margin.standard_margin, format_price),
        "standard_margin_ratio": _opt(r.margin.margin_ratio, _ratio_text),
    } for r in report.products]
    orders = [{
        "work_order": o.margin.work_order, "product": o.margin.product, "period": o.period, "currency": o.currency,
        "good_qty": format_quantity(o.margin.good_qty), "standard_cost": format_price(o.margin.standard_cost),
        "variances": {kind.value: format_money(amount) for kind, amount in o.margin.variances.items()},
        "variance_total": format_money(o.margin.variance_total), "actual_cost": format_money(o.margin.actual_cost),
        "actual_unit_cost": _opt(o.margin.actual_unit_cost, format_price),
        "price": _opt(o.margin.price, format_price), "price_valid_from": _day(o.price_valid_from),
        "standard_margin": _opt(o.margin.standard_margin, format_price),
        "actual_margin": _opt(o.margin.actual_margin, format_price),
        "actual_margin_ratio": _opt(o.margin.actual_margin_ratio, _ratio_text),
        "revenue": _opt(o.margin.revenue, format_money),
        "actual_margin_total": _opt(o.margin.actual_margin_total, format_money),
    } for o in report.orders]
    periods = [{
        "period": p.period,
        "causes": [{"cause": cause.value, "amount": format_money(amount),
                    "variance_types": [kind.value for kind in types_of(cause)]}
                   for cause, amount in p.leakage.causes.items()],
        "total": format_money(p.leakage.total),
        "variances": {kind.value: format_money(amount) for kind, amount in p.leakage.by_type.items()},
        "cost_of_quality": {"normal": format_money(p.cost_of_quality.normal),
                            "abnormal": format_money(p.cost_of_quality.abnormal),
                            "total": format_money(p.cost_of_quality.total)},
    } for p in report.periods]
    return {"period": report.period, "plant": report.plant, "product": report.product,
            "as_of": report.as_of.isoformat(), "products": products, "orders": orders, "periods": periods}


def _ratio_text(value: Decimal) -> str:
    return format_amount(value, 4)
