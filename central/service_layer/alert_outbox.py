"""The webhook outbox's write side: an alert change queued for every webhook that wants it, in
the alert's own transaction (:mod:`central.service_layer.webhooks` sends them later).

:func:`deliveries` decides which webhooks get the change; :func:`enqueue_in` stores them through a
unit of work (people's decisions), :func:`enqueue` on a session (ingest and the rule evaluator,
which still raise alerts on the session)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.adapters.db.models_ingest import AlertRow
from central.adapters.db.models_purchasing import WebhookDeliveryRow, WebhookRow
from central.service_layer.unit_of_work import AbstractUnitOfWork

__all__ = ["SEVERITIES", "WEBHOOK_DEAD", "severity_rank", "alert_payload", "deliveries", "enqueue", "enqueue_in"]

SEVERITIES = ("info", "warning", "critical")
WEBHOOK_DEAD = "webhook_dead"


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 1


def alert_payload(alert: AlertRow, event: str, at: datetime) -> dict[str, Any]:
    return {"event": event, "at": at.isoformat(), "alert": {
        "id": alert.id, "kind": alert.kind, "severity": alert.severity, "key": alert.key, "message": alert.message,
        "detail": alert.detail, "status": alert.status, "plant": alert.plant, "entity": alert.entity,
        "assignee": alert.assignee, "count": alert.count, "created": alert.created.isoformat()}}


def deliveries(hooks: Sequence[WebhookRow], alert: AlertRow, event: str, now: datetime) -> list[WebhookDeliveryRow]:
    """The deliveries of ``event`` of ``alert`` (which has its id): one per active webhook of
    ``hooks`` that wants its kind and severity."""
    payload: dict[str, Any] | None = None
    out: list[WebhookDeliveryRow] = []
    for hook in hooks:
        if hook.kinds and alert.kind not in hook.kinds:
            continue
        if severity_rank(alert.severity) < severity_rank(hook.min_severity):
            continue
        if alert.kind == WEBHOOK_DEAD and (alert.detail or {}).get("webhook_id") == hook.id:
            continue  # never tell a dead webhook that it is dead
        payload = payload if payload is not None else alert_payload(alert, event, now)
        out.append(WebhookDeliveryRow(webhook_id=hook.id, alert_id=alert.id, kind=alert.kind, event=event,
                                      payload=payload, status="pending", attempts=0, next_at=now, created=now))
    return out


def enqueue(session: Session, alert: AlertRow, event: str, now: datetime) -> int:
    """Queue ``event`` of ``alert`` for every active webhook that wants its kind and severity, in
    the caller's transaction; returns how many were queued. Flushes ``alert`` for its id."""
    hooks = list(session.scalars(select(WebhookRow).where(WebhookRow.active.is_(True))))
    if not hooks:
        return 0
    if alert.id is None:
        session.flush()
    rows = deliveries(hooks, alert, event, now)
    session.add_all(rows)
    return len(rows)


def enqueue_in(uow: AbstractUnitOfWork, alert: AlertRow, event: str, now: datetime) -> int:
    """:func:`enqueue` through ``uow.webhooks`` (``alert`` is stored: it has its id)."""
    rows = deliveries(uow.webhooks.active(), alert, event, now)
    for row in rows:
        uow.webhooks.add_delivery(row)
    return len(rows)
