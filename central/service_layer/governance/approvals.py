"""Approval requests: a change that needs a second person is stored as a request and applied, in
the approving transaction, by the applier registered for its kind.

Services::

    from central.service_layer.governance.approvals import park_for_approval

    def apply_standard_cost(uow: AbstractUnitOfWork, req: ApprovedRequest) -> dict[str, Any] | None:
        ...  # do the change from req.payload; raise a CentralError/DomainError to refuse it
        return {"version": 7}  # optional: stored on the request as its result

    row = park_for_approval(uow, actor, "standard_cost_change", {"item": "S", "standard_cost": "4.10"},
                            "controller", summary="S: 4.00 -> 4.10", target="item/S")

and the applier gets its line in the explicit map :data:`central.bootstrap.APPLIERS`, which
:func:`central.bootstrap.bootstrap` registers (:func:`register_appliers`) in every process, so
approving works in any entry point. An applier gets the approving unit of work (its clock is the
approval's time). :func:`register_applier` registers one that still takes a SQLAlchemy session
(``uow.session``, the transitional seam). ``approve_request``/``reject_request`` are the handlers
(``(command, uow)``); ``approve``/``reject``/``request_approval`` run them in a session the
caller holds, through the unit-of-work factory the wiring injects (:func:`register_unit_of_work`,
``SqlAlchemyUnitOfWork.joining`` from :func:`central.bootstrap.bootstrap`): this module imports
no adapter's unit of work, so the SQL unit of work (which takes its audit log from this package)
and this module never import each other. The appliers import this module (for
:class:`ApprovedRequest`), which is why the map lives in the wiring and not here.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session
from typing_extensions import TypedDict

from central.adapters.db.models_governance import ApprovalRow
from central.adapters.db.paging import keyset_page
from central.domain.audit_chain import format_at, normalize_json
from central.domain.commands import ApproveRequest, RejectRequest
from central.domain.governance import Decision, Status, refusal
from central.errors import Conflict, Forbidden, InvalidInput, NotFound
from central.service_layer.access import ROLES, Principal
from central.service_layer.clock import Clock, utc_now
from central.service_layer.unit_of_work import AbstractUnitOfWork, Actor

log = logging.getLogger(__name__)

__all__ = [
    "ApprovalView",
    "ApprovalPage",
    "Applier",
    "SessionApplier",
    "ApprovedRequest",
    "park_for_approval",
    "approve_request",
    "reject_request",
    "register_applier",
    "register_appliers",
    "register_unit_of_work",
    "registered_kinds",
    "JoinUnitOfWork",
    "request_approval",
    "approve",
    "reject",
    "get_approval",
    "list_approvals",
    "approval_dict",
]


@dataclass(frozen=True, slots=True)
class ApprovedRequest:
    """What an applier gets: the request as approved (``payload`` is plain JSON: decimals are strings)."""

    id: int
    kind: str
    payload: Mapping[str, Any]
    requested_by: str
    requested_role: str | None
    approved_by: str
    approved_role: str
    approved_at: datetime


Applier = Callable[[AbstractUnitOfWork, ApprovedRequest], Mapping[str, Any] | None]
"""Applies an approved request in the approving unit of work, which it has entered and commits
(the applier neither enters nor commits it); its ``uow.clock()`` is the approval's time."""
SessionApplier = Callable[[Session, ApprovedRequest], Mapping[str, Any] | None]
"""An applier that still takes the approving transaction's SQLAlchemy session."""

JoinUnitOfWork = Callable[[Session, Clock], AbstractUnitOfWork]
"""A unit of work inside the transaction of a session someone else holds, stamped by the clock."""

_APPLIERS: dict[str, tuple[object, Applier]] = {}
"""kind -> (the function registered, the applier that runs it)."""
_MAX_KIND = 64


def _register(kind: str, registered: object, fn: Applier) -> None:
    if not kind or len(kind) > _MAX_KIND:
        raise ValueError(f"approval kind must be 1..{_MAX_KIND} characters")
    existing = _APPLIERS.get(kind)
    if existing is not None and existing[0] is not registered:
        raise ValueError(f"an applier for {kind!r} is already registered ({existing[0]!r})")
    _APPLIERS[kind] = (registered, fn)


def register_applier(kind: str, fn: SessionApplier) -> None:
    """Register a session-taking function that applies approved requests of ``kind`` (once per
    kind); it gets ``uow.session`` of the approving unit of work."""

    def on_session(uow: AbstractUnitOfWork, req: ApprovedRequest) -> Mapping[str, Any] | None:
        return fn(uow.session, req)

    _register(kind, fn, on_session)


def register_appliers(appliers: Mapping[str, Applier]) -> None:
    """Register every applier of an explicit kind -> function map (the wiring's, at start)."""
    for kind, fn in appliers.items():
        _register(kind, fn, fn)


_JOIN: list[JoinUnitOfWork] = []
"""The unit-of-work factory of the session-taking wrappers (one; set by the wiring)."""


def register_unit_of_work(join: JoinUnitOfWork) -> None:
    """Inject how :func:`request_approval`, :func:`approve` and :func:`reject` build a unit of
    work in the caller's session (the wiring passes ``SqlAlchemyUnitOfWork.joining``)."""
    _JOIN[:] = [join]


def _joined(session: Session, now: datetime | None) -> AbstractUnitOfWork:
    if not _JOIN:
        raise RuntimeError("no unit of work is registered for approvals: build the process with "
                           "central.bootstrap.bootstrap() (or call register_unit_of_work)")
    clock: Clock = (lambda: now) if now is not None else utc_now
    return _JOIN[0](session, clock)


def registered_kinds() -> list[str]:
    return sorted(_APPLIERS)


def _applier(kind: str) -> Applier:
    found = _APPLIERS.get(kind)
    if found is None:
        raise Conflict(f"no applier is registered for approval kind {kind!r}", {"kinds": sorted(_APPLIERS)},
                       code="no_applier")
    return found[1]


def _digest(kind: str, payload: Mapping[str, Any]) -> str:
    return hashlib.sha256(kind.encode() + b"\n" + orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()


def park_for_approval(
    uow: AbstractUnitOfWork, principal: Actor, kind: str, payload: Mapping[str, Any], required_role: str, *,
    summary: str | None = None, target: str | None = None,
) -> ApprovalRow:
    """Store a pending request (audited, stamped ``uow.clock()``) and return it, in the caller's
    unit of work (not committed here); the same pending request twice is one.

    ``required_role`` is the role the approver needs; the approver is never ``principal``.
    """
    if required_role not in ROLES:
        raise ValueError(f"unknown role {required_role!r}; roles are {ROLES}")
    _applier(kind)  # refuse kinds nobody can apply before anyone waits for them
    data = normalize_json(dict(payload))
    digest = _digest(kind, data)
    user = principal.user if isinstance(principal, Principal) else principal
    role = principal.role if isinstance(principal, Principal) else None
    existing = uow.approvals.pending(kind, digest)
    if existing is not None:
        log.info("approval %s (%s) already pending for this change; %s asked again", existing.id, kind, user)
        return existing
    now = uow.clock()
    row = ApprovalRow(
        kind=kind, status=Status.PENDING, summary=summary or kind, target=target, payload=data,
        payload_digest=digest, required_role=required_role, requested_by=user, requested_role=role,
        requested_at=now,
    )
    uow.approvals.add(row)
    uow.audit.record(principal, "approval.request", f"approval/{row.id}",
                     {"kind": kind, "required_role": required_role, "summary": row.summary, "target": target,
                      "payload_digest": digest}, at=now)
    log.info("approval %s requested: %s by %s (needs %s)", row.id, kind, user, required_role)
    return row


def request_approval(
    session: Session, principal: Actor, kind: str, payload: Mapping[str, Any], required_role: str, *,
    summary: str | None = None, target: str | None = None, now: datetime | None = None,
) -> ApprovalRow:
    """:func:`park_for_approval` in ``session``'s transaction (stamped ``now``, default the clock)."""
    return park_for_approval(_joined(session, now), principal, kind, payload, required_role, summary=summary,
                             target=target)


def _locked(uow: AbstractUnitOfWork, approval_id: int) -> ApprovalRow:
    row = uow.approvals.get(approval_id, lock=True)
    if row is None:
        raise NotFound(f"no approval request {approval_id}")
    return row


def _check(row: ApprovalRow, user: str, role: str, decision: Decision) -> None:
    why = refusal(status=row.status, requested_by=row.requested_by, required_role=row.required_role,
                  user=user, role=role, decision=decision)
    if why is None:
        return
    detail = {"approval": row.id, "status": row.status, "requested_by": row.requested_by,
              "required_role": row.required_role}
    if why.kind == "state":
        raise Conflict(why.message, detail, code="approval_decided")
    if why.kind == "own_request":
        raise Forbidden(why.message, detail, code="segregation_of_duties")
    raise Forbidden(why.message, detail)


def _decider(user: str, role: str, token_id: str | None) -> Actor:
    return Principal(user, role, token_id) if token_id is not None else user


def approve_request(cmd: ApproveRequest, uow: AbstractUnitOfWork) -> ApprovalRow:
    """Approve and apply in this unit of work; if the applier refuses, nothing changes (the
    request stays pending and the error goes to the approver). Segregation of duties: the
    requester never approves their own request, and the approver needs the required role."""
    with uow:
        row = _locked(uow, cmd.approval_id)
        _check(row, cmd.user, cmd.role, Decision.APPROVE)
        fn = _applier(row.kind)
        at = uow.clock()
        clock, uow.clock = uow.clock, lambda: at  # the applier's "now" is the approval's time
        try:
            result = fn(uow, ApprovedRequest(row.id, row.kind, row.payload, row.requested_by, row.requested_role,
                                             cmd.user, cmd.role, at))
        finally:
            uow.clock = clock
        row.status = Status.APPROVED
        row.decided_by, row.decided_role, row.decided_at = cmd.user, cmd.role, at
        row.comment = cmd.comment
        row.result = normalize_json(dict(result)) if result is not None else None
        uow.audit.record(_decider(cmd.user, cmd.role, cmd.token_id), "approval.approve", f"approval/{row.id}",
                         {"kind": row.kind, "requested_by": row.requested_by, "comment": cmd.comment,
                          "result": row.result, "payload_digest": row.payload_digest}, at=at)
        uow.commit()
        log.info("approval %s (%s) approved by %s and applied", row.id, row.kind, cmd.user)
        return row


def reject_request(cmd: RejectRequest, uow: AbstractUnitOfWork) -> ApprovalRow:
    """Reject (or, by the requester, withdraw) a pending request; nothing is applied."""
    if not cmd.reason.strip():
        raise InvalidInput("a rejection needs a reason")
    with uow:
        row = _locked(uow, cmd.approval_id)
        _check(row, cmd.user, cmd.role, Decision.REJECT)
        at = uow.clock()
        row.status = Status.REJECTED
        row.decided_by, row.decided_role, row.decided_at = cmd.user, cmd.role, at
        row.comment = cmd.reason
        withdrawn = cmd.user == row.requested_by
        uow.audit.record(_decider(cmd.user, cmd.role, cmd.token_id),
                         "approval.withdraw" if withdrawn else "approval.reject", f"approval/{row.id}",
                         {"kind": row.kind, "requested_by": row.requested_by, "reason": cmd.reason}, at=at)
        uow.commit()
        return row


def approve(session: Session, principal: Principal, approval_id: int, comment: str | None = None, *,
            now: datetime | None = None) -> ApprovalRow:
    """:func:`approve_request` in ``session``'s transaction."""
    return approve_request(ApproveRequest(approval_id, principal.user, principal.role, comment, principal.token_id),
                           _joined(session, now))


def reject(session: Session, principal: Principal, approval_id: int, reason: str, *,
           now: datetime | None = None) -> ApprovalRow:
    """:func:`reject_request` in ``session``'s transaction."""
    return reject_request(RejectRequest(approval_id, principal.user, principal.role, reason, principal.token_id),
                          _joined(session, now))


# --- read side ------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return format_at(value) if value is not None else None


class ApprovalView(TypedDict):
    """An approval request as the API shows it (instants: ISO 8601, UTC)."""

    id: int
    kind: str
    status: str
    summary: str
    target: str | None
    payload: Any
    required_role: str
    requested_by: str
    requested_role: str | None
    requested_at: str | None
    decided_by: str | None
    decided_role: str | None
    decided_at: str | None
    comment: str | None
    result: Any


class ApprovalPage(TypedDict):
    approvals: list[ApprovalView]
    #: the last id of this page (``after`` for the next one), None on the last page
    next: int | None


def approval_dict(r: ApprovalRow) -> ApprovalView:
    return {
        "id": r.id, "kind": r.kind, "status": r.status, "summary": r.summary, "target": r.target,
        "payload": r.payload, "required_role": r.required_role, "requested_by": r.requested_by,
        "requested_role": r.requested_role, "requested_at": _iso(r.requested_at), "decided_by": r.decided_by,
        "decided_role": r.decided_role, "decided_at": _iso(r.decided_at), "comment": r.comment, "result": r.result,
    }


def get_approval(session: Session, approval_id: int) -> ApprovalRow:
    row = session.get(ApprovalRow, approval_id)
    if row is None:
        raise NotFound(f"no approval request {approval_id}")
    return row


def list_approvals(
    session: Session, *, limit: int, after: int | None = None, status: str | None = None, kind: str | None = None,
    requested_by: str | None = None, target: str | None = None,
) -> ApprovalPage:
    """One page by id; ``next`` is the ``after`` of the next page, None on the last."""
    stmt = select(ApprovalRow)
    if status is not None:
        stmt = stmt.where(ApprovalRow.status == status)
    if kind is not None:
        stmt = stmt.where(ApprovalRow.kind == kind)
    if requested_by is not None:
        stmt = stmt.where(ApprovalRow.requested_by == requested_by)
    if target is not None:
        stmt = stmt.where(ApprovalRow.target == target)
    rows, next_after = keyset_page(session, stmt, ApprovalRow.id, limit, after)
    return {"approvals": [approval_dict(r) for r in rows], "next": next_after}
