"""The one alert service: ingest, costing and the rule evaluator raise alerts here, inside the
caller's transaction; people move them through their lifecycle here.

* :func:`raise_alert_in` (ingest, costing, webhooks, escalated recommendations): the merge rule
  of :mod:`central.domain.alerts`: find the open alert with the same key (the oldest, should two
  ever be open) and merge, or open one.
* :func:`apply_finding` (the rule evaluator, :mod:`central.service_layer.alert_rules`): a rule's
  finding opens an alert, refreshes its evidence, holds it, or resolves it by itself after
  ``clear_runs`` clear evaluations in a row (hysteresis).
* Every producer calls these on a unit of work, and the time is ``uow.clock()``: a caller
  that holds only a session (costing's posting, which still takes one) wraps it as
  ``SqlAlchemyUnitOfWork.joining(session, clock)``. An alert opens one way (``_open``), whoever
  raises it.
* An alert opened without a ``plant`` takes it from its evidence (``edge`` or ``machine``).
* The lifecycle ``open -> acknowledged -> resolved`` (or ``dismissed``), with an assignee and a
  comment: the handlers :func:`acknowledge_alert`, :func:`assign_alert`, :func:`resolve_alert`,
  :func:`dismiss_alert` on a unit of work (``acknowledge``/``assign``/``resolve`` run them in a
  session someone holds, the console's). Every lifecycle change (and
  every alert the evaluator opens or resolves) is an audit record (``alert.*``) in the same
  transaction. Alerts the ingest raises are not audited one by one (the audit chain's head lock
  stays off the ingest path); their acknowledgement and resolution are.

Every opening and lifecycle change is queued for the webhooks in the same transaction
(:mod:`central.service_layer.alert_outbox`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session
from typing_extensions import TypedDict

from central.adapters.db.models_ingest import AlertRow
from central.adapters.db.paging import keyset_page
from central.adapters.unit_of_work import SqlAlchemyUnitOfWork
from central.domain.alert_rules import Finding, Level
from central.domain.alerts import AlertOccurrence, AlertState
from central.domain.commands import AcknowledgeAlert, AssignAlert, DismissAlert, ResolveAlert
from central.domain.principal import Actor
from central.errors import Conflict, NotFound
from central.service_layer.access import Principal
from central.service_layer.alert_outbox import enqueue_in
from central.service_layer.unit_of_work import AbstractUnitOfWork

log = logging.getLogger(__name__)

__all__ = [
    "OPEN", "ACKNOWLEDGED", "RESOLVED", "DISMISSED", "ACTIVE", "SYSTEM",
    "raise_alert", "raise_alert_in", "apply_finding", "acknowledge_alert", "assign_alert", "resolve_alert",
    "dismiss_alert",
    "acknowledge", "assign", "resolve", "AlertView", "AlertPage", "alert_view", "list_alerts", "get_alert",
]

OPEN, ACKNOWLEDGED, RESOLVED, DISMISSED = "open", "acknowledged", "resolved", "dismissed"
ACTIVE = (OPEN, ACKNOWLEDGED)
SYSTEM = "system"
"""The actor of the evaluator's own changes in the audit log."""


def raise_alert(
    session: Session,
    kind: str,
    key: str,
    message: str,
    now: datetime,
    *,
    severity: str = "warning",
    detail: Mapping[str, Any] | None = None,
    plant: str | None = None,
    entity: str | None = None,
) -> AlertRow:
    """:func:`raise_alert_in` in ``session``'s transaction at ``now``, for a caller that already
    holds one (tests, as the other session forms). The product's producers call
    :func:`raise_alert_in` on a unit of work."""
    return raise_alert_in(SqlAlchemyUnitOfWork.joining(session, lambda: now), kind, key, message, severity=severity,
                          detail=detail, plant=plant, entity=entity)


def raise_alert_in(
    uow: AbstractUnitOfWork,
    kind: str,
    key: str,
    message: str,
    *,
    severity: str = "warning",
    detail: Mapping[str, Any] | None = None,
    plant: str | None = None,
    entity: str | None = None,
) -> AlertRow:
    """Open an alert, or merge this occurrence into the open one with the same ``key``, at
    ``uow.clock()`` in the caller's unit of work (neither entered nor committed here)."""
    now = uow.clock()
    occ = AlertOccurrence(kind, key, message, now, severity, detail or {})
    row = uow.alerts.open_with_key(occ.stored_key)
    if row is None:
        row = _open(uow, occ, plant if plant is not None else _plant_of(uow, occ.detail), entity)
        count = row.count
    else:
        state = _state(row).merged(occ)
        row.count, row.last_seen = state.count, state.last_seen
        row.message, row.detail = state.message, dict(state.detail)
        count = state.count
    log.warning("alert %s (%s, seen %s times): %s", kind, occ.stored_key, count, message)
    return row


def _open(uow: AbstractUnitOfWork, occ: AlertOccurrence, plant: str | None, entity: str | None) -> AlertRow:
    """Store a new alert for ``occ`` and queue its opening for the webhooks: the one way an
    alert opens, whoever raises it."""
    row = _new_row(AlertState.opened(occ), plant, entity)
    uow.alerts.add(row)
    enqueue_in(uow, row, "opened", occ.at)
    return row


def _plant_of(uow: AbstractUnitOfWork, detail: Mapping[str, Any]) -> str | None:
    """The plant an alert is about, from its evidence: a ``plant``, else its ``edge``'s or its
    ``machine``'s (rows the transaction has usually loaded already; only when an alert opens)."""
    plant = detail.get("plant")
    if isinstance(plant, str):
        return plant
    edge = detail.get("edge")
    if isinstance(edge, str) and (edge_row := uow.edges.get(edge)) is not None:
        return edge_row.plant
    machine = detail.get("machine")
    if isinstance(machine, str):
        return uow.alerts.plant_of_machine(machine)
    return None


def _new_row(state: AlertState, plant: str | None, entity: str | None) -> AlertRow:
    return AlertRow(kind=state.kind, severity=state.severity, key=state.key, message=state.message,
                    detail=dict(state.detail), count=state.count, created=state.created, last_seen=state.last_seen,
                    status=OPEN, plant=plant, entity=entity, clear_runs=0)


def _state(row: AlertRow) -> AlertState:
    return AlertState(kind=row.kind, severity=row.severity, key=row.key, message=row.message,
                      detail=row.detail or {}, count=row.count, created=row.created, last_seen=row.last_seen)


# --- the rule evaluator's side ------------------------------------------------------------------------


def apply_finding(uow: AbstractUnitOfWork, f: Finding, *, clear_runs: int, once: bool = False) -> str:
    """What ``f`` does to the alert with its key, at ``uow.clock()``: ``opened``, ``updated``,
    ``held``, ``clearing``, ``resolved`` or ``quiet``. ``once``: a fact (a close's variances):
    opened at most once per key, whatever became of the earlier alert, and never resolved by the
    evaluator. A finding refreshes an active alert (open or acknowledged) instead of counting
    occurrences; an alert it opens is audited (``alert.open`` by ``system``)."""
    now = uow.clock()
    occ = AlertOccurrence(f.kind, f.key, f.message, now, f.severity, dict(f.detail))
    if once:
        if f.level is not Level.FIRING or uow.alerts.any_with_key(occ.stored_key):
            return "quiet"
        _open_finding(uow, f, occ)
        return "opened"
    row = uow.alerts.active_with_key(occ.stored_key)
    if f.level is Level.FIRING:
        if row is None:
            _open_finding(uow, f, occ)
            return "opened"
        row.message, row.detail, row.last_seen, row.clear_runs = f.message, dict(f.detail), now, 0
        return "updated"
    if row is None:
        return "quiet"
    if f.level is Level.HOLD:
        row.clear_runs = 0
        return "held"
    return clear_step(uow, row, clear_runs=clear_runs, evidence=dict(f.detail))


def clear_step(uow: AbstractUnitOfWork, row: AlertRow, *, clear_runs: int,
               evidence: Mapping[str, Any] | None = None) -> str:
    """One clear evaluation of an active alert; resolved (by ``system``, at ``uow.clock()``)
    after ``clear_runs`` in a row."""
    row.clear_runs = (row.clear_runs or 0) + 1
    if row.clear_runs < clear_runs:
        return "clearing"
    _close(uow, row, RESOLVED, SYSTEM, uow.clock(), "the condition cleared", {"evidence": dict(evidence or {})})
    return "resolved"


def _open_finding(uow: AbstractUnitOfWork, f: Finding, occ: AlertOccurrence) -> AlertRow:
    row = _open(uow, occ, f.plant, f.entity)
    uow.audit.record(SYSTEM, "alert.open", f"alert/{row.id}", {"kind": f.kind, "key": occ.stored_key,
                                                               "detail": f.detail},
                     at=occ.at, describes_request=False)
    log.warning("alert %s opened: %s", f.kind, f.message)
    return row


# --- the lifecycle: people's decisions, handlers on a unit of work ----------------------------------


def _user(actor: Actor) -> str:
    return actor if isinstance(actor, str) else actor.user


def _actor(user: str, role: str | None, token_id: str | None) -> Actor:
    return Principal(user, role, token_id) if role is not None and token_id is not None else user


def get_alert(session: Session, alert_id: int, *, lock: bool = False) -> AlertRow:
    row = session.get(AlertRow, alert_id, with_for_update=lock)
    if row is None:
        raise NotFound(f"no alert {alert_id}")
    return row


def _locked(uow: AbstractUnitOfWork, alert_id: int) -> AlertRow:
    row = uow.alerts.get(alert_id, lock=True)
    if row is None:
        raise NotFound(f"no alert {alert_id}")
    return row


def _change(uow: AbstractUnitOfWork, row: AlertRow, actor: Actor, action: str, now: datetime, comment: str | None,
            detail: Mapping[str, Any]) -> None:
    if comment is not None:
        row.comment = comment
    uow.audit.record(actor, f"alert.{action}", f"alert/{row.id}",
                     {"kind": row.kind, "status": row.status, "comment": comment, **detail}, at=now)
    enqueue_in(uow, row, action, now)


def _close(uow: AbstractUnitOfWork, row: AlertRow, status: str, actor: Actor, now: datetime, comment: str | None,
           detail: Mapping[str, Any]) -> None:
    row.status, row.resolved_at, row.resolved_by = status, now, _user(actor)
    _change(uow, row, actor, status, now, comment, detail)


def acknowledge_alert(cmd: AcknowledgeAlert, uow: AbstractUnitOfWork) -> AlertRow:
    """``open -> acknowledged`` (any role)."""
    with uow:
        row = _locked(uow, cmd.alert_id)
        if row.status != OPEN or row.acked_at is not None:
            by = f" by {row.acked_by}" if row.acked_by else ""
            raise Conflict(f"alert {cmd.alert_id} is {row.status if row.status != OPEN else ACKNOWLEDGED}{by}, "
                           "not open", {"status": row.status})
        now = uow.clock()
        row.status, row.acked_at, row.acked_by = ACKNOWLEDGED, now, cmd.user
        _change(uow, row, _actor(cmd.user, cmd.role, cmd.token_id), "acknowledged", now, cmd.comment, {})
        uow.commit()
        return row


def assign_alert(cmd: AssignAlert, uow: AbstractUnitOfWork) -> AlertRow:
    """Set the assignee of an open or acknowledged alert (controllers)."""
    with uow:
        row = _locked(uow, cmd.alert_id)
        if row.status not in ACTIVE:
            raise Conflict(f"alert {cmd.alert_id} is {row.status}: it cannot be assigned", {"status": row.status})
        before, row.assignee = row.assignee, cmd.assignee
        _change(uow, row, _actor(cmd.user, cmd.role, cmd.token_id), "assigned", uow.clock(), cmd.comment,
                {"assignee": cmd.assignee, "previous_assignee": before})
        uow.commit()
        return row


def _finish(uow: AbstractUnitOfWork, alert_id: int, status: str, user: str, role: str | None, token_id: str | None,
            comment: str | None) -> AlertRow:
    with uow:
        row = _locked(uow, alert_id)
        if row.status not in ACTIVE:
            raise Conflict(f"alert {alert_id} is already {row.status}", {"status": row.status})
        _close(uow, row, status, _actor(user, role, token_id), uow.clock(), comment, {})
        uow.commit()
        return row


def resolve_alert(cmd: ResolveAlert, uow: AbstractUnitOfWork) -> AlertRow:
    """``open|acknowledged -> resolved`` (controllers)."""
    return _finish(uow, cmd.alert_id, RESOLVED, cmd.user, cmd.role, cmd.token_id, cmd.comment)


def dismiss_alert(cmd: DismissAlert, uow: AbstractUnitOfWork) -> AlertRow:
    """``open|acknowledged -> dismissed``: not a real problem (controllers)."""
    return _finish(uow, cmd.alert_id, DISMISSED, cmd.user, cmd.role, cmd.token_id, cmd.comment)


# The same decisions in a session someone else holds (the console's request), stamped ``now``.


def _in(session: Session, now: datetime) -> AbstractUnitOfWork:
    return SqlAlchemyUnitOfWork.joining(session, lambda: now)


def _fields(actor: Actor) -> tuple[str, str | None, str | None]:
    return (actor, None, None) if isinstance(actor, str) else (actor.user, actor.role, actor.token_id)


def acknowledge(session: Session, alert_id: int, actor: Actor, now: datetime, comment: str | None = None) -> AlertRow:
    """:func:`acknowledge_alert` in ``session``'s transaction."""
    user, role, token_id = _fields(actor)
    return acknowledge_alert(AcknowledgeAlert(alert_id, user, comment, role, token_id), _in(session, now))


def assign(session: Session, alert_id: int, assignee: str, actor: Actor, now: datetime,
           comment: str | None = None) -> AlertRow:
    """:func:`assign_alert` in ``session``'s transaction."""
    user, role, token_id = _fields(actor)
    return assign_alert(AssignAlert(alert_id, assignee, user, comment, role, token_id), _in(session, now))


def resolve(session: Session, alert_id: int, actor: Actor, now: datetime, comment: str | None = None, *,
            dismiss: bool = False) -> AlertRow:
    """:func:`resolve_alert` (or :func:`dismiss_alert`) in ``session``'s transaction."""
    user, role, token_id = _fields(actor)
    if dismiss:
        return dismiss_alert(DismissAlert(alert_id, user, comment, role, token_id), _in(session, now))
    return resolve_alert(ResolveAlert(alert_id, user, comment, role, token_id), _in(session, now))


# --- reading ------------------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


class AlertView(TypedDict):
    """An alert as the API and the console show it (times ISO 8601 UTC, ``Z``)."""

    id: int
    kind: str
    severity: str
    key: str
    message: str
    detail: Any
    count: int
    created: str | None
    last_seen: str | None
    acked_at: str | None
    acked_by: str | None
    status: str | None
    assignee: str | None
    comment: str | None
    resolved_at: str | None
    resolved_by: str | None
    plant: str | None
    entity: str | None


class AlertPage(TypedDict):
    """One keyset page: ``next`` is the ``after`` of the next page, None on the last."""

    alerts: list[AlertView]
    next: int | None


def alert_view(r: AlertRow) -> AlertView:
    return {"id": r.id, "kind": r.kind, "severity": r.severity, "key": r.key, "message": r.message,
            "detail": r.detail, "count": r.count, "created": _iso(r.created), "last_seen": _iso(r.last_seen),
            "acked_at": _iso(r.acked_at), "acked_by": r.acked_by, "status": r.status, "assignee": r.assignee,
            "comment": r.comment, "resolved_at": _iso(r.resolved_at), "resolved_by": r.resolved_by,
            "plant": r.plant, "entity": r.entity}


def list_alerts(session: Session, *, limit: int, after: int | None = None, open_only: bool = False,
                status: str | None = None, kind: str | None = None, severity: str | None = None,
                plant: str | None = None, entity: str | None = None, assignee: str | None = None) -> AlertPage:
    """A keyset page of alerts, filtered; ``open_only``: not acknowledged, resolved or dismissed."""
    stmt: Select[tuple[AlertRow]] = select(AlertRow)
    if open_only:
        stmt = stmt.where(AlertRow.status == OPEN, AlertRow.acked_at.is_(None))
    for column, value in ((AlertRow.status, status), (AlertRow.kind, kind), (AlertRow.severity, severity),
                          (AlertRow.plant, plant), (AlertRow.entity, entity), (AlertRow.assignee, assignee)):
        if value is not None:
            stmt = stmt.where(column == value)
    rows, nxt = keyset_page(session, stmt, AlertRow.id, limit, after)
    return {"alerts": [alert_view(r) for r in rows], "next": nxt}
