"""Operational cost reports (ACCOUNTING.md, "Reports"): downtime cost, cost of quality, OEE.

They are live views over operational records (intervals, scrap records), not over the ledger:
the service layer reads the records for the window and hands them in as plain values.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from central.domain.errors import InputError
from central.domain.master_data import DowntimeCategory
from central.domain.money import ONE, ZERO, divide, sum_by, to_cents, to_ratio
from central.domain.postings import PostingContext
from central.domain.time_accounting import DowntimeHours, MachineTime


@dataclass(frozen=True)
class DowntimeCostRow:
    machine: str
    reason: str | None
    category: DowntimeCategory
    hours: Decimal
    cost: Decimal


@dataclass(frozen=True)
class DowntimeCost:
    rows: tuple[DowntimeCostRow, ...]
    total_hours: Decimal
    total_cost: Decimal

    def by_category(self) -> dict[DowntimeCategory, Decimal]:
        return sum_by((row.category, row.cost) for row in self.rows)

    def by_reason(self) -> dict[str | None, Decimal]:
        return sum_by((row.reason, row.cost) for row in self.rows)


def downtime_cost(
    ctx: PostingContext, downtime: Iterable[DowntimeHours], item_of_order: Mapping[str, str]
) -> DowntimeCost:
    """Downtime hours x (labour rate x crew ratio + FOH rate) of the machine's work centre, by
    machine, reason and category. ``downtime`` comes from
    :func:`central.domain.time_accounting.downtime_hours` (planned stops are already excluded);
    the crew ratio is that of the order dispatched during the stop (``item_of_order``: work
    order -> item), 1 with no order. Rows are rounded to cents; totals add the rows."""
    unrounded: dict[tuple[str, str | None, DowntimeCategory], tuple[Decimal, Decimal]] = {}
    for row in downtime:
        centre = ctx.master.work_center(ctx.master.machine(row.machine).work_center)
        ratio = ONE
        if row.work_order is not None:
            if row.work_order not in item_of_order:
                raise InputError(f"downtime of {row.work_order}: its item is not given")
            ratio = ctx.card(item_of_order[row.work_order]).crew_ratio
        cost = row.hours * (centre.labor_rate * ratio + centre.foh_rate)
        key = (row.machine, row.reason, row.category)
        hours, amount = unrounded.get(key, (ZERO, ZERO))
        unrounded[key] = (hours + row.hours, amount + cost)
    rows = tuple(
        DowntimeCostRow(machine, reason, category, hours, to_cents(amount))
        for (machine, reason, category), (hours, amount) in sorted(unrounded.items(), key=lambda kv: str(kv[0]))
    )
    return DowntimeCost(rows, sum((r.hours for r in rows), ZERO), sum((r.cost for r in rows), ZERO))


@dataclass(frozen=True)
class ScrapRecord:
    """Scrap of one work order on one machine for one reason (qty summed over events)."""

    work_order: str
    machine: str
    reason: str | None
    qty: Decimal


@dataclass(frozen=True)
class OrderOutput:
    """A work order's item and good quantity in the window (the allowance base)."""

    work_order: str
    item: str
    good: Decimal


@dataclass(frozen=True)
class QualityRow:
    machine: str
    reason: str | None
    qty: Decimal
    amount: Decimal


@dataclass(frozen=True)
class CostOfQuality:
    rows: tuple[QualityRow, ...]
    normal: Decimal
    abnormal: Decimal
    total: Decimal


def cost_of_quality(
    ctx: PostingContext, scrap: Iterable[ScrapRecord], orders: Iterable[OrderOutput]
) -> CostOfQuality:
    """Scrap qty x standard cost per unit processed, by machine and reason. Per order, normal =
    min(scrap, normal spoilage x good) at that cost, abnormal = the rest (never negative here).
    Rows are rounded to cents and ``total`` adds them; ``abnormal`` = total - normal."""
    outputs = {o.work_order: o for o in orders}
    per_row: dict[tuple[str, str | None], tuple[Decimal, Decimal]] = {}
    scrap_by_order: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for record in scrap:
        if record.work_order not in outputs:
            raise InputError(f"scrap of {record.work_order}: the order's output is not given")
        card = ctx.card(outputs[record.work_order].item)
        key = (record.machine, record.reason)
        qty, amount = per_row.get(key, (ZERO, ZERO))
        per_row[key] = (qty + record.qty, amount + record.qty * card.per_unit_processed)
        scrap_by_order[record.work_order] += record.qty
    rows = tuple(
        QualityRow(machine, reason, qty, to_cents(amount))
        for (machine, reason), (qty, amount) in sorted(per_row.items(), key=lambda kv: str(kv[0]))
    )
    normal_unrounded = ZERO
    for order_id, scrapped in scrap_by_order.items():
        card = ctx.card(outputs[order_id].item)
        allowance = card.normal_spoilage * outputs[order_id].good
        normal_unrounded += min(scrapped, allowance) * card.per_unit_processed
    total = sum((r.amount for r in rows), ZERO)
    normal = min(to_cents(normal_unrounded), total)
    return CostOfQuality(rows, normal, total - normal, total)


@dataclass(frozen=True)
class Oee:
    """OEE of a machine over a window; ratios unrounded, ``rounded()`` gives 4 places."""

    availability: Decimal
    performance: Decimal
    quality: Decimal
    planned_time_h: Decimal
    run_time_h: Decimal
    good: Decimal
    scrap: Decimal

    @property
    def oee(self) -> Decimal:
        return self.availability * self.performance * self.quality

    def rounded(self) -> dict[str, Decimal]:
        """The report's ratios at 4 places, each rounded from its unrounded value."""
        return {
            "availability": to_ratio(self.availability),
            "performance": to_ratio(self.performance),
            "quality": to_ratio(self.quality),
            "oee": to_ratio(self.oee),
        }


def ideal_hours(ctx: PostingContext, processed_by_item: Mapping[str, Decimal]) -> Decimal:
    """Ideal cycle time x units processed, summed over the items run in the window."""
    return sum(
        (qty * ctx.master.routing(item).ideal_cycle_hours for item, qty in processed_by_item.items()), ZERO
    )


def oee(time: MachineTime, ideal: Decimal, good: Decimal, scrap: Decimal) -> Oee:
    """availability = run / (window - planned stops); performance = ideal hours / run;
    quality = good / (good + scrap). ``time`` from
    :func:`central.domain.time_accounting.machine_time`, ``ideal`` from :func:`ideal_hours`.
    A zero denominator gives 0."""
    return Oee(
        availability=divide(time.run_hours, time.planned_production_hours),
        performance=divide(ideal, time.run_hours),
        quality=divide(good, good + scrap),
        planned_time_h=time.planned_production_hours,
        run_time_h=time.run_hours,
        good=good,
        scrap=scrap,
    )
