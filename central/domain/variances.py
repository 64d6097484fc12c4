"""The variance formulas of ACCOUNTING.md, "Variances" (positive = unfavourable = debit).

Pure arithmetic over a standard cost card and quantities; every function returns cents,
rounded half-up once from the unrounded formula. The closes in :mod:`central.domain.order_close`
and :mod:`central.domain.period_close` post these amounts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from central.domain.costing import StandardCost
from central.domain.master_data import IssueMethod, MasterData, WorkCentre
from central.domain.money import ZERO, to_cents


def normal_spoilage_allowance(card: StandardCost, good: Decimal) -> Decimal:
    """Scrap the standard allows for ``good`` units: normal spoilage fraction x good qty."""
    return card.normal_spoilage * good


def issued_quantities(
    master: MasterData, card: StandardCost, issued: Mapping[str, Decimal], processed: Decimal
) -> dict[str, Decimal]:
    """Quantity issued per component: manual issues (net of returns) plus, for ``backflush``
    items, the BOM quantity of every unit processed. Components issued but not in the BOM appear
    too (their standard quantity is zero)."""
    totals = {line.item: issued.get(line.item, ZERO) for line in card.materials}
    for item, qty in issued.items():
        totals.setdefault(item, qty)
    for line in card.materials:
        if master.item(line.item).issue is IssueMethod.BACKFLUSH:
            totals[line.item] += processed * line.qty
    return totals


def material_usage(
    master: MasterData,
    card: StandardCost,
    issued: Mapping[str, Decimal],
    processed: Decimal,
    unit_cost: Mapping[str, Decimal],
) -> dict[str, Decimal]:
    """Per component: (qty issued - SQ) x standard price, SQ = units processed x BOM qty.

    ``issued`` is the manual net issue per component (backflush is added here),
    ``unit_cost`` the standard price (raw) or good-unit cost (semi) of every component issued.
    """
    result: dict[str, Decimal] = {}
    for item, qty in issued_quantities(master, card, issued, processed).items():
        standard_qty = processed * card.component_qty(item)
        result[item] = to_cents((qty - standard_qty) * unit_cost[item])
    return result


def abnormal_spoilage(card: StandardCost, good: Decimal, scrap: Decimal) -> Decimal:
    """(scrap - normal spoilage x good) x standard cost per unit processed; negative when scrap
    stayed below the allowance."""
    return to_cents((scrap - normal_spoilage_allowance(card, good)) * card.per_unit_processed)


def labor_efficiency(card: StandardCost, processed: Decimal, run_hours: Decimal) -> Decimal:
    """(RH x crew ratio - SH) x labour rate; ``run_hours`` are machine run hours of the order,
    SH = units processed x labour hours per unit."""
    return to_cents((run_hours * card.crew_ratio - processed * card.labor_hours) * card.labor_rate)


def voh_efficiency(card: StandardCost, processed: Decimal, run_hours: Decimal) -> Decimal:
    """(RH - SH) x VOH rate; SH = units processed x machine hours per unit."""
    return to_cents((run_hours - processed * card.machine_hours) * card.voh_rate)


def labor_rate(centre: WorkCentre, booked_amount: Decimal, paid_hours: Decimal) -> Decimal:
    """Booked labour amount - paid hours x standard labour rate."""
    return to_cents(booked_amount - paid_hours * centre.labor_rate)


def labor_idle(centre: WorkCentre, paid_hours: Decimal, run_labor_hours: Decimal) -> Decimal:
    """(paid hours - run labour hours in the period) x standard labour rate (all rows together)."""
    return to_cents((paid_hours - run_labor_hours) * centre.labor_rate)


def idle_row(centre: WorkCentre, downtime_hours: Decimal, crew_ratio: Decimal) -> Decimal:
    """One labour idle row: downtime hours x crew ratio x labour rate."""
    return to_cents(downtime_hours * crew_ratio * centre.labor_rate)


def voh_spending(centre: WorkCentre, actual_voh: Decimal, run_machine_hours: Decimal) -> Decimal:
    """Actual VOH - run machine hours in the period x VOH rate."""
    return to_cents(actual_voh - run_machine_hours * centre.voh_rate)


def foh_budget(centre: WorkCentre, actual_foh: Decimal) -> Decimal:
    """Actual FOH - FOH budget of the period."""
    return to_cents(actual_foh - centre.foh_budget)


def foh_volume(centre: WorkCentre, standard_machine_hours: Decimal) -> Decimal:
    """FOH budget - FOH applied (standard machine hours of the period x FOH rate)."""
    return to_cents(centre.foh_budget - standard_machine_hours * centre.foh_rate)


@dataclass(frozen=True)
class OrderVarianceAmounts:
    """The close variances of one order, in cents (cumulative, not yet netted with what posted)."""

    material_usage: Mapping[str, Decimal]
    abnormal_spoilage: Decimal
    labor_efficiency: Decimal
    voh_efficiency: Decimal

    @property
    def total(self) -> Decimal:
        return sum(self.material_usage.values(), ZERO) + (
            self.abnormal_spoilage + self.labor_efficiency + self.voh_efficiency
        )
