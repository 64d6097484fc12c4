"""Operational records past a threshold: ``GET /quality-exceptions`` (a machine's scrap rate over
its rolling window) and ``GET /maintenance-requests`` (unplanned stops longer than their limit)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from central.entrypoints.api.deps import OffsetQuery, PrincipalDep, SessionDep
from central.entrypoints.api.schemas import ResponseBody
from central.service_layer.costing import operations

__all__ = ["router", "QualityExceptionOut", "QualityExceptionsOut", "MaintenanceRequestOut", "MaintenanceRequestsOut"]

router = APIRouter(tags=["ledger"])

Limit = Annotated[int, Query(ge=1, le=1000)]


class QualityExceptionOut(ResponseBody):
    """Rates are ratios at 4 places (decimal strings); ``reasons``: scrap quantity per reason code."""

    id: int
    machine: str
    work_center: str | None
    work_order: str | None
    status: str
    opened_at: str | None
    opened_event: int
    rate: str | None
    peak_rate: str | None
    scrap_qty: int
    window_units: int
    threshold: str | None
    clear_rate: str | None
    reasons: dict[str, Any]
    cleared_at: str | None
    cleared_event: int | None
    cleared_rate: str | None
    created: str | None


class QualityExceptionsOut(ResponseBody):
    quality_exceptions: list[QualityExceptionOut]


class MaintenanceRequestOut(ResponseBody):
    """An unplanned stop longer than its threshold; minutes are decimal strings with 2 places."""

    id: int
    machine: str
    work_center: str | None
    work_order: str | None
    state: str
    reason: str | None
    category: str
    stop_start: str | None
    stop_end: str | None
    minutes: str
    threshold_minutes: str
    start_event: int
    end_event: int
    status: str
    created: str | None


class MaintenanceRequestsOut(ResponseBody):
    maintenance_requests: list[MaintenanceRequestOut]


@router.get("/quality-exceptions", response_model=QualityExceptionsOut, response_model_exclude_unset=True)
def get_quality_exceptions(
    session: SessionDep, _who: PrincipalDep, machine: str | None = None,
    status: Literal["open", "cleared"] | None = None, limit: Limit = 100, offset: OffsetQuery = 0,
) -> object:
    """A machine's scrap rate over its rolling window of units reached its threshold."""
    return {"quality_exceptions": operations.list_quality_exceptions(session, machine, status, limit, offset)}


@router.get("/maintenance-requests", response_model=MaintenanceRequestsOut, response_model_exclude_unset=True)
def get_maintenance_requests(
    session: SessionDep, _who: PrincipalDep, machine: str | None = None, status: Literal["open"] | None = None,
    limit: Limit = 100, offset: OffsetQuery = 0,
) -> object:
    """Unplanned stops of a maintenance category longer than their threshold."""
    return {"maintenance_requests": operations.list_maintenance_requests(session, machine, status, limit, offset)}
