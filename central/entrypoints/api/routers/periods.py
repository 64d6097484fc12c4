"""Accounting periods: ``GET /periods``, ``POST /periods/{id}/close`` (a controller) and
``POST /periods/{id}/reopen`` (an admin asks, another person with the controller role approves)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import Field

from central.entrypoints.api.deps import Principal, PrincipalDep, SessionDep, require_role
from central.entrypoints.api.schemas import RequestBody
from central.service_layer.costing import closing
from central.service_layer.costing.periods import list_periods
from central.service_layer.governance.appliers import request_period_reopen

__all__ = ["router", "ReopenIn"]

router = APIRouter(tags=["ledger"])

Controller = Annotated[Principal, Depends(require_role("controller"))]


class ReopenIn(RequestBody):
    reason: str = Field(min_length=1, max_length=2000)


@router.get("/periods")
def get_periods(session: SessionDep, _who: PrincipalDep) -> dict[str, Any]:
    return {"periods": list_periods(session)}


@router.post("/periods/{period_id}/close")
def close_period(period_id: str, session: SessionDep, who: Controller) -> dict[str, Any]:
    return closing.close_period(session, period_id, who.user)


@router.post("/periods/{period_id}/reopen", status_code=202)
def post_period_reopen(period_id: str, body: ReopenIn, session: SessionDep, who: PrincipalDep) -> dict[str, Any]:
    """Admin only; the period reopens when another person with the controller role approves."""
    return request_period_reopen(session, who, period_id, body.reason)
