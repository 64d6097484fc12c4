"""Reports: variances, inventory valuation, WIP, downtime cost, cost of quality, OEE.
Windows: ``period=`` or ``from=``/``to=`` (ISO date or timestamp; a date ``to`` is inclusive)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import Field

from central.entrypoints.api.deps import Principal, PrincipalDep, SessionDep, require_role
from central.entrypoints.api.finance_schemas import ExecutiveSummaryOut, MarginOut
from central.entrypoints.api.schemas import ResponseBody
from central.service_layer.costing import executive, reports
from central.service_layer.costing import margin as margin_service
from central.service_layer.costing.master_data import snapshot

__all__ = [
    "router", "VarianceLineOut", "VariancesOut", "ValuationLineOut", "InventoryValuationOut", "WipLineOut", "WipOut",
    "DowntimeLineOut", "DowntimeOut", "QualityCostLineOut", "CostOfQualityOut", "OeeOut",
]

router = APIRouter(prefix="/reports", tags=["reports"])

From = Annotated[str | None, Query(alias="from", description="ISO date or timestamp (window start)")]
To = Annotated[str | None, Query(alias="to", description="ISO date (inclusive) or timestamp (window end)")]


class VarianceLineOut(ResponseBody):
    """One variance (money string, positive = unfavourable); a dimension that is not set is absent."""

    type: str
    amount: str
    item: str | None = None
    work_center: str | None = None
    work_order: str | None = None
    reason: str | None = None


class VariancesOut(ResponseBody):
    variances: list[VarianceLineOut]
    total: str


class ValuationLineOut(ResponseBody):
    """An item on hand: ``unit_cost`` (6 places) x ``qty`` = ``value``; ``difference`` = value - ledger."""

    item: str
    role: str
    unit_cost: str
    qty: str
    value: str
    ledger: str
    difference: str


class InventoryValuationOut(ResponseBody):
    rows: list[ValuationLineOut]
    total: str
    ledger: str
    difference: str


class WipLineOut(ResponseBody):
    work_order: str | None
    status: str | None
    amount: str


class WipOut(ResponseBody):
    rows: list[WipLineOut]
    total: str


class DowntimeLineOut(ResponseBody):
    machine: str
    reason: str | None
    category: str
    hours: str
    cost: str


class DowntimeOut(ResponseBody):
    rows: list[DowntimeLineOut]
    total_hours: str
    total_cost: str


class QualityCostLineOut(ResponseBody):
    machine: str
    reason: str | None
    qty: str
    amount: str


class CostOfQualityOut(ResponseBody):
    rows: list[QualityCostLineOut]
    normal: str
    abnormal: str
    total: str


class OeeOut(ResponseBody):
    """Ratios at 4 decimal places, hours at 4; ``from``/``to`` the window actually measured (UTC)."""

    machine: str | None
    from_: str = Field(alias="from")
    to: str
    availability: str
    performance: str
    quality: str
    oee: str
    planned_time_h: str
    run_time_h: str
    good: str
    scrap: str


def _window(session: Any, period: str | None, start: str | None, end: str | None) -> reports.Window:
    return reports.window(session, snapshot(session), period, start, end)


@router.get("/variances", response_model=VariancesOut, response_model_exclude_unset=True)
def variances(
    session: SessionDep, _who: PrincipalDep, period: str | None = None, work_order: str | None = None,
    work_center: str | None = None,
) -> object:
    return reports.variances(session, period, work_order, work_center)


@router.get("/inventory-valuation", response_model=InventoryValuationOut, response_model_exclude_unset=True)
def inventory_valuation(session: SessionDep, _who: PrincipalDep) -> object:
    return reports.inventory_valuation(session)


@router.get("/wip", response_model=WipOut, response_model_exclude_unset=True)
def wip(session: SessionDep, _who: PrincipalDep) -> object:
    return reports.wip(session)


@router.get("/downtime", response_model=DowntimeOut, response_model_exclude_unset=True)
def downtime(
    session: SessionDep, _who: PrincipalDep, machine: str | None = None, period: str | None = None,
    start: From = None, end: To = None,
) -> object:
    return reports.downtime(session, _window(session, period, start, end), machine)


@router.get("/cost-of-quality", response_model=CostOfQualityOut, response_model_exclude_unset=True)
def cost_of_quality(
    session: SessionDep, _who: PrincipalDep, machine: str | None = None, period: str | None = None,
    start: From = None, end: To = None,
) -> object:
    return reports.cost_of_quality(session, _window(session, period, start, end), machine)


@router.get("/oee", response_model=OeeOut, response_model_exclude_unset=True)
def oee(
    session: SessionDep, _who: PrincipalDep, machine: str | None = None, period: str | None = None,
    start: From = None, end: To = None,
) -> object:
    return reports.oee(session, _window(session, period, start, end), machine)


FinanceReader = Annotated[Principal, Depends(require_role("planner", "controller", "auditor", "executive"))]
"""Margin and executive summary: planner, controller, auditor, executive (and admin), issue 15."""


@router.get("/margin", response_model=MarginOut, response_model_exclude_unset=True)
def margin(
    session: SessionDep, _who: FinanceReader, period: str | None = None, plant: str | None = None,
    product: str | None = None,
) -> object:
    """Standard margin per product, actual margin per closed order, leakage by cause per period
    (docs/finance-api.md)."""
    return margin_service.margin_data(margin_service.margin_report(session, period, plant, product))


@router.get("/executive-summary", response_model=ExecutiveSummaryOut, response_model_exclude_unset=True)
def executive_summary(session: SessionDep, _who: FinanceReader) -> object:
    """Per plant and entity: output, OEE, cost of quality, variances, margin, WIP and finished
    goods; today against yesterday, this period against the last (docs/finance-api.md)."""
    return executive.executive_summary_data(executive.executive_summary(session))
