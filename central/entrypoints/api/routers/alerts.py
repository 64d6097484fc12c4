"""Alerts: ``GET /alerts`` (open ones with ``open=true``) and ``POST /alerts/{id}/ack``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request

from central.entrypoints.api.deps import AfterQuery, IdPath, LimitQuery, PrincipalDep, SessionDep
from central.entrypoints.api.paging import page_size
from central.entrypoints.api.schemas import ResponseBody
from central.service_layer.ingest import operations, queries

__all__ = ["router", "AlertOut", "AlertsOut", "AlertAckedOut"]

router = APIRouter(tags=["ingest"])


class AlertOut(ResponseBody):
    id: int
    kind: str
    severity: str
    key: str
    message: str
    detail: Any
    count: int
    created: str | None
    last_seen: str | None
    acked_at: str | None
    acked_by: str | None


class AlertsOut(ResponseBody):
    alerts: list[AlertOut]
    next: int | None


class AlertAckedOut(ResponseBody):
    alert: AlertOut


@router.get("/alerts", response_model=AlertsOut, response_model_exclude_unset=True)
def get_alerts(request: Request, session: SessionDep, _who: PrincipalDep, open: bool = False,
               kind: str | None = None, limit: LimitQuery | None = None, after: AfterQuery = None) -> object:
    return queries.list_alerts(session, limit=page_size(request, limit), after=after, open_only=open, kind=kind)


@router.post("/alerts/{alert_id}/ack", response_model=AlertAckedOut, response_model_exclude_unset=True)
def post_alert_ack(alert_id: IdPath, session: SessionDep, who: PrincipalDep) -> object:
    return {"alert": queries.alert_dict(operations.ack_alert(session, alert_id, who.user, datetime.now(UTC)))}
