"""The state of this central process, for ``/health``, ``/ready`` and ``/metrics``: whether the
database answers, how the ingest worker is doing (from the state it publishes), and the per-stream
figures read from the database. No HTTP here: the API turns a :class:`HealthReport` into a 200 or
503 and :class:`StreamFigures` into Prometheus text."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import NotRequired, TypedDict, TypeVar

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from central.adapters.db.models_ingest import EventRow, GapRow, QuarantineRow, RejectedEventRow, StreamRow

log = logging.getLogger(__name__)

__all__ = ["HealthReport", "HealthBody", "IngestView", "StreamFigures", "ingest_view", "health_report",
           "stream_figures"]

Sessions = sessionmaker[Session]
T = TypeVar("T")


class IngestView(TypedDict):
    """The ``ingest`` section: what the worker has reported so far (a key not yet reported is absent)."""

    enabled: bool
    connected: NotRequired[bool]
    subscribed: NotRequired[bool]
    subscription: NotRequired[str]
    database: NotRequired[str]
    last_error: NotRequired[str]
    worker_restarts: NotRequired[int]
    heartbeat_age_seconds: NotRequired[float]
    worker: NotRequired[str]


class HealthBody(TypedDict):
    """The /health document."""

    status: str
    ready: bool
    problems: list[str]
    database: str
    ingest: IngestView
    posting_handler: str
    started: str
    now: str


def _reported(state: Mapping[str, object], key: str, kind: type[T]) -> T | None:
    """``state[key]`` when the worker reported it with the type it publishes; a value of another
    type is a bug in the worker: logged and left out of the view."""
    value = state.get(key)
    if value is None or isinstance(value, kind):
        return value
    log.error("health: ingest state %s=%r is not a %s: left out", key, value, kind.__name__)
    return None


def ingest_view(state: Mapping[str, object], enabled: bool,
                stale_after: float) -> tuple[IngestView, list[str]]:
    """The ``ingest`` section of /health and the problems it shows.

    ``worker``: ``absent`` (no ingest worker in this process: an API-only process or a test),
    ``running``, ``retrying`` (the database is failing it), ``stale`` (no heartbeat for
    ``stale_after`` seconds), ``dead`` or ``stopped``."""
    view = IngestView(enabled=enabled)
    # what the worker reported, in this order
    if (connected := _reported(state, "connected", bool)) is not None:
        view["connected"] = connected
    if (subscribed := _reported(state, "subscribed", bool)) is not None:
        view["subscribed"] = subscribed
    if (subscription := _reported(state, "subscription", str)) is not None:
        view["subscription"] = subscription
    if (database := _reported(state, "database", str)) is not None:
        view["database"] = database
    if (last_error := _reported(state, "last_error", str)) is not None:
        view["last_error"] = last_error
    if (restarts := _reported(state, "worker_restarts", int)) is not None:
        view["worker_restarts"] = restarts
    worker = str(state.get("worker", "absent"))
    beat = state.get("heartbeat")
    problems: list[str] = []
    if isinstance(beat, float):
        age = max(0.0, time.monotonic() - beat)
        view["heartbeat_age_seconds"] = round(age, 3)
        if worker in ("running", "retrying") and age > stale_after:
            worker = "stale"
    view["worker"] = worker
    if not enabled or worker == "absent":
        return view, problems
    if worker in ("stale", "dead", "stopped"):
        problems.append(f"ingest worker {worker}")
    if worker == "retrying" or state.get("database") == "unavailable":
        problems.append("ingest cannot store: database unavailable")
    if state.get("connected") is not True:
        problems.append("ingest not connected to the broker")
    return view, problems


def _database_answers(sessions: Sessions) -> bool:
    try:
        with sessions() as session:
            session.execute(select(1))
    except SQLAlchemyError as exc:
        log.error("health: database check failed: %s", exc)
        return False
    return True


@dataclass(frozen=True, slots=True)
class HealthReport:
    """``body`` is the /health document; ``problems`` empty means healthy and ready."""

    body: HealthBody
    problems: list[str]
    heartbeat_age: float | None


def health_report(
    sessions: Sessions, ingest_state: Mapping[str, object], *, ingest_enabled: bool, stale_after: float,
    posting_handler: str, started: datetime, now: datetime,
) -> HealthReport:
    """The process's state: database reachable, the ingest worker alive with a fresh heartbeat
    and connected, which posting handler runs."""
    problems: list[str] = []
    db_ok = _database_answers(sessions)
    if not db_ok:
        problems.append("database unreachable")
    ingest, ingest_problems = ingest_view(ingest_state, ingest_enabled, stale_after)
    problems += ingest_problems
    body: HealthBody = {
        "status": "degraded" if problems else "ok",
        "ready": not problems,
        "problems": problems,
        "database": "ok" if db_ok else "unreachable",
        "ingest": ingest,
        "posting_handler": posting_handler,
        "started": started.isoformat(),
        "now": now.isoformat(),
    }
    return HealthReport(body, problems, ingest.get("heartbeat_age_seconds"))


@dataclass(frozen=True, slots=True)
class StreamFigures:
    """Per-stream and queue figures from the database (``/metrics``)."""

    acked_through: dict[str, int] = field(default_factory=dict)
    seq_lag: dict[str, int] = field(default_factory=dict)
    held_events: dict[str, int] = field(default_factory=dict)
    open_gaps: int = 0
    quarantined: int = 0
    rejected_open: int = 0


def stream_figures(sessions: Sessions) -> StreamFigures | None:
    """The figures in one read; None when the database does not answer (logged)."""
    try:
        with sessions() as session:
            streams = session.execute(select(StreamRow.stream, StreamRow.last_seq, StreamRow.acked_through)).all()
            held = dict(session.execute(select(EventRow.stream, func.count()).where(EventRow.status == "pending")
                                        .group_by(EventRow.stream)).tuples().all())
            open_gaps = session.scalar(select(func.count()).select_from(GapRow).where(GapRow.closed.is_(None))) or 0
            quarantined = session.scalar(select(func.count()).select_from(QuarantineRow)) or 0
            rejected_open = session.scalar(select(func.count()).select_from(RejectedEventRow)
                                           .where(RejectedEventRow.status == "open")) or 0
    except SQLAlchemyError as exc:
        log.error("metrics: database query failed: %s", exc)
        return None
    return StreamFigures(
        acked_through={s: a for s, _l, a in streams},
        seq_lag={s: last - a for s, last, a in streams},
        held_events={s: held.get(s, 0) for s, _l, _a in streams},
        open_gaps=open_gaps, quarantined=quarantined, rejected_open=rejected_open,
    )
