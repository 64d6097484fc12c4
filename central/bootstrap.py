"""Wiring of the central service: settings -> engines -> sessions -> services -> app.

Nothing here runs at import time; ``sfsync central serve``, tests and benchmarks call
:func:`bootstrap` (and :func:`central.api.app.create_app`) explicitly. The costing layer
plugs its posting handler in through ``posting=``; without one, the explicit
:class:`~central.ingest.seam.NoCostingHandler` is used.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from central.config import CentralSettings, load_settings
from central.db.engine import make_engine, make_session_factory, write_engine
from central.db.migrate import upgrade
from central.ingest.metrics import IngestMetrics
from central.ingest.seam import NoCostingHandler, PostingHandler
from central.services.ingest import IngestService

log = logging.getLogger(__name__)

__all__ = ["Container", "bootstrap", "default_posting_handler"]


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
    """The costing layer's handler when it is installed (``central.services.costing.posting
    .make_posting_handler``), else the explicit no-costing handler."""
    try:
        from central.services.costing import posting as costing_posting  # type: ignore[attr-defined]
    except ImportError:
        log.warning("costing layer not installed: events are stored but not posted (no-costing handler)")
        return NoCostingHandler()
    factory = getattr(costing_posting, "make_posting_handler", None)
    if factory is None:
        log.warning("central.services.costing.posting has no make_posting_handler: using the no-costing handler")
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
