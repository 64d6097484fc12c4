"""Webhooks: admins subscribe a URL to alert kinds and a minimum severity; alert changes are
queued in the alert's own transaction (the ``webhook_deliveries`` outbox) and sent later by
:class:`WebhookWorker`, a separate thread, never by the code that raised the alert (so never on
the ingest path).

Delivery: the JSON body is signed with HMAC-SHA256 (``central.adapters.webhook_http``); a 2xx is
``sent``; anything else is retried with back-off (``backoff x 2^(attempts-1)``, capped) until
``max_attempts``, then the delivery is ``dead`` and a ``webhook_dead`` alert is raised (never sent
to the webhook it is about). Every attempt is a ``webhook_attempts`` row (the delivery log).
A delivery is claimed by moving its ``next_at`` past the request's timeout before the HTTP call,
in its own short transaction, so the call holds no database lock and two workers do not send it
twice at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from central.adapters.db.models_purchasing import WebhookAttemptRow, WebhookDeliveryRow, WebhookRow
from central.adapters.unit_of_work import SqlAlchemyUnitOfWork
from central.adapters.webhook_http import SendResult, post_json
from central.domain.commands import CreateWebhook, DeactivateWebhook
from central.domain.errors import InputError
from central.errors import NotFound
from central.service_layer import alerts as alert_service
from central.service_layer.alert_outbox import SEVERITIES, WEBHOOK_DEAD, alert_payload, enqueue
from central.service_layer.clock import Clock, utc_now
from central.service_layer.supervised_job import JobState, SupervisedJob
from central.service_layer.unit_of_work import AbstractUnitOfWork
from shared.metrics import Counter, Registry

log = logging.getLogger(__name__)

__all__ = [
    "SEVERITIES", "WEBHOOK_DEAD", "JobState", "WebhookMetrics", "DeliveryPolicy", "Sender", "enqueue", "add_webhook",
    "deactivate_webhook", "create_webhook", "list_webhooks", "webhook_dict", "list_deliveries", "delivery_dict",
    "deliver_once", "WebhookWorker", "alert_payload",
]

Sender = Callable[[str, bytes, str, str, int, float], SendResult]
"""(url, body, secret, timestamp, delivery id, timeout) -> result; ``post_json`` in production."""


class WebhookMetrics:
    """Counters by alert kind, on the process's registry (rendered on ``/metrics``)."""

    def __init__(self, registry: Registry | None = None) -> None:
        r = registry if registry is not None else Registry()
        self.sent = r.add(Counter("sfsync_webhook_sent_total", "Webhook deliveries sent (2xx)", ["kind"]))
        self.failed = r.add(Counter("sfsync_webhook_failed_attempts_total", "Webhook attempts that failed",
                                    ["kind"]))
        self.dead = r.add(Counter("sfsync_webhook_dead_letters_total", "Webhook deliveries given up", ["kind"]))
        self.alerts = r.add(Counter("sfsync_alerts_opened_total", "Alerts opened by the rule evaluator", ["kind"]))
        self.resolved = r.add(Counter("sfsync_alerts_resolved_total", "Alerts resolved by the rule evaluator",
                                      ["kind"]))


@dataclass(frozen=True)
class DeliveryPolicy:
    max_attempts: int = 5
    backoff_seconds: float = 5.0
    backoff_max_seconds: float = 600.0
    timeout_seconds: float = 5.0
    batch: int = 20

    def delay(self, attempts: int) -> timedelta:
        return timedelta(seconds=min(self.backoff_seconds * 2 ** max(attempts - 1, 0), self.backoff_max_seconds))


# --- configuration (admin API) --------------------------------------------------------------------


def webhook_dict(w: WebhookRow) -> dict[str, Any]:
    return {"id": w.id, "url": w.url, "kinds": list(w.kinds or []), "min_severity": w.min_severity,
            "active": w.active, "created": w.created.isoformat(), "created_by": w.created_by}


def add_webhook(cmd: CreateWebhook, uow: AbstractUnitOfWork) -> WebhookRow:
    """Store an active subscription (created ``uow.clock()``); a bad url, severity or a short
    secret is refused."""
    if not (cmd.url.startswith("http://") or cmd.url.startswith("https://")):
        raise InputError(f"a webhook url must be http:// or https://, got {cmd.url[:100]!r}")
    if cmd.min_severity not in SEVERITIES:
        raise InputError(f"min_severity must be one of {', '.join(SEVERITIES)}, got {cmd.min_severity!r}")
    if len(cmd.secret) < 16:
        raise InputError("a webhook secret needs at least 16 characters")
    with uow:
        row = WebhookRow(url=cmd.url, secret=cmd.secret, kinds=sorted(set(cmd.kinds)), min_severity=cmd.min_severity,
                         active=True, created=uow.clock(), created_by=cmd.user)
        uow.webhooks.add(row)
        uow.commit()
        return row


def deactivate_webhook(cmd: DeactivateWebhook, uow: AbstractUnitOfWork) -> WebhookRow:
    """Deactivate (deliveries and their log stay); pending deliveries of it are not sent."""
    with uow:
        row = uow.webhooks.get(cmd.webhook_id)
        if row is None:
            raise NotFound(f"no webhook {cmd.webhook_id}")
        row.active = False
        uow.commit()
        return row


def create_webhook(session: Session, url: str, secret: str, kinds: Sequence[str], min_severity: str, user: str,
                   now: datetime) -> WebhookRow:
    """:func:`add_webhook` in ``session``'s transaction, created ``now``."""
    return add_webhook(CreateWebhook(url, secret, tuple(kinds), min_severity, user),
                       SqlAlchemyUnitOfWork.joining(session, lambda: now))


def list_webhooks(session: Session) -> list[dict[str, Any]]:
    return [webhook_dict(w) for w in session.scalars(select(WebhookRow).order_by(WebhookRow.id))]


def delivery_dict(d: WebhookDeliveryRow, attempts: Sequence[WebhookAttemptRow] = ()) -> dict[str, Any]:
    return {"id": d.id, "webhook_id": d.webhook_id, "alert_id": d.alert_id, "kind": d.kind, "event": d.event,
            "status": d.status, "attempts": d.attempts, "next_at": d.next_at.isoformat(),
            "last_error": d.last_error, "created": d.created.isoformat(),
            "done_at": d.done_at.isoformat() if d.done_at else None,
            "log": [{"at": a.at.isoformat(), "ok": a.ok, "status_code": a.status_code, "error": a.error}
                    for a in attempts]}


def list_deliveries(session: Session, webhook_id: int | None = None, status: str | None = None,
                    limit: int = 100) -> list[dict[str, Any]]:
    stmt = select(WebhookDeliveryRow).order_by(WebhookDeliveryRow.id.desc()).limit(limit)
    if webhook_id is not None:
        stmt = stmt.where(WebhookDeliveryRow.webhook_id == webhook_id)
    if status is not None:
        stmt = stmt.where(WebhookDeliveryRow.status == status)
    rows = list(session.scalars(stmt))
    logs: dict[int, list[WebhookAttemptRow]] = {}
    if rows:
        for a in session.scalars(select(WebhookAttemptRow).where(
                WebhookAttemptRow.delivery_id.in_([r.id for r in rows])).order_by(WebhookAttemptRow.id)):
            logs.setdefault(a.delivery_id, []).append(a)
    return [delivery_dict(r, logs.get(r.id, [])) for r in rows]


# --- the worker ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Claimed:
    id: int
    url: str
    secret: str
    body: bytes
    kind: str
    attempts: int
    webhook_id: int


def _claim(sessions: sessionmaker[Session], now: datetime, policy: DeliveryPolicy) -> list[_Claimed]:
    lease = now + timedelta(seconds=policy.timeout_seconds * 2 + 5)
    with sessions() as session, session.begin():
        stmt = (select(WebhookDeliveryRow, WebhookRow).join(WebhookRow, WebhookRow.id == WebhookDeliveryRow.webhook_id)
                .where(WebhookDeliveryRow.status == "pending", WebhookDeliveryRow.next_at <= now)
                .order_by(WebhookDeliveryRow.next_at, WebhookDeliveryRow.id).limit(policy.batch))
        if session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True, of=WebhookDeliveryRow)
        out: list[_Claimed] = []
        for d, hook in session.execute(stmt).tuples():
            if not hook.active:
                d.status, d.done_at, d.last_error = "dead", now, "webhook deactivated"
                continue
            d.next_at = lease
            out.append(_Claimed(d.id, hook.url, hook.secret, orjson.dumps(d.payload), d.kind, d.attempts, hook.id))
        return out


def _record(sessions: sessionmaker[Session], c: _Claimed, result: SendResult, now: datetime, policy: DeliveryPolicy,
            metrics: WebhookMetrics) -> str:
    with sessions() as session, session.begin():
        d = session.get(WebhookDeliveryRow, c.id)
        if d is None:  # pragma: no cover - deliveries are never deleted
            raise NotFound(f"webhook delivery {c.id} vanished")
        d.attempts += 1
        session.add(WebhookAttemptRow(delivery_id=d.id, at=now, status_code=result.status_code, error=result.error,
                                      ok=result.ok))
        if result.ok:
            d.status, d.done_at, d.last_error = "sent", now, None
            metrics.sent.inc(1, c.kind)
            return "sent"
        metrics.failed.inc(1, c.kind)
        d.last_error = result.error
        if d.attempts >= policy.max_attempts:
            d.status, d.done_at = "dead", now
            metrics.dead.inc(1, c.kind)
            alert_service.raise_alert_in(
                SqlAlchemyUnitOfWork.joining(session, lambda: now), WEBHOOK_DEAD, f"{WEBHOOK_DEAD}:{c.webhook_id}",
                f"webhook {c.webhook_id} gave up delivery {d.id} ({c.kind} alert {d.alert_id}) after {d.attempts} "
                f"attempts: {result.error}", severity="critical",
                detail={"webhook_id": c.webhook_id, "delivery_id": d.id, "alert_id": d.alert_id,
                        "attempts": d.attempts, "last_error": result.error})
            log.error("webhook %s: delivery %s dead after %s attempts: %s", c.webhook_id, d.id, d.attempts,
                      result.error)
            return "dead"
        d.next_at = now + policy.delay(d.attempts)
        log.warning("webhook %s: delivery %s attempt %s failed (%s); next at %s", c.webhook_id, d.id, d.attempts,
                    result.error, d.next_at.isoformat())
        return "retry"


def deliver_once(sessions: sessionmaker[Session], *, policy: DeliveryPolicy, metrics: WebhookMetrics,
                 send: Sender = post_json, clock: Clock = utc_now) -> dict[str, int]:
    """Send every due delivery once; counts by outcome."""
    counts = {"sent": 0, "retry": 0, "dead": 0}
    for c in _claim(sessions, clock(), policy):
        stamp = clock()
        try:
            result = send(c.url, c.body, c.secret, str(int(stamp.timestamp())), c.id, policy.timeout_seconds)
        except Exception as exc:  # a sender must not kill the worker: count it as a failed attempt
            log.exception("webhook %s: sending delivery %s raised", c.webhook_id, c.id)
            result = SendResult(False, None, f"{type(exc).__name__}: {exc}"[:500])
        counts[_record(sessions, c, result, clock(), policy, metrics)] += 1
    return counts


class WebhookWorker(SupervisedJob[dict[str, int]]):
    """:func:`deliver_once` every ``interval`` seconds as a :class:`SupervisedJob` (its own
    thread, restarted by a supervisor when it dies)."""

    def __init__(self, sessions: sessionmaker[Session], *, policy: DeliveryPolicy, metrics: WebhookMetrics,
                 interval: float = 1.0, send: Sender = post_json, clock: Clock = utc_now) -> None:
        super().__init__("sfsync-webhooks", interval=interval)
        self.sessions, self.policy, self.metrics = sessions, policy, metrics
        self.send, self.clock = send, clock

    def run(self) -> dict[str, int]:
        return deliver_once(self.sessions, policy=self.policy, metrics=self.metrics, send=self.send,
                            clock=self.clock)

    def stop(self, timeout: float = 10.0) -> bool:
        return super().stop(timeout)
