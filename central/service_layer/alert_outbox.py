"""The webhook outbox's write side: an alert change queued for every webhook that wants it, in
the alert's own transaction (:mod:`central.service_layer.webhooks` sends them later)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.adapters.db.models_ingest import AlertRow
from central.adapters.db.models_purchasing import WebhookDeliveryRow, WebhookRow

__all__ = ["SEVERITIES", "WEBHOOK_DEAD", "severity_rank", "alert_payload", "enqueue"]

SEVERITIES = ("info", "warning", "critical")
WEBHOOK_DEAD = "webhook_dead"


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 1


def alert_payload(alert: AlertRow, event: str, at: datetime) -> dict[str, Any]:
    return {"event": event, "at": at.isoformat(), "alert": {
        "id": alert.id, "kind": alert.kind, "severity": alert.severity, "key": alert.key, "message": alert.message,
        "detail": alert.detail, "status": alert.status, "plant": alert.plant, "entity": alert.entity,
        "assignee": alert.assignee, "count": alert.count, "created": alert.created.isoformat()}}


def enqueue(session: Session, alert: AlertRow, event: str, now: datetime) -> int:
    """Queue ``event`` of ``alert`` for every active webhook that wants its kind and severity, in
    the caller's transaction; returns how many were queued. Flushes ``alert`` for its id."""
    hooks = list(session.scalars(select(WebhookRow).where(WebhookRow.active.is_(True))))
    if not hooks:
        return 0
    if alert.id is None:
        session.flush()
    payload = alert_payload(alert, event, now)
    queued = 0
    for hook in hooks:
        if hook.kinds and alert.kind not in hook.kinds:
            continue
        if severity_rank(alert.severity) < severity_rank(hook.min_severity):
            continue
        if alert.kind == WEBHOOK_DEAD and (alert.detail or {}).get("webhook_id") == hook.id:
            continue  # never tell a dead webhook that it is dead
        session.add(WebhookDeliveryRow(webhook_id=hook.id, alert_id=alert.id, kind=alert.kind, event=event,
                                       payload=payload, status="pending", attempts=0, next_at=now, created=now))
        queued += 1
    return queued
