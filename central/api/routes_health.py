"""Open endpoints: ``/health`` and ``/metrics`` (Prometheus text), at the root and under ``/api/v1``."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from central.api.deps import get_container
from central.db.models_ingest import EventRow, GapRow, QuarantineRow, RejectedEventRow, StreamRow

log = logging.getLogger(__name__)

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/health")
def health(request: Request) -> JSONResponse:
    """Liveness and readiness: database reachable, ingest connected, which posting handler runs."""
    container = get_container(request)
    db_ok, db_error = True, None
    try:
        with container.read_sessions() as session:
            session.execute(select(1))
    except SQLAlchemyError as exc:
        db_ok, db_error = False, str(exc.__class__.__name__)
        log.error("health: database check failed: %s", exc)
    ingest: dict[str, Any] = {"enabled": container.settings.ingest.enabled, **container.ingest_state}
    body = {
        "status": "ok" if db_ok else "degraded",
        "database": "ok" if db_ok else f"error: {db_error}",
        "ingest": ingest,
        "posting_handler": container.posting_name,
        "started": container.started.isoformat(),
        "now": datetime.now(UTC).isoformat(),
    }
    return JSONResponse(body, status_code=200 if db_ok else 503)


def _stream_lines(request: Request) -> list[str]:
    container = get_container(request)
    lines: list[str] = []
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
    lines += ["# HELP sfsync_stream_acked_through Highest contiguous seq committed, per stream",
              "# TYPE sfsync_stream_acked_through gauge"]
    lines += [f'sfsync_stream_acked_through{{stream="{s}"}} {a}' for s, _l, a in streams]
    lines += ["# HELP sfsync_stream_seq_lag Seqs received but not yet contiguous (last_seq - acked_through)",
              "# TYPE sfsync_stream_seq_lag gauge"]
    lines += [f'sfsync_stream_seq_lag{{stream="{s}"}} {last - a}' for s, last, a in streams]
    lines += ["# HELP sfsync_stream_held_events Events stored behind a gap, per stream",
              "# TYPE sfsync_stream_held_events gauge"]
    lines += [f'sfsync_stream_held_events{{stream="{s}"}} {held.get(s, 0)}' for s, _l, _a in streams]
    lines += ["# HELP sfsync_open_gaps Gaps not yet filled or accepted", "# TYPE sfsync_open_gaps gauge",
              f"sfsync_open_gaps {open_gaps}",
              "# HELP sfsync_quarantine_rows Distinct payloads in quarantine", "# TYPE sfsync_quarantine_rows gauge",
              f"sfsync_quarantine_rows {quarantined}",
              "# HELP sfsync_rejected_open Rejected events waiting for a controller",
              "# TYPE sfsync_rejected_open gauge", f"sfsync_rejected_open {rejected_open}"]
    return lines


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(request: Request) -> PlainTextResponse:
    """Prometheus text format: this process's ingest counters plus per-stream figures from the database."""
    container = get_container(request)
    text = container.metrics.registry.render(_stream_lines(request))
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4")
