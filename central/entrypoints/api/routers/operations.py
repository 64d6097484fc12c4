"""Operational records past a threshold: ``GET /quality-exceptions`` (a machine's scrap rate over
its rolling window) and ``GET /maintenance-requests`` (unplanned stops longer than their limit)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from central.entrypoints.api.deps import OffsetQuery, PrincipalDep, SessionDep
from central.service_layer.costing import operations

__all__ = ["router"]

router = APIRouter(tags=["ledger"])

Limit = Annotated[int, Query(ge=1, le=1000)]


@router.get("/quality-exceptions")
def get_quality_exceptions(
    session: SessionDep, _who: PrincipalDep, machine: str | None = None,
    status: Literal["open", "cleared"] | None = None, limit: Limit = 100, offset: OffsetQuery = 0,
) -> dict[str, Any]:
    """A machine's scrap rate over its rolling window of units reached its threshold."""
    return {"quality_exceptions": operations.list_quality_exceptions(session, machine, status, limit, offset)}


@router.get("/maintenance-requests")
def get_maintenance_requests(
    session: SessionDep, _who: PrincipalDep, machine: str | None = None, status: Literal["open"] | None = None,
    limit: Limit = 100, offset: OffsetQuery = 0,
) -> dict[str, Any]:
    """Unplanned stops of a maintenance category longer than their threshold."""
    return {"maintenance_requests": operations.list_maintenance_requests(session, machine, status, limit, offset)}
