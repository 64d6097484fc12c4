"""Accounting periods: ``GET /periods``, ``POST /periods/{id}/close`` (a controller) and
``POST /periods/{id}/reopen`` (an admin asks, another person with the controller role approves)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import Field

from central.entrypoints.api.deps import Principal, PrincipalDep, SessionDep, require_role
from central.entrypoints.api.routers.approvals import PendingApprovalOut
from central.entrypoints.api.schemas import RequestBody, ResponseBody
from central.service_layer.costing import closing
from central.service_layer.costing.periods import list_periods
from central.service_layer.governance.appliers import request_period_reopen

__all__ = ["router", "ReopenIn", "PeriodOut", "PeriodsOut", "ReopenRequestedOut"]

router = APIRouter(tags=["ledger"])

Controller = Annotated[Principal, Depends(require_role("controller"))]


class ReopenIn(RequestBody):
    reason: str = Field(min_length=1, max_length=2000)


class PeriodOut(ResponseBody):
    """An accounting period; ``start`` and ``end`` are ISO dates (``end`` inclusive)."""

    id: str
    entity: str | None
    start: str
    end: str
    status: str
    closed_at: str | None
    closed_by: str | None


class PeriodsOut(ResponseBody):
    periods: list[PeriodOut]


class ReopenRequestedOut(ResponseBody):
    """The period (still closed) and the approval its reopening waits for."""

    period: str
    status: str
    approval: PendingApprovalOut


@router.get("/periods", response_model=PeriodsOut, response_model_exclude_unset=True)
def get_periods(session: SessionDep, _who: PrincipalDep) -> object:
    return {"periods": list_periods(session)}


@router.post("/periods/{period_id}/close")
def close_period(period_id: str, session: SessionDep, who: Controller) -> dict[str, Any]:
    return closing.close_period(session, period_id, who.user)


@router.post("/periods/{period_id}/reopen", status_code=202, response_model=ReopenRequestedOut,
             response_model_exclude_unset=True)
def post_period_reopen(period_id: str, body: ReopenIn, session: SessionDep, who: PrincipalDep) -> object:
    """Admin only; the period reopens when another person with the controller role approves."""
    return request_period_reopen(session, who, period_id, body.reason)
