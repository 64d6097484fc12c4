"""Approval requests: a change that needs a second person is stored as a request and applied, in
the approving transaction, by the applier registered for its kind.

Services::

    from central.service_layer.governance import request_approval

    def apply_standard_cost(session: Session, req: ApprovedRequest) -> dict[str, Any] | None:
        ...  # do the change from req.payload; raise a CentralError/DomainError to refuse it
        return {"version": 7}  # optional: stored on the request as its result

    row = request_approval(session, principal, "standard_cost_change", {"item": "S", "standard_cost": "4.10"},
                           "controller", summary="S: 4.00 -> 4.10", target="item/S")

and the applier gets its line in the explicit map :data:`central.bootstrap.APPLIERS`, which
:func:`central.bootstrap.bootstrap` registers (:func:`register_appliers`) in every process, so
approving works in any entry point. The appliers import this module (for
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

from central.adapters.db.models_governance import ApprovalRow
from central.adapters.db.paging import keyset_page
from central.domain.audit_chain import format_at, normalize_json
from central.domain.governance import Decision, Status, refusal
from central.errors import Conflict, Forbidden, InvalidInput, NotFound
from central.service_layer.access import ROLES, Principal
from central.service_layer.clock import utc_now
from central.service_layer.governance.audit import Actor, record

log = logging.getLogger(__name__)

__all__ = [
    "Applier",
    "ApprovedRequest",
    "register_applier",
    "register_appliers",
    "registered_kinds",
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


Applier = Callable[[Session, ApprovedRequest], Mapping[str, Any] | None]

_APPLIERS: dict[str, Applier] = {}
_MAX_KIND = 64


def register_applier(kind: str, fn: Applier) -> None:
    """Register the function that applies approved requests of ``kind`` (once per kind)."""
    if not kind or len(kind) > _MAX_KIND:
        raise ValueError(f"approval kind must be 1..{_MAX_KIND} characters")
    existing = _APPLIERS.get(kind)
    if existing is not None and existing is not fn:
        raise ValueError(f"an applier for {kind!r} is already registered ({existing!r})")
    _APPLIERS[kind] = fn


def register_appliers(appliers: Mapping[str, Applier]) -> None:
    """Register every applier of an explicit kind -> function map (the wiring's, at start)."""
    for kind, fn in appliers.items():
        register_applier(kind, fn)


def registered_kinds() -> list[str]:
    return sorted(_APPLIERS)


def _applier(kind: str) -> Applier:
    fn = _APPLIERS.get(kind)
    if fn is None:
        raise Conflict(f"no applier is registered for approval kind {kind!r}", {"kinds": sorted(_APPLIERS)},
                       code="no_applier")
    return fn


def _digest(kind: str, payload: Mapping[str, Any]) -> str:
    return hashlib.sha256(kind.encode() + b"\n" + orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()


def request_approval(
    session: Session, principal: Actor, kind: str, payload: Mapping[str, Any], required_role: str, *,
    summary: str | None = None, target: str | None = None, now: datetime | None = None,
) -> ApprovalRow:
    """Store a pending request (audited) and return it; the same pending request twice is one.

    ``required_role`` is the role the approver needs; the approver is never ``principal``.
    """
    if required_role not in ROLES:
        raise ValueError(f"unknown role {required_role!r}; roles are {ROLES}")
    _applier(kind)  # refuse kinds nobody can apply before anyone waits for them
    data = normalize_json(payload)
    digest = _digest(kind, data)
    user = principal.user if isinstance(principal, Principal) else principal
    role = principal.role if isinstance(principal, Principal) else None
    existing = session.scalars(
        select(ApprovalRow).where(ApprovalRow.payload_digest == digest, ApprovalRow.kind == kind,
                                  ApprovalRow.status == Status.PENDING).order_by(ApprovalRow.id).limit(1)
    ).first()
    if existing is not None:
        log.info("approval %s (%s) already pending for this change; %s asked again", existing.id, kind, user)
        return existing
    row = ApprovalRow(
        kind=kind, status=Status.PENDING, summary=summary or kind, target=target, payload=data,
        payload_digest=digest, required_role=required_role, requested_by=user, requested_role=role,
        requested_at=now or utc_now(),
    )
    session.add(row)
    session.flush()
    record(session, principal, "approval.request", f"approval/{row.id}",
           {"kind": kind, "required_role": required_role, "summary": row.summary, "target": target,
            "payload_digest": digest})
    log.info("approval %s requested: %s by %s (needs %s)", row.id, kind, user, required_role)
    return row


def _locked(session: Session, approval_id: int) -> ApprovalRow:
    row = session.get(ApprovalRow, approval_id, with_for_update=True, populate_existing=True)
    if row is None:
        raise NotFound(f"no approval request {approval_id}")
    return row


def _check(row: ApprovalRow, principal: Principal, decision: Decision) -> None:
    why = refusal(status=row.status, requested_by=row.requested_by, required_role=row.required_role,
                  user=principal.user, role=principal.role, decision=decision)
    if why is None:
        return
    detail = {"approval": row.id, "status": row.status, "requested_by": row.requested_by,
              "required_role": row.required_role}
    if why.kind == "state":
        raise Conflict(why.message, detail, code="approval_decided")
    if why.kind == "own_request":
        raise Forbidden(why.message, detail, code="segregation_of_duties")
    raise Forbidden(why.message, detail)


def approve(session: Session, principal: Principal, approval_id: int, comment: str | None = None, *,
            now: datetime | None = None) -> ApprovalRow:
    """Approve and apply in this transaction; if the applier refuses, nothing changes (the request
    stays pending and the error goes to the approver)."""
    row = _locked(session, approval_id)
    _check(row, principal, Decision.APPROVE)
    fn = _applier(row.kind)
    at = now or utc_now()
    result = fn(session, ApprovedRequest(row.id, row.kind, row.payload, row.requested_by, row.requested_role,
                                         principal.user, principal.role, at))
    row.status = Status.APPROVED
    row.decided_by, row.decided_role, row.decided_at = principal.user, principal.role, at
    row.comment = comment
    row.result = normalize_json(result) if result is not None else None
    record(session, principal, "approval.approve", f"approval/{row.id}",
           {"kind": row.kind, "requested_by": row.requested_by, "comment": comment, "result": row.result,
            "payload_digest": row.payload_digest})
    log.info("approval %s (%s) approved by %s and applied", row.id, row.kind, principal.user)
    return row


def reject(session: Session, principal: Principal, approval_id: int, reason: str, *,
           now: datetime | None = None) -> ApprovalRow:
    """Reject (or, by the requester, withdraw) a pending request; nothing is applied."""
    if not reason.strip():
        raise InvalidInput("a rejection needs a reason")
    row = _locked(session, approval_id)
    _check(row, principal, Decision.REJECT)
    row.status = Status.REJECTED
    row.decided_by, row.decided_role, row.decided_at = principal.user, principal.role, now or utc_now()
    row.comment = reason
    withdrawn = principal.user == row.requested_by
    record(session, principal, "approval.withdraw" if withdrawn else "approval.reject", f"approval/{row.id}",
           {"kind": row.kind, "requested_by": row.requested_by, "reason": reason})
    return row


# --- read side ------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return format_at(value) if value is not None else None


def approval_dict(r: ApprovalRow) -> dict[str, Any]:
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
) -> dict[str, Any]:
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
