"""Reports: variances, inventory valuation, WIP, downtime cost, cost of quality, OEE.
Windows: ``period=`` or ``from=``/``to=`` (ISO date or timestamp; a date ``to`` is inclusive)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from central.entrypoints.api.deps import Principal, PrincipalDep, SessionDep, require_role
from central.entrypoints.api.finance_schemas import ExecutiveSummaryOut, MarginOut
from central.service_layer.costing import executive, reports
from central.service_layer.costing import margin as margin_service
from central.service_layer.costing.master_data import snapshot

__all__ = ["router"]

router = APIRouter(prefix="/reports", tags=["reports"])

From = Annotated[str | None, Query(alias="from", description="ISO date or timestamp (window start)")]
To = Annotated[str | None, Query(alias="to", description="ISO date (inclusive) or timestamp (window end)")]


def _window(session: Any, period: str | None, start: str | None, end: str | None) -> reports.Window:
    return reports.window(session, snapshot(session), period, start, end)


@router.get("/variances")
def variances(
    session: SessionDep, _who: PrincipalDep, period: str | None = None, work_order: str | None = None,
    work_center: str | None = None,
) -> dict[str, Any]:
    return reports.variances(session, period, work_order, work_center)


@router.get("/inventory-valuation")
def inventory_valuation(session: SessionDep, _who: PrincipalDep) -> dict[str, Any]:
    return reports.inventory_valuation(session)


@router.get("/wip")
def wip(session: SessionDep, _who: PrincipalDep) -> dict[str, Any]:
    return reports.wip(session)


@router.get("/downtime")
def downtime(
    session: SessionDep, _who: PrincipalDep, machine: str | None = None, period: str | None = None,
    start: From = None, end: To = None,
) -> dict[str, Any]:
    return reports.downtime(session, _window(session, period, start, end), machine)


@router.get("/cost-of-quality")
def cost_of_quality(
    session: SessionDep, _who: PrincipalDep, machine: str | None = None, period: str | None = None,
    start: From = None, end: To = None,
) -> dict[str, Any]:
    return reports.cost_of_quality(session, _window(session, period, start, end), machine)


@router.get("/oee")
def oee(
    session: SessionDep, _who: PrincipalDep, machine: str | None = None, period: str | None = None,
    start: From = None, end: To = None,
) -> dict[str, Any]:
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
