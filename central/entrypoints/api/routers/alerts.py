"""Alerts and their lifecycle (issue 14): ``GET /alerts`` (filters: open, status, kind, severity,
plant, entity, assignee), ``GET /alerts/{id}``, ``POST /alerts/{id}/ack`` (any role),
``POST /alerts/{id}/assign``, ``/resolve`` and ``/dismiss`` (controllers). Every change is in the
audit log and queued for the webhooks (``central.service_layer.alerts``)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field

from central.domain.commands import AcknowledgeAlert, AssignAlert, DismissAlert, ResolveAlert
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
from central.entrypoints.api.schemas import RESPONSE_CONFIG, RequestBody, ResponseBody
from central.service_layer import alerts

__all__ = ["router", "AlertOut", "AlertsOut", "AlertAckedOut", "CommentIn", "AssignIn"]

router = APIRouter(tags=["ingest"])

Controller = Annotated[Principal, Depends(require_role("controller"))]
Filter = Annotated[str | None, Query(min_length=1, max_length=64)]


class AlertOut(alerts.AlertView):
    """The service's :class:`~central.service_layer.alerts.AlertView`, validated as strictly as
    every response (one definition of the shape)."""

    __pydantic_config__ = RESPONSE_CONFIG  # type: ignore[misc]


class AlertsOut(ResponseBody):
    alerts: list[AlertOut]
    next: int | None


class AlertAckedOut(ResponseBody):
    alert: AlertOut


class CommentIn(RequestBody):
    comment: str | None = Field(default=None, max_length=2000)


class AssignIn(RequestBody):
    assignee: str = Field(min_length=1, max_length=64)
    comment: str | None = Field(default=None, max_length=2000)


@router.get("/alerts", response_model=AlertsOut, response_model_exclude_unset=True)
def get_alerts(request: Request, session: SessionDep, _who: PrincipalDep, open: bool = False,
               status: Literal["open", "acknowledged", "resolved", "dismissed"] | None = None,
               kind: Filter = None, severity: Filter = None, plant: Filter = None, entity: Filter = None,
               assignee: Filter = None, limit: LimitQuery | None = None, after: AfterQuery = None) -> object:
    return alerts.list_alerts(session, limit=page_size(request, limit), after=after, open_only=open, status=status,
                              kind=kind, severity=severity, plant=plant, entity=entity, assignee=assignee)


@router.get("/alerts/{alert_id}", response_model=AlertAckedOut, response_model_exclude_unset=True)
def get_alert(alert_id: IdPath, session: SessionDep, _who: PrincipalDep) -> object:
    return {"alert": alerts.alert_view(alerts.get_alert(session, alert_id))}


@router.post("/alerts/{alert_id}/ack", response_model=AlertAckedOut, response_model_exclude_unset=True)
def post_alert_ack(alert_id: IdPath, uow: UnitOfWorkDep, who: PrincipalDep, body: CommentIn | None = None) -> object:
    comment = body.comment if body is not None else None
    cmd = AcknowledgeAlert(alert_id, who.user, comment, who.role, who.token_id)
    return {"alert": alerts.alert_view(alerts.acknowledge_alert(cmd, uow))}


@router.post("/alerts/{alert_id}/assign", response_model=AlertAckedOut, response_model_exclude_unset=True)
def post_alert_assign(alert_id: IdPath, body: AssignIn, uow: UnitOfWorkDep, who: Controller) -> object:
    cmd = AssignAlert(alert_id, body.assignee, who.user, body.comment, who.role, who.token_id)
    return {"alert": alerts.alert_view(alerts.assign_alert(cmd, uow))}


@router.post("/alerts/{alert_id}/resolve", response_model=AlertAckedOut, response_model_exclude_unset=True)
def post_alert_resolve(alert_id: IdPath, uow: UnitOfWorkDep, who: Controller, body: CommentIn | None = None) -> object:
    comment = body.comment if body is not None else None
    cmd = ResolveAlert(alert_id, who.user, comment, who.role, who.token_id)
    return {"alert": alerts.alert_view(alerts.resolve_alert(cmd, uow))}


@router.post("/alerts/{alert_id}/dismiss", response_model=AlertAckedOut, response_model_exclude_unset=True)
def post_alert_dismiss(alert_id: IdPath, uow: UnitOfWorkDep, who: Controller, body: CommentIn | None = None) -> object:
    comment = body.comment if body is not None else None
    cmd = DismissAlert(alert_id, who.user, comment, who.role, who.token_id)
    return {"alert": alerts.alert_view(alerts.dismiss_alert(cmd, uow))}
