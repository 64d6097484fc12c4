"""Accounting periods: ``GET /periods``, ``POST /periods/{id}/close`` (a controller) and
``POST /periods/{id}/reopen`` (an admin asks, another person with the controller role approves)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import Field

from central.domain.commands import ClosePeriod, RequestPeriodReopen
from central.entrypoints.api.deps import Principal, PrincipalDep, SessionDep, UnitOfWorkDep, require_role
from central.entrypoints.api.routers.approvals import PendingApprovalOut
from central.entrypoints.api.schemas import RESPONSE_CONFIG, RequestBody, ResponseBody, response_body_of
from central.service_layer.costing import closing
from central.service_layer.costing.periods import PeriodView, list_periods
from central.service_layer.governance.appliers import request_reopen
from central.service_layer.governance.seal import SealView

__all__ = [
    "router", "ReopenIn", "PeriodOut", "PeriodsOut", "ReopenRequestedOut", "CentreCloseOut", "LedgerSealOut",
    "PeriodClosedOut",
]

router = APIRouter(tags=["ledger"])

Controller = Annotated[Principal, Depends(require_role("controller"))]


class ReopenIn(RequestBody):
    reason: str = Field(min_length=1, max_length=2000)


class PeriodOut(PeriodView):
    """The service's :class:`~central.service_layer.costing.periods.PeriodView` (one definition)."""

    __pydantic_config__ = RESPONSE_CONFIG  # type: ignore[misc]


class PeriodsOut(ResponseBody):
    periods: list[PeriodOut]


class ReopenRequestedOut(ResponseBody):
    """The period (still closed) and the approval its reopening waits for."""

    period: str
    status: str
    approval: PendingApprovalOut


class CentreCloseOut(closing.CentreClose):
    """The service's :class:`~central.service_layer.costing.closing.CentreClose` (one definition)."""

    __pydantic_config__ = RESPONSE_CONFIG  # type: ignore[misc]


class LedgerSealOut(SealView):
    """The service's :class:`~central.service_layer.governance.seal.SealView` (one definition)."""

    __pydantic_config__ = RESPONSE_CONFIG  # type: ignore[misc]


PeriodClosedOut = response_body_of(closing.PeriodClosed, "PeriodClosedOut", work_centers=dict[str, CentreCloseOut],
                                   seals=list[LedgerSealOut])


@router.get("/periods", response_model=PeriodsOut, response_model_exclude_unset=True)
def get_periods(session: SessionDep, _who: PrincipalDep) -> object:
    return {"periods": list_periods(session)}


@router.post("/periods/{period_id}/close", response_model=PeriodClosedOut, response_model_exclude_unset=True)
def close_period(period_id: str, uow: UnitOfWorkDep, who: Controller) -> object:
    return closing.close_accounting_period(ClosePeriod(period_id, who.user), uow)


@router.post("/periods/{period_id}/reopen", status_code=202, response_model=ReopenRequestedOut,
             response_model_exclude_unset=True)
def post_period_reopen(period_id: str, body: ReopenIn, uow: UnitOfWorkDep, who: PrincipalDep) -> object:
    """Admin only; the period reopens when another person with the controller role approves."""
    return request_reopen(RequestPeriodReopen(period_id, body.reason, who.user, who.role, who.token_id), uow)
