"""Webhooks (issue 14), admins only: subscribe a URL to alert kinds and a minimum severity, list,
deactivate, and read the delivery log."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import Field

from central.domain.commands import CreateWebhook, DeactivateWebhook
from central.entrypoints.api.deps import IdPath, Principal, SessionDep, UnitOfWorkDep, require_role
from central.entrypoints.api.schemas import RequestBody, ResponseBody
from central.service_layer import webhooks

__all__ = ["router", "WebhookIn", "WebhookOut", "WebhooksOut", "DeliveryOut", "DeliveriesOut"]

router = APIRouter(tags=["alerts"])

Admin = Annotated[Principal, Depends(require_role("admin"))]


class WebhookIn(RequestBody):
    url: str = Field(min_length=8, max_length=2000)
    secret: str = Field(min_length=16, max_length=200, description="the HMAC-SHA256 key (at least 16 characters)")
    kinds: list[Annotated[str, Field(min_length=1, max_length=32)]] = Field(
        default_factory=list, max_length=100, description="alert kinds to send; empty: every kind")
    min_severity: Literal["info", "warning", "critical"] = "warning"


class WebhookOut(ResponseBody):
    id: int
    url: str
    kinds: list[str]
    min_severity: str
    active: bool
    created: str
    created_by: str


class WebhookCreatedOut(ResponseBody):
    webhook: WebhookOut


class WebhooksOut(ResponseBody):
    webhooks: list[WebhookOut]


class AttemptOut(ResponseBody):
    at: str
    ok: bool
    status_code: int | None
    error: str | None


class DeliveryOut(ResponseBody):
    id: int
    webhook_id: int
    alert_id: int
    kind: str
    event: str
    status: str
    attempts: int
    next_at: str
    last_error: str | None
    created: str
    done_at: str | None
    log: list[AttemptOut]


class DeliveriesOut(ResponseBody):
    deliveries: list[DeliveryOut]


@router.post("/webhooks", status_code=201, response_model=WebhookCreatedOut, response_model_exclude_unset=True)
def post_webhook(body: WebhookIn, uow: UnitOfWorkDep, who: Admin) -> object:
    row = webhooks.add_webhook(CreateWebhook(body.url, body.secret, tuple(body.kinds), body.min_severity, who.user),
                               uow)
    return {"webhook": webhooks.webhook_dict(row)}


@router.get("/webhooks", response_model=WebhooksOut, response_model_exclude_unset=True)
def get_webhooks(session: SessionDep, _who: Admin) -> object:
    return {"webhooks": webhooks.list_webhooks(session)}


@router.delete("/webhooks/{webhook_id}", response_model=WebhookCreatedOut, response_model_exclude_unset=True)
def delete_webhook(webhook_id: IdPath, uow: UnitOfWorkDep, who: Admin) -> object:
    return {"webhook": webhooks.webhook_dict(webhooks.deactivate_webhook(DeactivateWebhook(webhook_id, who.user), uow))}


@router.get("/webhooks/deliveries", response_model=DeliveriesOut, response_model_exclude_unset=True)
def get_deliveries(session: SessionDep, _who: Admin, webhook: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
                   status: Literal["pending", "sent", "dead"] | None = None,
                   limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> object:
    return {"deliveries": webhooks.list_deliveries(session, webhook, status, limit)}
