"""Machine events and the controller's queues: ``/events``, ``/streams`` (+ accept-gap),
``/quarantine``, ``/rejected-events`` (+ replay), ``/unassigned`` (+ assign) and ``/suspect-events``
(+ accept, reject). Thin: parse, check the role, call the service layer."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field, StrictInt

from central.domain.bounds import INT64_MAX
from central.domain.commands import (
    AcceptGap,
    AcceptSuspectEvent,
    AssignEvent,
    RejectSuspectEvent,
    ReplayRejectedEvent,
)
from central.entrypoints.api.deps import (
    AfterQuery,
    IdPath,
    Instant,
    LimitQuery,
    OffsetQuery,
    Principal,
    PrincipalDep,
    SessionDep,
    UnitOfWorkDep,
    get_container,
    require_role,
)
from central.entrypoints.api.paging import page_size
from central.entrypoints.api.schemas import RESPONSE_CONFIG, RequestBody, ResponseBody, response_body_of
from central.service_layer.costing import work_orders
from central.service_layer.ingest import operations, queries

__all__ = ["router"]

router = APIRouter(tags=["ingest"])

Controller = Annotated[Principal, Depends(require_role("controller"))]
Limit = LimitQuery
After = AfterQuery
QueueLimit = Annotated[int, Query(ge=1, le=1000)]


# --- requests -------------------------------------------------------------------------------


class AcceptGapIn(RequestBody):
    through: StrictInt = Field(ge=1, le=INT64_MAX)
    reason: str = Field(min_length=1, max_length=2000)


class ReplayIn(RequestBody):
    event: dict[str, Any] | None = Field(default=None, description="corrected event (same seq); default: stored body")


class AssignIn(RequestBody):
    work_order: str


# --- responses ------------------------------------------------------------------------------


class EventOut(queries.EventView):
    """The service's :class:`~central.service_layer.ingest.queries.EventView`, validated as
    strictly as every response (one definition of the shape)."""

    __pydantic_config__ = RESPONSE_CONFIG  # type: ignore[misc]


EventsOut = response_body_of(queries.EventPage, "EventsOut", events=list[EventOut])


class EventReplayedOut(ResponseBody):
    event: EventOut


class StreamOut(queries.StreamView):
    __pydantic_config__ = RESPONSE_CONFIG  # type: ignore[misc]


class StreamsOut(ResponseBody):
    streams: list[StreamOut]


class GapAcceptedOut(ResponseBody):
    stream: str
    acked_through: int
    skipped: int
    released: int


class QuarantinedOut(queries.QuarantinedView):
    __pydantic_config__ = RESPONSE_CONFIG  # type: ignore[misc]


QuarantineOut = response_body_of(queries.QuarantinePage, "QuarantineOut", quarantine=list[QuarantinedOut])


class RejectedOut(queries.RejectedView):
    __pydantic_config__ = RESPONSE_CONFIG  # type: ignore[misc]


RejectedListOut = response_body_of(queries.RejectedPage, "RejectedListOut", rejected_events=list[RejectedOut])


class EventPostingOut(ResponseBody):
    """A count, scrap or state event as costing holds it (``record``: the production record it posted to)."""

    id: int
    machine: str
    kind: str
    ts: str
    qty: int
    state: str | None
    reason: str | None
    status: str
    work_order: str | None
    record: int | None
    late: bool
    decided_by: str | None
    hold_reason: str | None


class EventPostingsOut(ResponseBody):
    events: list[EventPostingOut]


# --- events and streams ---------------------------------------------------------------------


@router.get("/events", response_model=EventsOut, response_model_exclude_unset=True)
def get_events(
    request: Request, session: SessionDep, _who: PrincipalDep,
    machine: str | None = None, kind: Literal["count", "scrap", "state"] | None = None,
    since: Instant | None = None, until: Instant | None = None, stream: str | None = None,
    edge: str | None = None, status: Literal["accepted", "pending", "rejected"] | None = None,
    limit: Limit | None = None, after: After = None,
) -> object:
    return queries.list_events(
        session, limit=page_size(request, limit), after=after, machine=machine, kind=kind, since=since, until=until,
        stream=stream, status=status, edge=edge,
    )


@router.get("/streams", response_model=StreamsOut, response_model_exclude_unset=True, response_model_by_alias=True)
def get_streams(session: SessionDep, _who: PrincipalDep) -> object:
    return {"streams": queries.list_streams(session)}


@router.post("/streams/{stream}/accept-gap", response_model=GapAcceptedOut, response_model_exclude_unset=True)
def post_accept_gap(request: Request, stream: str, body: AcceptGapIn, uow: UnitOfWorkDep, who: Controller) -> object:
    container = get_container(request)
    done = operations.accept_stream_gap(AcceptGap(stream, body.through, body.reason, who.user), uow,
                                        operations.bound_posting(uow, container.posting))
    container.metrics.gaps_accepted.inc()
    return {"stream": done.stream, "acked_through": done.acked_through, "skipped": done.skipped,
            "released": done.released}


# --- quarantine and rejected events ---------------------------------------------------------


@router.get("/quarantine", response_model=QuarantineOut, response_model_exclude_unset=True)
def get_quarantine(request: Request, session: SessionDep, _who: PrincipalDep,
                   limit: Limit | None = None, after: After = None) -> object:
    return queries.list_quarantine(session, limit=page_size(request, limit), after=after)


@router.get("/rejected-events", response_model=RejectedListOut, response_model_exclude_unset=True)
def get_rejected(request: Request, session: SessionDep, _who: PrincipalDep,
                 status: Literal["open", "replayed"] | None = None, stream: str | None = None,
                 limit: Limit | None = None, after: After = None) -> object:
    return queries.list_rejected(session, limit=page_size(request, limit), after=after, status=status,
                                 stream=stream)


@router.post("/rejected-events/{rejected_id}/replay", response_model=EventReplayedOut,
             response_model_exclude_unset=True)
def post_replay(request: Request, rejected_id: IdPath, uow: UnitOfWorkDep, session: SessionDep, who: Controller,
                body: ReplayIn | None = None) -> object:
    container = get_container(request)
    command = ReplayRejectedEvent(rejected_id, who.user, body.event if body is not None else None)
    done = operations.replay_rejected_event(command, uow, operations.bound_posting(uow, container.posting),
                                            require_known_machine=container.settings.ingest.require_known_machine)
    return {"event": queries.get_event(session, done.event_id)}


# --- the controller's queues: unassigned and suspect events --------------------------------


@router.get("/unassigned", response_model=EventPostingsOut, response_model_exclude_unset=True)
def get_unassigned(session: SessionDep, _who: PrincipalDep, limit: QueueLimit = 100,
                   offset: OffsetQuery = 0) -> object:
    return {"events": work_orders.list_event_postings(session, "unassigned", limit, offset)}


@router.post("/unassigned/{event_id}/assign", response_model=EventPostingOut, response_model_exclude_unset=True)
def assign_unassigned(event_id: IdPath, body: AssignIn, uow: UnitOfWorkDep, who: Controller) -> object:
    command = AssignEvent(event_id, body.work_order, who.user)
    return work_orders.event_view(work_orders.assign_event_to_order(command, uow))


@router.get("/suspect-events", response_model=EventPostingsOut, response_model_exclude_unset=True)
def get_suspect_events(session: SessionDep, _who: PrincipalDep, limit: QueueLimit = 100,
                       offset: OffsetQuery = 0) -> object:
    return {"events": work_orders.list_event_postings(session, "suspect", limit, offset)}


@router.post("/suspect-events/{event_id}/accept", response_model=EventPostingOut, response_model_exclude_unset=True)
def accept_suspect_event(event_id: IdPath, uow: UnitOfWorkDep, who: Controller) -> object:
    return work_orders.event_view(work_orders.accept_suspect_event(AcceptSuspectEvent(event_id, who.user), uow))


@router.post("/suspect-events/{event_id}/reject", response_model=EventPostingOut, response_model_exclude_unset=True)
def reject_suspect_event(event_id: IdPath, uow: UnitOfWorkDep, who: Controller) -> object:
    return work_orders.event_view(work_orders.reject_suspect_event(RejectSuspectEvent(event_id, who.user), uow))
