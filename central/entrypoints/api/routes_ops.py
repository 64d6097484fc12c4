"""Ingest operations API: events, streams, accept-gap, quarantine, rejected events + replay,
alerts + ack, edges. Thin: parse, check the role, call the service layer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from central.domain.bounds import INT64_MAX
from central.entrypoints.api.deps import (
    AfterQuery,
    IdPath,
    Instant,
    LimitQuery,
    Principal,
    PrincipalDep,
    SessionDep,
    get_container,
    require_role,
)
from central.service_layer.ingest import operations as ingest_ops
from central.service_layer.ingest import queries as ingest_queries

__all__ = ["router"]

router = APIRouter(tags=["ingest"])

Controller = Annotated[Principal, Depends(require_role("controller"))]
Engineer = Annotated[Principal, Depends(require_role("engineer"))]
Limit = LimitQuery
After = AfterQuery


def _now() -> datetime:
    return datetime.now(UTC)


def _limit(request: Request, limit: int | None) -> int:
    cap = get_container(request).settings.api.page_limit_max
    return min(limit or min(100, cap), cap)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AcceptGapIn(_Body):
    through: StrictInt = Field(ge=1, le=INT64_MAX)
    reason: str = Field(min_length=1, max_length=2000)


class ReplayIn(_Body):
    event: dict[str, Any] | None = Field(default=None, description="corrected event (same seq); default: stored body")


class EdgeIn(_Body):
    id: str
    plant: str


@router.get("/events")
def get_events(
    request: Request, session: SessionDep, _who: PrincipalDep,
    machine: str | None = None, kind: Literal["count", "scrap", "state"] | None = None,
    since: Instant | None = None, until: Instant | None = None, stream: str | None = None,
    edge: str | None = None, status: Literal["accepted", "pending", "rejected"] | None = None,
    limit: Limit | None = None, after: After = None,
) -> dict[str, Any]:
    return ingest_queries.list_events(
        session, limit=_limit(request, limit), after=after, machine=machine, kind=kind, since=since, until=until,
        stream=stream, status=status, edge=edge,
    )


@router.get("/streams")
def get_streams(session: SessionDep, _who: PrincipalDep) -> dict[str, Any]:
    return {"streams": ingest_queries.list_streams(session)}


@router.post("/streams/{stream}/accept-gap")
def post_accept_gap(request: Request, stream: str, body: AcceptGapIn, session: SessionDep,
                    who: Controller) -> dict[str, Any]:
    container = get_container(request)
    done = ingest_ops.accept_gap(session, stream, body.through, body.reason, who.user, container.posting, _now())
    container.metrics.gaps_accepted.inc()
    return {"stream": done.stream, "acked_through": done.acked_through, "skipped": done.skipped,
            "released": done.released}


@router.get("/quarantine")
def get_quarantine(request: Request, session: SessionDep, _who: PrincipalDep,
                   limit: Limit | None = None, after: After = None) -> dict[str, Any]:
    return ingest_queries.list_quarantine(session, limit=_limit(request, limit), after=after)


@router.get("/rejected-events")
def get_rejected(request: Request, session: SessionDep, _who: PrincipalDep,
                 status: Literal["open", "replayed"] | None = None, stream: str | None = None,
                 limit: Limit | None = None, after: After = None) -> dict[str, Any]:
    return ingest_queries.list_rejected(session, limit=_limit(request, limit), after=after, status=status,
                                        stream=stream)


@router.post("/rejected-events/{rejected_id}/replay")
def post_replay(request: Request, rejected_id: IdPath, session: SessionDep, who: Controller,
                body: ReplayIn | None = None) -> dict[str, Any]:
    container = get_container(request)
    ingest = container.settings.ingest
    ev = ingest_ops.replay_rejected(
        session, rejected_id, who.user, container.posting, _now(),
        require_known_machine=ingest.require_known_machine,
        body=body.event if body is not None else None,
    )
    return {"event": ingest_queries.event_dict(ev)}


@router.get("/alerts")
def get_alerts(request: Request, session: SessionDep, _who: PrincipalDep, open: bool = False,
               kind: str | None = None, limit: Limit | None = None, after: After = None) -> dict[str, Any]:
    return ingest_queries.list_alerts(session, limit=_limit(request, limit), after=after, open_only=open, kind=kind)


@router.post("/alerts/{alert_id}/ack")
def post_alert_ack(alert_id: IdPath, session: SessionDep, who: PrincipalDep) -> dict[str, Any]:
    return {"alert": ingest_queries.alert_dict(ingest_ops.ack_alert(session, alert_id, who.user, _now()))}


@router.get("/edges")
def get_edges(session: SessionDep, _who: PrincipalDep) -> dict[str, Any]:
    return {"edges": ingest_queries.list_edges(session)}


@router.post("/edges", status_code=201)
def post_edge(body: EdgeIn, session: SessionDep, _who: Engineer) -> dict[str, Any]:
    return {"edge": ingest_queries.edge_dict(ingest_ops.register_edge(session, body.id, body.plant, _now()))}
