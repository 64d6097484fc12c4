"""Margin arithmetic of the console's margin report (issue 15): standard and actual margin per
good unit, and the margin leakage of a period by cause.

- **Standard margin** of a product = selling price - standard cost of a good unit (ACCOUNTING.md:
  the standard cost per unit processed x (1 + normal spoilage), what finished goods are valued at).
- **Actual cost of a good unit** of a closed order = (good units x standard cost of a good unit +
  the order's material usage, abnormal spoilage, labour efficiency and VOH efficiency variances)
  / good units; **actual margin** = price - that.
- **Margin leakage** maps every variance type of ACCOUNTING.md onto one cause
  (:data:`CAUSE_OF_VARIANCE`), so the causes add up to the variance report's total exactly.
  Normal spoilage is not a variance (it is inside the standard cost of a good unit); the report
  shows it beside the causes as cost of quality.

Pure functions over :class:`~decimal.Decimal`; unit costs and margins per unit keep 6 places,
money is rounded half-up to cents once, from the unrounded figure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType

from central.domain.money import ZERO, divide, to_cents, to_ratio, to_unit
from central.domain.roles import VarianceType

__all__ = [
    "LeakageCause",
    "CAUSE_OF_VARIANCE",
    "ORDER_VARIANCE_TYPES",
    "Leakage",
    "margin_leakage",
    "ProductMargin",
    "OrderMargin",
    "order_margin",
    "types_of",
]


class LeakageCause(StrEnum):
    """Why margin leaked, in the words of the people who act on it."""

    SCRAP = "scrap"
    USAGE = "usage"
    EFFICIENCY = "efficiency"
    IDLE_CAPACITY = "idle_capacity"
    SPENDING = "spending"
    PURCHASE_PRICE = "purchase_price"


CAUSE_OF_VARIANCE: Mapping[VarianceType, LeakageCause] = MappingProxyType(
    {
        VarianceType.ABNORMAL_SPOILAGE: LeakageCause.SCRAP,
        VarianceType.MATERIAL_USAGE: LeakageCause.USAGE,
        VarianceType.LABOR_EFFICIENCY: LeakageCause.EFFICIENCY,
        VarianceType.VOH_EFFICIENCY: LeakageCause.EFFICIENCY,
        VarianceType.LABOR_IDLE: LeakageCause.IDLE_CAPACITY,
        VarianceType.FOH_VOLUME: LeakageCause.IDLE_CAPACITY,
        VarianceType.LABOR_RATE: LeakageCause.SPENDING,
        VarianceType.VOH_SPENDING: LeakageCause.SPENDING,
        VarianceType.FOH_BUDGET: LeakageCause.SPENDING,
        VarianceType.MATERIAL_PRICE: LeakageCause.PURCHASE_PRICE,
    }
)
"""Every variance type -> its leakage cause (issue 15's mapping; each type has exactly one)."""

ORDER_VARIANCE_TYPES: tuple[VarianceType, ...] = (
    VarianceType.MATERIAL_USAGE,
    VarianceType.ABNORMAL_SPOILAGE,
    VarianceType.LABOR_EFFICIENCY,
    VarianceType.VOH_EFFICIENCY,
)
"""The variances that make an order's actual cost of a good unit (posted at order close, and
efficiency to date at a period close while the order is open)."""


def types_of(cause: LeakageCause) -> tuple[VarianceType, ...]:
    """The variance types of ``cause``, in the variance report's order."""
    return tuple(kind for kind in VarianceType if CAUSE_OF_VARIANCE[kind] is cause)


@dataclass(frozen=True)
class Leakage:
    """Margin leakage of a period: the amount per cause (every cause listed, zero included) from
    the net amount per variance type; positive = margin lost."""

    by_type: Mapping[VarianceType, Decimal]
    causes: Mapping[LeakageCause, Decimal]

    @property
    def total(self) -> Decimal:
        """The sum of the causes: the variance report's total for the same lines."""
        return sum(self.causes.values(), ZERO)


def margin_leakage(by_type: Mapping[VarianceType, Decimal]) -> Leakage:
    """Leakage by cause from the net variance per type (types left out count as zero)."""
    causes = {cause: ZERO for cause in LeakageCause}
    for kind, amount in by_type.items():
        causes[CAUSE_OF_VARIANCE[kind]] += amount
    full = {kind: by_type.get(kind, ZERO) for kind in VarianceType}
    return Leakage(MappingProxyType(full), MappingProxyType(causes))


def _ratio(margin: Decimal, price: Decimal) -> Decimal:
    return to_ratio(divide(margin, price))


@dataclass(frozen=True)
class ProductMargin:
    """Standard margin of one product at one price (``price`` None: no selling price in force)."""

    product: str
    standard_cost: Decimal
    price: Decimal | None

    @property
    def standard_margin(self) -> Decimal | None:
        """Price - standard cost of a good unit, per unit (6 places)."""
        return None if self.price is None else to_unit(self.price - self.standard_cost)

    @property
    def margin_ratio(self) -> Decimal | None:
        """Standard margin / price, to 4 places (None without a price)."""
        margin = self.standard_margin
        return None if margin is None or self.price is None else _ratio(margin, self.price)


@dataclass(frozen=True)
class OrderMargin:
    """Actual margin of one closed order.

    ``standard_cost`` is the standard cost of a good unit (6 places), ``variances`` the order's
    net amount (cents) of each type of :data:`ORDER_VARIANCE_TYPES`."""

    work_order: str
    product: str
    good_qty: Decimal
    standard_cost: Decimal
    price: Decimal | None
    variances: Mapping[VarianceType, Decimal] = field(default_factory=dict)

    @property
    def variance_total(self) -> Decimal:
        return sum(self.variances.values(), ZERO)

    @property
    def _actual_unrounded(self) -> Decimal:
        return self.good_qty * self.standard_cost + self.variance_total

    @property
    def actual_cost(self) -> Decimal:
        """Good units x standard cost of a good unit + the order's variances, in cents."""
        return to_cents(self._actual_unrounded)

    @property
    def actual_unit_cost(self) -> Decimal | None:
        """Actual cost of a good unit (6 places); None when the order made no good unit."""
        if self.good_qty == 0:
            return None
        return to_unit(divide(self._actual_unrounded, self.good_qty))

    @property
    def standard_margin(self) -> Decimal | None:
        return None if self.price is None else to_unit(self.price - self.standard_cost)

    @property
    def actual_margin(self) -> Decimal | None:
        """Price - actual cost of a good unit, per unit (6 places)."""
        unit = self.actual_unit_cost
        if self.price is None or unit is None:
            return None
        return to_unit(self.price - unit)

    @property
    def revenue(self) -> Decimal | None:
        """Good units x price, in cents (what the order's output sells for)."""
        return None if self.price is None else to_cents(self.good_qty * self.price)

    @property
    def actual_margin_total(self) -> Decimal | None:
        """Good units x price - actual cost, in cents (rounded once, from the unrounded figures)."""
        if self.price is None:
            return None
        return to_cents(self.good_qty * self.price - self._actual_unrounded)

    @property
    def actual_margin_ratio(self) -> Decimal | None:
        """Actual margin / price, to 4 places."""
        margin = self.actual_margin
        return None if margin is None or self.price is None else _ratio(margin, self.price)


def order_margin(
    work_order: str,
    product: str,
    good_qty: Decimal,
    standard_cost: Decimal,
    price: Decimal | None,
    by_type: Mapping[VarianceType, Decimal],
) -> OrderMargin:
    """:class:`OrderMargin` from the order's net variance per type; only the four order types of
    :data:`ORDER_VARIANCE_TYPES` count (every one listed, zero included)."""
    variances = {kind: by_type.get(kind, ZERO) for kind in ORDER_VARIANCE_TYPES}
    return OrderMargin(work_order, product, good_qty, standard_cost, price, MappingProxyType(variances))
