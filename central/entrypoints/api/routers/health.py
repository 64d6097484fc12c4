"""Open endpoints: ``/health``, ``/ready`` and ``/metrics`` (Prometheus text), at the root and
under ``/api/v1``.

``/health`` and ``/ready`` report the real state of this process: the database answers, and,
when this process runs an ingest worker, the worker is alive, its heartbeat is fresh (younger
than ``ingest.heartbeat_stale_seconds``), the database is not failing it and the broker is
connected. Anything else is ``degraded`` with HTTP 503 and a list of ``problems``.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from central.adapters.db.models_ingest import EventRow, GapRow, QuarantineRow, RejectedEventRow, StreamRow
from central.entrypoints.api.deps import get_container
from shared.metrics import Exposition

log = logging.getLogger(__name__)

__all__ = ["router"]

router = APIRouter(tags=["health"])


def ingest_view(state: dict[str, object], enabled: bool, stale_after: float) -> tuple[dict[str, Any], list[str]]:
    """The ``ingest`` section of /health and the problems it shows.

    ``worker``: ``absent`` (no ingest worker in this process: an API-only process or a test),
    ``running``, ``retrying`` (the database is failing it), ``stale`` (no heartbeat for
    ``stale_after`` seconds), ``dead`` or ``stopped``."""
    view: dict[str, Any] = {"enabled": enabled}
    for key in ("connected", "subscribed", "subscription", "database", "last_error", "worker_restarts"):
        if key in state:
            view[key] = state[key]
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


def _state(request: Request) -> tuple[dict[str, Any], list[str]]:
    container = get_container(request)
    problems: list[str] = []
    db_ok = True
    try:
        with container.read_sessions() as session:
            session.execute(select(1))
    except SQLAlchemyError as exc:
        db_ok = False
        problems.append("database unreachable")
        log.error("health: database check failed: %s", exc)
    settings = container.settings.ingest
    ingest, ingest_problems = ingest_view(container.ingest_state, settings.enabled, settings.heartbeat_stale_seconds)
    if "heartbeat_age_seconds" in ingest:
        container.metrics.heartbeat_age.set(ingest["heartbeat_age_seconds"])
    problems += ingest_problems
    body = {
        "status": "degraded" if problems else "ok",
        "ready": not problems,
        "problems": problems,
        "database": "ok" if db_ok else "unreachable",
        "ingest": ingest,
        "posting_handler": container.posting_name,
        "started": container.started.isoformat(),
        "now": datetime.now(UTC).isoformat(),
    }
    return body, problems


_DEGRADED: dict[int | str, dict[str, Any]] = {
    503: {"description": "Degraded: the database or the ingest worker is not well (see `problems`)"}}


@router.get("/health", responses=_DEGRADED)
def health(request: Request) -> JSONResponse:
    """The process's state: database reachable, the ingest worker alive with a fresh heartbeat
    and connected, which posting handler runs; 503 with ``problems`` when degraded."""
    body, problems = _state(request)
    return JSONResponse(body, status_code=503 if problems else 200)


@router.get("/ready", responses=_DEGRADED)
def ready(request: Request) -> JSONResponse:
    """Readiness: 200 ``{"ready": true}`` when /health is ok, else 503 with the problems."""
    body, problems = _state(request)
    return JSONResponse({"ready": not problems, "problems": problems, "ingest": body["ingest"]},
                        status_code=503 if problems else 200)


def _stream_lines(request: Request) -> list[str]:
    container = get_container(request)
    try:
        with container.read_sessions() as session:
            streams = session.execute(select(StreamRow.stream, StreamRow.last_seq, StreamRow.acked_through)).all()
            held = dict(session.execute(select(EventRow.stream, func.count()).where(EventRow.status == "pending")
                                        .group_by(EventRow.stream)).tuples().all())
            open_gaps = session.scalar(select(func.count()).select_from(GapRow).where(GapRow.closed.is_(None))) or 0
            quarantined = session.scalar(select(func.count()).select_from(QuarantineRow)) or 0
            rejected_open = session.scalar(select(func.count()).select_from(RejectedEventRow)
                                           .where(RejectedEventRow.status == "open")) or 0
    except SQLAlchemyError as exc:
        log.error("metrics: database query failed: %s", exc)
        return ["# database unavailable"]
    page = Exposition()
    per_stream = (
        ("sfsync_stream_acked_through", "Highest contiguous seq committed, per stream",
         {s: a for s, _l, a in streams}),
        ("sfsync_stream_seq_lag", "Seqs received but not yet contiguous (last_seq - acked_through)",
         {s: last - a for s, last, a in streams}),
        ("sfsync_stream_held_events", "Events stored behind a gap, per stream",
         {s: held.get(s, 0) for s, _l, _a in streams}),
    )
    for name, help_text, values in per_stream:
        page.family(name, help_text)  # documented even before the first stream exists
        for stream, value in values.items():
            page.add(name, value, help_text, stream=stream)
    page.add("sfsync_open_gaps", open_gaps, "Gaps not yet filled or accepted")
    page.add("sfsync_quarantine_rows", quarantined, "Distinct payloads in quarantine")
    page.add("sfsync_rejected_open", rejected_open, "Rejected events waiting for a controller")
    return page.lines()


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(request: Request) -> PlainTextResponse:
    """Prometheus text format: this process's ingest counters plus per-stream figures from the database."""
    container = get_container(request)
    text = container.metrics.registry.render(_stream_lines(request))
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4")
