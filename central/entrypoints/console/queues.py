"""The queues page and its actions (form posts). Each action calls the handler the API route
calls, with the same role check (``check_role``, as ``require_role`` does), segregation of duties
(approvals: the governance service refuses one's own request) and audit record (the request is
attached to the audit log by :func:`action_guard`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote_plus

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from central.adapters.unit_of_work import SqlAlchemyUnitOfWork
from central.domain.anomaly import DismissReason
from central.domain.bounds import INT64_MAX
from central.domain.commands import (
    AcceptGap,
    AcceptSuspectEvent,
    AssignEvent,
    RejectSuspectEvent,
    ReplayRejectedEvent,
)
from central.domain.console_access import Action, Page
from central.entrypoints.api.deps import IdPath, SessionDep, get_container
from central.entrypoints.console.pages import current_period
from central.entrypoints.console.web import PREFIX, action_guard, page_guard, render
from central.service_layer import alerts, console_views, governance
from central.service_layer import recommendations as recs
from central.service_layer.access import check_role
from central.service_layer.console_sessions import ConsoleSession
from central.service_layer.costing import closing, work_orders
from central.service_layer.costing.periods import list_periods
from central.service_layer.ingest import operations, queries

__all__ = ["router"]

router = APIRouter()

Queues = Annotated[ConsoleSession, Depends(page_guard(Page.QUEUES))]
_QUEUE_LIMIT = 100


def _done(message: str, anchor: str = "") -> RedirectResponse:
    return RedirectResponse(f"{PREFIX}/queues?msg={quote_plus(message)}{anchor}", status_code=303)


@router.get("/queues", response_class=HTMLResponse)
def queues(request: Request, session: SessionDep, who: Queues,
           period: Annotated[str | None, Query(max_length=64)] = None) -> Response:
    periods = list_periods(session)
    chosen = period or current_period(periods, datetime.now(UTC).date())
    streams = console_views.stream_summaries(session)
    return render(request, "queues.html", {
        "suspect": work_orders.list_event_postings(session, "suspect", _QUEUE_LIMIT, 0),
        "unassigned": work_orders.list_event_postings(session, "unassigned", _QUEUE_LIMIT, 0),
        "streams": [s for s in streams if s["gaps"]],
        "rejected": queries.list_rejected(session, limit=_QUEUE_LIMIT, status="open")["rejected_events"],
        "quarantine": queries.list_quarantine(session, limit=_QUEUE_LIMIT)["quarantine"],
        "approvals": governance.list_approvals(session, limit=_QUEUE_LIMIT, status="pending")["approvals"],
        "alerts": [a for status in alerts.ACTIVE
                   for a in alerts.list_alerts(session, limit=_QUEUE_LIMIT, status=status)["alerts"]],
        "recommendations": [r for status in recs.UNDECIDED
                            for r in recs.list_recommendations(session, limit=_QUEUE_LIMIT, status=status)[
                                "recommendations"]],
        "dismiss_reasons": [r.value for r in DismissReason],
        "periods": periods, "period": chosen, "checklist": console_views.close_checklist(session, chosen, streams),
        "page": "queues"}, who=who)


def _controller(who: ConsoleSession) -> None:
    check_role(who.principal, ("controller",))  # the API's Controller dependency


@router.post("/queues/suspect/{event_id}/accept")
def accept_suspect(event_id: IdPath, session: SessionDep,
                   who: Annotated[ConsoleSession, Depends(action_guard(Action.SUSPECT_DECIDE))]) -> Response:
    _controller(who)
    work_orders.accept_suspect_event(AcceptSuspectEvent(event_id, who.principal.user),
                                     SqlAlchemyUnitOfWork.joining(session))
    return _done(f"suspect event {event_id} accepted and posted")


@router.post("/queues/suspect/{event_id}/reject")
def reject_suspect(event_id: IdPath, session: SessionDep,
                   who: Annotated[ConsoleSession, Depends(action_guard(Action.SUSPECT_DECIDE))]) -> Response:
    _controller(who)
    work_orders.reject_suspect_event(RejectSuspectEvent(event_id, who.principal.user),
                                     SqlAlchemyUnitOfWork.joining(session))
    return _done(f"suspect event {event_id} rejected")


@router.post("/queues/unassigned/{event_id}/assign")
def assign(event_id: IdPath, session: SessionDep,
           who: Annotated[ConsoleSession, Depends(action_guard(Action.UNASSIGNED_ASSIGN))],
           work_order: Annotated[str, Form(min_length=1, max_length=64)]) -> Response:
    _controller(who)
    work_orders.assign_event_to_order(AssignEvent(event_id, work_order.strip(), who.principal.user),
                                      SqlAlchemyUnitOfWork.joining(session))
    return _done(f"event {event_id} assigned to {work_order}")


@router.post("/queues/gaps/{stream}/accept")
def accept_gap(request: Request, stream: str, session: SessionDep,
               who: Annotated[ConsoleSession, Depends(action_guard(Action.GAP_ACCEPT))],
               through: Annotated[int, Form(ge=1, le=INT64_MAX)],
               reason: Annotated[str, Form(min_length=1, max_length=500)]) -> Response:
    _controller(who)
    container = get_container(request)
    uow = SqlAlchemyUnitOfWork.joining(session, container.clock)
    done = operations.accept_stream_gap(AcceptGap(stream, through, reason, who.principal.user), uow,
                                        operations.bound_posting(uow, container.posting))
    container.metrics.gaps_accepted.inc()
    return _done(f"gap of stream {done.stream} accepted through {through}: {done.released} event(s) released")


@router.post("/queues/rejected/{rejected_id}/replay")
def replay(request: Request, rejected_id: IdPath, session: SessionDep,
           who: Annotated[ConsoleSession, Depends(action_guard(Action.REJECTED_REPLAY))]) -> Response:
    _controller(who)
    container = get_container(request)
    uow = SqlAlchemyUnitOfWork.joining(session, container.clock)
    done = operations.replay_rejected_event(ReplayRejectedEvent(rejected_id, who.principal.user), uow,
                                            operations.bound_posting(uow, container.posting),
                                            require_known_machine=container.settings.ingest.require_known_machine)
    return _done(f"rejected event {rejected_id} replayed as event {done.event_id}")


@router.post("/queues/approvals/{approval_id}/approve")
def approve(approval_id: IdPath, session: SessionDep,
            who: Annotated[ConsoleSession, Depends(action_guard(Action.APPROVAL_DECIDE))],
            comment: Annotated[str, Form(max_length=500)] = "") -> Response:
    governance.approve(session, who.principal, approval_id, comment.strip() or None)
    return _done(f"approval {approval_id} approved and applied")


@router.post("/queues/approvals/{approval_id}/reject")
def reject(approval_id: IdPath, session: SessionDep,
           who: Annotated[ConsoleSession, Depends(action_guard(Action.APPROVAL_DECIDE))],
           reason: Annotated[str, Form(max_length=500)] = "") -> Response:
    governance.reject(session, who.principal, approval_id, reason)
    return _done(f"approval {approval_id} rejected")


Comment = Annotated[str, Form(max_length=2000)]


@router.post("/queues/alerts/{alert_id}/ack")
def ack_alert(alert_id: IdPath, session: SessionDep,
              who: Annotated[ConsoleSession, Depends(action_guard(Action.ALERT_ACK))],
              comment: Comment = "") -> Response:
    alerts.acknowledge(session, alert_id, who.principal, datetime.now(UTC), comment.strip() or None)
    return _done(f"alert {alert_id} acknowledged")


@router.post("/queues/alerts/{alert_id}/assign")
def assign_alert(alert_id: IdPath, session: SessionDep,
                 who: Annotated[ConsoleSession, Depends(action_guard(Action.ALERT_MANAGE))],
                 assignee: Annotated[str, Form(min_length=1, max_length=64)], comment: Comment = "") -> Response:
    _controller(who)
    alerts.assign(session, alert_id, assignee.strip(), who.principal, datetime.now(UTC), comment.strip() or None)
    return _done(f"alert {alert_id} assigned to {assignee.strip()}")


@router.post("/queues/alerts/{alert_id}/resolve")
def resolve_alert(alert_id: IdPath, session: SessionDep,
                  who: Annotated[ConsoleSession, Depends(action_guard(Action.ALERT_MANAGE))],
                  comment: Comment = "", dismiss: Annotated[str, Form(max_length=5)] = "") -> Response:
    _controller(who)
    alerts.resolve(session, alert_id, who.principal, datetime.now(UTC), comment.strip() or None,
                   dismiss=dismiss == "yes")
    return _done(f"alert {alert_id} {'dismissed' if dismiss == 'yes' else 'resolved'}")


@router.post("/queues/recommendations/{rec_id}/ack")
def ack_recommendation(rec_id: IdPath, session: SessionDep,
                       who: Annotated[ConsoleSession, Depends(action_guard(Action.RECOMMENDATION_ACK))],
                       comment: Comment = "") -> Response:
    recs.acknowledge(session, rec_id, who.principal, datetime.now(UTC), comment.strip() or None)
    return _done(f"recommendation {rec_id} acknowledged", "#q-recommendations")


@router.post("/queues/recommendations/{rec_id}/dismiss")
def dismiss_recommendation(rec_id: IdPath, session: SessionDep,
                           who: Annotated[ConsoleSession, Depends(action_guard(Action.RECOMMENDATION_DECIDE))],
                           reason: Annotated[DismissReason, Form()], comment: Comment = "") -> Response:
    _controller(who)
    recs.dismiss(session, rec_id, reason, who.principal, datetime.now(UTC), comment.strip() or None)
    return _done(f"recommendation {rec_id} dismissed ({reason.value})", "#q-recommendations")


@router.post("/queues/recommendations/{rec_id}/escalate")
def escalate_recommendation(rec_id: IdPath, session: SessionDep,
                            who: Annotated[ConsoleSession, Depends(action_guard(Action.RECOMMENDATION_DECIDE))],
                            comment: Comment = "") -> Response:
    _controller(who)
    row = recs.escalate(session, rec_id, who.principal, datetime.now(UTC), comment.strip() or None)
    return _done(f"recommendation {rec_id} escalated as alert {row.alert_id}", "#q-recommendations")


@router.post("/periods/{period_id}/close")
def close_period(period_id: str, session: SessionDep,
                 who: Annotated[ConsoleSession, Depends(action_guard(Action.PERIOD_CLOSE))]) -> Response:
    _controller(who)
    summary = closing.close_period(session, period_id, who.principal.user)
    return _done(f"period {summary['period']} closed")
