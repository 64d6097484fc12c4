"""Decision support (issue 14): ``GET /recommendations`` (filters: status, metric, machine, item,
work_order, plant), ``GET /recommendations/{id}``, ``POST /recommendations/{id}/ack`` (any role),
``POST /recommendations/{id}/dismiss`` (controllers; a reason: ``normal``, ``one_off`` or
``data_error``) and ``/escalate`` (controllers; raises an ``anomaly`` alert); the work-order risk
score: ``GET /work-orders/{id}/risk`` and ``GET /reports/order-risk`` (every running order).
Every change is in the audit log (``central.service_layer.recommendations``). Nothing here posts
or changes a schedule."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field

from central.domain.anomaly import DismissReason
from central.domain.commands import AcknowledgeRecommendation, DismissRecommendation, EscalateRecommendation
from central.entrypoints.api.deps import (
    AfterQuery,
    IdPath,
    LimitQuery,
    Principal,
    PrincipalDep,
    SessionDep,
    UnitOfWorkDep,
    require_role,
)
from central.entrypoints.api.paging import page_size
from central.entrypoints.api.schemas import RequestBody, ResponseBody
from central.service_layer import recommendations as recs

__all__ = ["router", "RecommendationOut", "RecommendationsOut", "RecommendationOneOut", "RiskOut", "RiskReportOut"]

router = APIRouter(tags=["recommendations"])

Controller = Annotated[Principal, Depends(require_role("controller"))]
Filter = Annotated[str | None, Query(min_length=1, max_length=64)]


class RecommendationOut(ResponseBody):
    id: int
    kind: str
    metric: str
    key: str
    machine: str | None
    item: str | None
    component: str | None
    work_order: str | None
    plant: str | None
    message: str
    value: str
    threshold: str
    baseline: Any
    evidence: Any
    count: int
    status: str
    created: str | None
    last_seen: str | None
    decided_at: str | None
    decided_by: str | None
    reason: str | None
    comment: str | None
    alert_id: int | None


class RecommendationsOut(ResponseBody):
    recommendations: list[RecommendationOut]
    next: int | None


class RecommendationOneOut(ResponseBody):
    recommendation: RecommendationOut


class CommentIn(RequestBody):
    comment: str | None = Field(default=None, max_length=2000)


class DismissIn(RequestBody):
    reason: DismissReason
    comment: str | None = Field(default=None, max_length=2000)


class RiskReasonOut(ResponseBody):
    code: str
    points: int
    message: str
    suggested_action: str
    needs_approval: bool


class RiskOut(ResponseBody):
    work_order: str
    score: int
    level: str
    reasons: list[RiskReasonOut]
    projected_finish: str | None
    due: str | None
    projected_cost: str | None
    standard_cost: str | None
    projected_run_hours: str | None
    standard_run_hours: str | None
    figures: dict[str, str]


class RiskReportOut(ResponseBody):
    as_of: str
    orders: list[RiskOut]


def _now() -> datetime:
    return datetime.now(UTC)


@router.get("/recommendations", response_model=RecommendationsOut, response_model_exclude_unset=True)
def get_recommendations(request: Request, session: SessionDep, _who: PrincipalDep,
                        status: Literal["open", "acknowledged", "dismissed", "escalated"] | None = None,
                        metric: Literal["scrap_rate", "cycle_time", "labour_per_unit", "material_per_unit"] | None
                        = None, machine: Filter = None, item: Filter = None, work_order: Filter = None,
                        plant: Filter = None, limit: LimitQuery | None = None, after: AfterQuery = None) -> object:
    return recs.list_recommendations(session, limit=page_size(request, limit), after=after, status=status,
                                     metric=metric, machine=machine, item=item, work_order=work_order, plant=plant)


@router.get("/recommendations/{rec_id}", response_model=RecommendationOneOut, response_model_exclude_unset=True)
def get_recommendation(rec_id: IdPath, session: SessionDep, _who: PrincipalDep) -> object:
    return {"recommendation": recs.view(recs.get(session, rec_id))}


@router.post("/recommendations/{rec_id}/ack", response_model=RecommendationOneOut,
             response_model_exclude_unset=True)
def post_recommendation_ack(rec_id: IdPath, uow: UnitOfWorkDep, who: PrincipalDep,
                            body: CommentIn | None = None) -> object:
    cmd = AcknowledgeRecommendation(rec_id, who.user, body.comment if body is not None else None, who.role,
                                    who.token_id)
    return {"recommendation": recs.view(recs.acknowledge_recommendation(cmd, uow))}


@router.post("/recommendations/{rec_id}/dismiss", response_model=RecommendationOneOut,
             response_model_exclude_unset=True)
def post_recommendation_dismiss(rec_id: IdPath, body: DismissIn, uow: UnitOfWorkDep, who: Controller) -> object:
    cmd = DismissRecommendation(rec_id, body.reason, who.user, body.comment, who.role, who.token_id)
    return {"recommendation": recs.view(recs.dismiss_recommendation(cmd, uow))}


@router.post("/recommendations/{rec_id}/escalate", response_model=RecommendationOneOut,
             response_model_exclude_unset=True)
def post_recommendation_escalate(rec_id: IdPath, uow: UnitOfWorkDep, who: Controller,
                                 body: CommentIn | None = None) -> object:
    cmd = EscalateRecommendation(rec_id, who.user, body.comment if body is not None else None, who.role,
                                 who.token_id)
    return {"recommendation": recs.view(recs.escalate_recommendation(cmd, uow))}


@router.get("/work-orders/{order_id}/risk", response_model=RiskOut, response_model_exclude_unset=True)
def get_order_risk(order_id: str, session: SessionDep, _who: PrincipalDep) -> object:
    return recs.order_risk(session, order_id, _now())


@router.get("/reports/order-risk", response_model=RiskReportOut, response_model_exclude_unset=True)
def get_order_risk_report(session: SessionDep, _who: PrincipalDep) -> object:
    return recs.risk_report(session, _now())
