"""Wiring of the central service: settings -> engines -> sessions -> services, in one place.

Every entry point (``sfsync central serve`` in :mod:`central.entrypoints.server`, the CLI, tests,
benchmarks) builds its process through :func:`bootstrap`, so every one of them posts what it
stores: the costing layer's :class:`~central.service_layer.costing.CostingHandler` is the default
posting handler. ``posting=`` is the injection point for running ingest without costing ON
PURPOSE (``posting=NoCostingHandler()`` in an ingest benchmark) or with a recording handler in a
test. The approval appliers are an explicit map (:data:`APPLIERS`), registered by
:func:`bootstrap`. Nothing here runs at import time, and nothing here imports an entry point:
entry points import this module, never the other way round.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from central.adapters.clock import Clock, utc_now
from central.adapters.db.engine import make_engine, make_session_factory, write_engine
from central.adapters.db.migrate import upgrade
from central.adapters.metrics import IngestMetrics
from central.adapters.unit_of_work import SqlAlchemyUnitOfWork
from central.config import CentralSettings, load_settings
from central.service_layer.costing import CostingHandler
from central.service_layer.costing.approvals import apply_master_data_change
from central.service_layer.costing.master_data import APPROVAL_KIND as MASTER_DATA_CHANGE
from central.service_layer.governance import Applier, register_appliers, register_unit_of_work
from central.service_layer.governance.appliers import PERIOD_REOPEN, apply_period_reopen
from central.service_layer.governance.manual_journal import MANUAL_JOURNAL, apply_manual_entry
from central.service_layer.ingest import IngestService
from central.service_layer.ingest.seam import PostingHandler

__all__ = ["APPLIERS", "Container", "bootstrap"]

APPLIERS: Final[Mapping[str, Applier]] = {
    PERIOD_REOPEN: apply_period_reopen,
    MANUAL_JOURNAL: apply_manual_entry,
    MASTER_DATA_CHANGE: apply_master_data_change,
}
"""Approval kind -> the function that applies an approved request of that kind (in the approving
transaction). A new kind of approval gets its line here."""


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
    #: the process's one clock: the API's units of work, the audit log's request records, the
    #: ingest and the ledger sealer read it (a test passes a fixed one to ``bootstrap``)
    clock: Clock = utc_now
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    ingest_state: dict[str, object] = field(default_factory=dict)

    @property
    def posting_name(self) -> str:
        return str(getattr(self.posting, "name", type(self.posting).__name__))

    def dispose(self) -> None:
        self.engine.dispose()


def bootstrap(
    settings: CentralSettings | None = None,
    *,
    config_path: str | Path | None = None,
    posting: PostingHandler | None = None,
    migrate: bool = False,
    clock: Clock = utc_now,
) -> Container:
    """Build a process's container; ``migrate=True`` upgrades the database to head first.

    ``posting``: the handler the ingest calls in each batch's transaction; the costing layer's
    :class:`CostingHandler` when not given (every entry point posts what it stores). Pass
    :class:`~central.service_layer.ingest.seam.NoCostingHandler` to store events without posting
    them, deliberately (an ingest-only benchmark or test). ``clock``: the time every service of the
    process reads (default: the system clock)."""
    if settings is None:
        settings = load_settings(config_path)
    engine = make_engine(settings.database)
    if migrate:
        upgrade(write_engine(engine))
    register_appliers(APPLIERS)
    register_unit_of_work(SqlAlchemyUnitOfWork.joining)
    metrics = IngestMetrics()
    posting = posting if posting is not None else CostingHandler()
    write_sessions = make_session_factory(write_engine(engine))
    ingest = IngestService(write_sessions, settings.ingest, posting, metrics, clock)
    return Container(
        settings=settings,
        engine=engine,
        read_sessions=make_session_factory(engine),
        write_sessions=write_sessions,
        posting=posting,
        metrics=metrics,
        ingest=ingest,
        clock=clock,
    )
