"""Open endpoints: ``/health``, ``/ready`` and ``/metrics`` (Prometheus text), at the root and
under ``/api/v1``.

``/health`` and ``/ready`` report the real state of this process: the database answers, and,
when this process runs an ingest worker, the worker is alive, its heartbeat is fresh (younger
than ``ingest.heartbeat_stale_seconds``), the database is not failing it and the broker is
connected. Anything else is ``degraded`` with HTTP 503 and a list of ``problems``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from central.entrypoints.api.deps import get_container
from central.entrypoints.api.schemas import ResponseBody
from central.service_layer.health import HealthReport, health_report, stream_figures
from shared.metrics import Exposition

__all__ = ["router", "IngestStateOut", "HealthOut", "ReadyOut"]

router = APIRouter(tags=["health"])


def _state(request: Request) -> HealthReport:
    container = get_container(request)
    settings = container.settings.ingest
    report = health_report(
        container.read_sessions, container.ingest_state, ingest_enabled=settings.enabled,
        stale_after=settings.heartbeat_stale_seconds, posting_handler=container.posting_name,
        started=container.started, now=datetime.now(UTC),
    )
    if report.heartbeat_age is not None:
        container.metrics.heartbeat_age.set(report.heartbeat_age)
    return report


class IngestStateOut(ResponseBody):
    """The ingest worker as this process sees it; a key the worker has not reported yet is absent.
    ``worker``: ``absent`` (no ingest worker in this process), ``running``, ``retrying``, ``stale``,
    ``dead`` or ``stopped``."""

    enabled: bool
    connected: bool | None = None
    subscribed: bool | None = None
    subscription: str | None = None
    database: str | None = None
    last_error: str | None = None
    worker_restarts: int | None = None
    heartbeat_age_seconds: float | None = None
    worker: str


class HealthOut(ResponseBody):
    """``status`` is ``ok`` or ``degraded`` (then HTTP 503 and ``problems`` says why)."""

    status: str
    ready: bool
    problems: list[str]
    database: str
    ingest: IngestStateOut
    posting_handler: str
    started: str
    now: str


class ReadyOut(ResponseBody):
    ready: bool
    problems: list[str]
    ingest: IngestStateOut


def _answer(model: type[ResponseBody], body: Mapping[str, object], degraded: bool) -> JSONResponse:
    """``body`` checked against ``model`` and sent as it is (keys the process did not report stay
    absent), with 503 when degraded. A JSONResponse because the status depends on the state."""
    checked = model.model_validate(body)
    return JSONResponse(checked.model_dump(mode="json", by_alias=True, exclude_unset=True),
                        status_code=503 if degraded else 200)


_DEGRADED: dict[int | str, dict[str, Any]] = {
    503: {"description": "Degraded: the database or the ingest worker is not well (see `problems`)"}}


@router.get("/health", responses={503: {**_DEGRADED[503], "model": HealthOut}},
            response_model=HealthOut, response_model_exclude_unset=True)
def health(request: Request) -> JSONResponse:
    """The process's state: database reachable, the ingest worker alive with a fresh heartbeat
    and connected, which posting handler runs; 503 with ``problems`` when degraded."""
    report = _state(request)
    return _answer(HealthOut, report.body, bool(report.problems))


@router.get("/ready", responses={503: {**_DEGRADED[503], "model": ReadyOut}},
            response_model=ReadyOut, response_model_exclude_unset=True)
def ready(request: Request) -> JSONResponse:
    """Readiness: 200 ``{"ready": true}`` when /health is ok, else 503 with the problems."""
    report = _state(request)
    problems = report.problems
    body = {"ready": not problems, "problems": problems, "ingest": report.body["ingest"]}
    return _answer(ReadyOut, body, bool(problems))


def _stream_lines(request: Request) -> list[str]:
    figures = stream_figures(get_container(request).read_sessions)
    if figures is None:
        return ["# database unavailable"]
    page = Exposition()
    per_stream = (
        ("sfsync_stream_acked_through", "Highest contiguous seq committed, per stream", figures.acked_through),
        ("sfsync_stream_seq_lag", "Seqs received but not yet contiguous (last_seq - acked_through)",
         figures.seq_lag),
        ("sfsync_stream_held_events", "Events stored behind a gap, per stream", figures.held_events),
    )
    for name, help_text, values in per_stream:
        page.family(name, help_text)  # documented even before the first stream exists
        for stream, value in values.items():
            page.add(name, value, help_text, stream=stream)
    page.add("sfsync_open_gaps", figures.open_gaps, "Gaps not yet filled or accepted")
    page.add("sfsync_quarantine_rows", figures.quarantined, "Distinct payloads in quarantine")
    page.add("sfsync_rejected_open", figures.rejected_open, "Rejected events waiting for a controller")
    return page.lines()


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(request: Request) -> PlainTextResponse:
    """Prometheus text format: this process's ingest counters plus per-stream figures from the database."""
    container = get_container(request)
    text = container.metrics.registry.render(_stream_lines(request))
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4")
