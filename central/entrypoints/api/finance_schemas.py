"""Response schemas of the finance reports the console's Margin and Executive pages show:
``GET /reports/margin`` and ``GET /reports/executive-summary`` (docs/finance-api.md).

Amounts are decimal strings: money with 2 places, unit costs, prices and margins per unit with 6,
ratios with 4; a figure that cannot exist (no selling price in force, no good unit) is ``null``."""

from __future__ import annotations

from central.entrypoints.api.schemas import ResponseBody

__all__ = [
    "ProductMarginOut",
    "OrderMarginOut",
    "LeakageCauseOut",
    "CostOfQualityTotalsOut",
    "PeriodLeakageOut",
    "MarginOut",
    "FiguresOut",
    "WorkingCapitalOut",
    "ScopeSummaryOut",
    "ExecutiveSummaryOut",
]


class ProductMarginOut(ResponseBody):
    """Standard margin of a product at the price in force on the report's day (``as_of``)."""

    product: str
    entity: str | None
    currency: str
    standard_cost: str
    price: str | None
    price_valid_from: str | None
    standard_margin: str | None
    standard_margin_ratio: str | None


class OrderMarginOut(ResponseBody):
    """Actual margin of a closed order: ``actual_unit_cost`` = (``good_qty`` x ``standard_cost`` +
    ``variance_total``) / ``good_qty``; ``variances`` holds the four order variance types."""

    work_order: str
    product: str
    period: str | None
    currency: str
    good_qty: str
    standard_cost: str
    variances: dict[str, str]
    variance_total: str
    actual_cost: str
    actual_unit_cost: str | None
    price: str | None
    price_valid_from: str | None
    standard_margin: str | None
    actual_margin: str | None
    actual_margin_ratio: str | None
    revenue: str | None
    actual_margin_total: str | None


class LeakageCauseOut(ResponseBody):
    cause: str
    amount: str
    variance_types: list[str]


class CostOfQualityTotalsOut(ResponseBody):
    normal: str
    abnormal: str
    total: str


class PeriodLeakageOut(ResponseBody):
    """Margin leakage of one period: ``total`` = the sum of ``causes`` = the sum of ``variances``."""

    period: str
    causes: list[LeakageCauseOut]
    total: str
    variances: dict[str, str]
    cost_of_quality: CostOfQualityTotalsOut


class MarginOut(ResponseBody):
    period: str | None
    plant: str | None
    product: str | None
    as_of: str
    products: list[ProductMarginOut]
    orders: list[OrderMarginOut]
    periods: list[PeriodLeakageOut]


class FiguresOut(ResponseBody):
    """The executive figures of one scope over one window ``[start, end)``; ratios ``null`` for a
    scope without machines, ``margin`` ``null`` when no product made in the window has a price."""

    window: str
    start: str
    end: str
    good: str
    scrap: str
    oee: str | None
    availability: str | None
    performance: str | None
    quality: str | None
    cost_of_quality: str
    variances: str
    margin: str | None


class WorkingCapitalOut(ResponseBody):
    wip: str
    finished_goods: str
    total: str


class ScopeSummaryOut(ResponseBody):
    """One plant (``kind`` = ``plant``) or entity (``entity``, all its plants): today against
    yesterday, this period against the last; working capital now and at the last period's end."""

    kind: str
    id: str
    entity: str | None
    currency: str
    working_capital: WorkingCapitalOut
    working_capital_last_period: WorkingCapitalOut | None
    today: FiguresOut
    yesterday: FiguresOut
    this_period: FiguresOut | None
    last_period: FiguresOut | None


class ExecutiveSummaryOut(ResponseBody):
    as_of: str
    this_period: str | None
    last_period: str | None
    scopes: list[ScopeSummaryOut]
