"""Wiring of the central service: settings -> engines -> sessions -> services -> app.

Nothing here runs at import time; ``sfsync central serve``, tests and benchmarks call
:func:`bootstrap` (and :func:`central.entrypoints.api.app.create_app`) explicitly. The costing layer
plugs its posting handler in through ``posting=``; without one, the explicit
:class:`~central.service_layer.ingest.seam.NoCostingHandler` is used.
"""

from __future__ import annotations

import importlib
import logging
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from central.adapters.db.engine import make_engine, make_session_factory, write_engine
from central.adapters.db.migrate import upgrade
from central.adapters.metrics import IngestMetrics
from central.config import CentralSettings, load_settings
from central.service_layer.ingest import IngestService
from central.service_layer.ingest.seam import NoCostingHandler, PostingHandler

log = logging.getLogger(__name__)

__all__ = ["Container", "bootstrap", "default_posting_handler", "serve"]


@dataclass
class Container:
    """Everything one central process shares: settings, engine, session factories, services."""

    settings: CentralSettings
    engine: Engine
    read_sessions: sessionmaker[Session]
    write_sessions: sessionmaker[Session]
    posting: PostingHandler
    metrics: IngestMetrics
    ingest: IngestService
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    ingest_state: dict[str, object] = field(default_factory=dict)

    @property
    def posting_name(self) -> str:
        return str(getattr(self.posting, "name", type(self.posting).__name__))

    def dispose(self) -> None:
        self.engine.dispose()


def default_posting_handler() -> PostingHandler:
    """The costing layer's handler when it is installed (``central.service_layer.costing.posting
    .make_posting_handler``), else the explicit no-costing handler."""
    try:
        costing_posting = importlib.import_module("central.service_layer.costing.posting")
    except ImportError:
        log.warning("costing layer not installed: events are stored but not posted (no-costing handler)")
        return NoCostingHandler()
    factory = getattr(costing_posting, "make_posting_handler", None)
    if factory is None:
        log.warning("central.service_layer.costing.posting has no make_posting_handler: using the no-costing handler")
        return NoCostingHandler()
    handler: PostingHandler = factory()
    return handler


def bootstrap(
    settings: CentralSettings | None = None,
    *,
    config_path: str | Path | None = None,
    posting: PostingHandler | None = None,
    migrate: bool = False,
) -> Container:
    """Build a process's container; ``migrate=True`` upgrades the database to head first."""
    if settings is None:
        settings = load_settings(config_path)
    engine = make_engine(settings.database)
    if migrate:
        upgrade(write_engine(engine))
    metrics = IngestMetrics()
    posting = posting if posting is not None else NoCostingHandler()
    write_sessions = make_session_factory(write_engine(engine))
    ingest = IngestService(write_sessions, settings.ingest, posting, metrics)
    return Container(
        settings=settings,
        engine=engine,
        read_sessions=make_session_factory(engine),
        write_sessions=write_sessions,
        posting=posting,
        metrics=metrics,
        ingest=ingest,
    )


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve(
    settings: CentralSettings,
    *,
    migrate: bool = True,
    posting: PostingHandler | None = None,
    out: Callable[[str], None] = print,
    sock: socket.socket | None = None,
) -> int:
    """``sfsync central serve``: API and MQTT ingest in one process until SIGINT/SIGTERM.

    ``sock``: the API's listening socket when the caller bound it already (the CLI does, in
    :func:`central.entrypoints.preflight.bind_api`, before the database is touched)."""
    import uvicorn

    from central.entrypoints.api.app import create_app
    from central.entrypoints.consumer import MqttIngest
    from central.service_layer.access import ensure_bootstrap_admin
    from central.service_layer.governance.sealer import LedgerSealer

    container = bootstrap(settings, posting=posting if posting is not None else default_posting_handler(),
                          migrate=migrate)
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
                              lookback=settings.ledger.seal_lookback_seconds, batch=settings.ledger.seal_batch)
        sealer.start()
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
        if ingest is not None:
            ingest.stop()
        container.dispose()
