"""``sfsync central serve``: the API, the MQTT ingest, the ledger sealer and the background jobs in one process.

An entry point: it imports the wiring (:func:`central.bootstrap.bootstrap`) and the other entry
points it runs (the API app, the supervised consumer); the wiring never imports it. Costing is
wired by :func:`~central.bootstrap.bootstrap`'s default, so the process posts every event it
acknowledges; ``posting=`` exists for an ingest-only benchmark that means to skip it.
"""

from __future__ import annotations

import gc
import logging
import signal
import socket
import threading
from collections.abc import Callable
from datetime import timedelta

import uvicorn

from central.bootstrap import Container, bootstrap
from central.config import CentralSettings
from central.entrypoints.api.app import create_app
from central.entrypoints.consumer import MqttIngest
from central.service_layer.access import ensure_bootstrap_admin
from central.service_layer.alert_rules import AlertEvaluator
from central.service_layer.costing.snapshot_compactor import SnapshotCompactor
from central.service_layer.governance.sealer import LedgerSealer
from central.service_layer.ingest.seam import PostingHandler
from central.service_layer.recommendations import RecommendationEvaluator
from central.service_layer.webhooks import DeliveryPolicy, WebhookMetrics, WebhookWorker

log = logging.getLogger(__name__)

__all__ = ["serve"]


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _start_alert_jobs(container: Container) -> list[AlertEvaluator | WebhookWorker]:
    """The rule evaluator and the webhook worker (issue 14): threads of their own, off the ingest
    path; their counters join the process's ``/metrics`` registry."""
    cfg = container.settings.alerts
    metrics = WebhookMetrics(container.metrics.registry)
    jobs: list[AlertEvaluator | WebhookWorker] = []
    if cfg.evaluate_interval_seconds > 0:
        jobs.append(AlertEvaluator(container.write_sessions, interval=cfg.evaluate_interval_seconds, metrics=metrics))
        jobs.append(RecommendationEvaluator(container.write_sessions, interval=cfg.evaluate_interval_seconds))
    if cfg.webhook_interval_seconds > 0:
        policy = DeliveryPolicy(max_attempts=cfg.webhook_max_attempts, backoff_seconds=cfg.webhook_backoff_seconds,
                                backoff_max_seconds=cfg.webhook_backoff_max_seconds,
                                timeout_seconds=cfg.webhook_timeout_seconds)
        jobs.append(WebhookWorker(container.write_sessions, policy=policy, metrics=metrics,
                                  interval=cfg.webhook_interval_seconds))
    for job in jobs:
        job.start()
    return jobs


def serve(
    settings: CentralSettings,
    *,
    migrate: bool = True,
    posting: PostingHandler | None = None,
    out: Callable[[str], None] = print,
    sock: socket.socket | None = None,
) -> int:
    """Run until SIGINT/SIGTERM; 0 on a clean stop.

    ``posting``: passed on to :func:`~central.bootstrap.bootstrap` (costing when None).
    ``sock``: the API's listening socket when the caller bound it already (the CLI does, in
    :func:`central.entrypoints.preflight.bind_api`, before the database is touched)."""
    container = bootstrap(settings, posting=posting, migrate=migrate)
    if settings.auth.bootstrap_admin:
        with container.write_sessions() as session, session.begin():
            issued = ensure_bootstrap_admin(session, expires_in=timedelta(days=settings.auth.token_expiry_days))
        if issued is not None:
            out(f"admin token: {issued.token}")
    ingest: MqttIngest | None = None
    if settings.ingest.enabled:
        ingest = MqttIngest(settings.mqtt, settings.ingest, container.ingest, container.metrics, settings.faults,
                            container.ingest_state)
        ingest.start()
        if not ingest.connected.wait(15.0):
            log.warning("broker %s:%s not reachable yet; the ingest keeps trying", settings.mqtt.host,
                        settings.mqtt.port)
        out(f"ingest from mqtt://{settings.mqtt.host}:{settings.mqtt.port} ({ingest.events_filter})")
    sealer: LedgerSealer | None = None
    if settings.ledger.seal_interval_seconds > 0:
        sealer = LedgerSealer(container.write_sessions, interval=settings.ledger.seal_interval_seconds,
                              lookback=settings.ledger.seal_lookback_seconds, batch=settings.ledger.seal_batch,
                              clock=container.clock)
        sealer.start()
    compactor: SnapshotCompactor | None = None
    if settings.ledger.snapshot_compact_interval_seconds > 0:
        compactor = SnapshotCompactor(container.write_sessions,
                                      interval=settings.ledger.snapshot_compact_interval_seconds)
        compactor.start()
    alert_jobs = _start_alert_jobs(container)
    # Everything wired so far (modules, models, master-data snapshots, SQLAlchemy's caches) lives as
    # long as the process: out of the collector's reach, a full collection walks only what batches
    # create (measured: ~20 % of central's CPU per event at 1,000 orders per batch went to walking it)
    gc.freeze()
    try:
        if not settings.api.enabled:
            stop = threading.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_a: stop.set())
            out("API disabled")
            stop.wait()
            return 0
        if sock is None:
            sock = _bind(settings.api.host, settings.api.port)
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        out(f"API at http://{shown}:{port}")
        config = uvicorn.Config(create_app(container), log_config=None, access_log=False, lifespan="off")
        uvicorn.Server(config).run(sockets=[sock])
        return 0
    finally:
        if sealer is not None:
            sealer.stop()
        if compactor is not None:
            compactor.stop()
        for job in alert_jobs:
            job.stop()
        if ingest is not None:
            ingest.stop()
        container.dispose()
