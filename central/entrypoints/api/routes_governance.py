"""Governance API: ``/audit``, ``/audit/verify`` (chain and ledger seals), ``/approvals`` (+ approve/reject); and
:func:`audit_write_requests`, the app-wide dependency that ties every write request to the audit
log (installed by :func:`central.entrypoints.api.app.create_app`). Thin: parse, call the service layer."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StrictStr, StringConstraints

from central.entrypoints.api.deps import (
    AfterQuery,
    Day,
    IdPath,
    Instant,
    LimitQuery,
    Principal,
    PrincipalDep,
    SessionDep,
    get_container,
    get_principal,
    require_role,
)
from central.entrypoints.api.paths import API_PREFIX
from central.errors import Unauthorized
from central.service_layer import governance
from central.service_layer.governance import RequestContext
from central.service_layer.governance.appliers import request_period_reopen
from central.service_layer.governance.manual_journal import propose_manual_entry
from central.service_layer.governance.seal import verify_all

__all__ = ["router", "audit_write_requests", "WRITE_METHODS"]

router = APIRouter(tags=["governance"])

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

Limit = LimitQuery
Controller = Annotated[Principal, Depends(require_role("controller"))]
Amount = Annotated[StrictStr, StringConstraints(pattern=r"^[0-9]{1,15}(\.[0-9]{1,2}0*)?$")]
"""A non-negative amount: plain notation, at most 15 integer digits and 2 places (API.md)."""


def _limit(request: Request, limit: int | None) -> int:
    cap = get_container(request).settings.api.page_limit_max
    return min(limit or min(100, cap), cap)


async def _body_sha256(request: Request) -> str | None:
    """The raw body's digest for write requests (async: reading the body needs the event loop)."""
    if request.method not in WRITE_METHODS:
        return None
    return hashlib.sha256(await request.body()).hexdigest()


def audit_write_requests(request: Request, session: SessionDep,
                         body_sha256: Annotated[str | None, Depends(_body_sha256)]) -> None:
    """Every successful POST/PUT/PATCH/DELETE under the API leaves an audit record in its own
    transaction (the request's session): the records the service wrote carry the request digest,
    or, when it wrote none, one generic ``http.<method>`` record is added. If writing the record
    fails, the commit fails and so does the request."""
    if body_sha256 is None or not request.url.path.startswith(API_PREFIX + "/"):
        return
    try:
        principal = get_principal(request, session)
    except Unauthorized:
        principal = None  # the route's own auth check refuses the request; nothing commits
    path, query = request.url.path, request.url.query
    digest = governance.request_digest(request.method, path, query, body_sha256)
    governance.attach_request(session, RequestContext(request.method, path, query, digest, principal))


# --- audit ----------------------------------------------------------------------------------


@router.get("/audit")
def get_audit(
    request: Request, session: SessionDep, _who: PrincipalDep,
    actor: str | None = None,
    action: Annotated[str | None, Query(description="exact, or a prefix ending in *")] = None,
    target: Annotated[str | None, Query(description="exact, or a prefix ending in *")] = None,
    since: Instant | None = None, until: Instant | None = None,
    order: Literal["asc", "desc"] = "asc",
    limit: Limit | None = None,
    after: AfterQuery = None,
) -> dict[str, Any]:
    return governance.list_audit(session, limit=_limit(request, limit), after=after, newest_first=order == "desc",
                                 actor=actor, action=action, target=target, since=since, until=until)


@router.get("/audit/verify")
def get_audit_verify(request: Request, _who: PrincipalDep) -> dict[str, Any]:
    """Walk the whole chain and recompute every ledger seal in one snapshot: ``first_broken`` names
    the chain's first broken link, ``ledger.first_mismatch`` the first journal entry or line that no
    longer matches its seal, ``ledger.unsealed_entries`` how many entries wait for the next seal."""
    return verify_all(get_container(request).read_sessions)


# --- approvals ------------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ApproveIn(_Body):
    comment: str | None = Field(default=None, max_length=2000)


class RejectIn(_Body):
    reason: str = Field(min_length=1, max_length=2000)


class ReopenIn(_Body):
    reason: str = Field(min_length=1, max_length=2000)


@router.get("/approvals")
def get_approvals(
    request: Request, session: SessionDep, _who: PrincipalDep,
    status: Literal["pending", "approved", "rejected"] | None = None,
    kind: str | None = None, requested_by: str | None = None, target: str | None = None,
    limit: Limit | None = None,
    after: AfterQuery = None,
) -> dict[str, Any]:
    return governance.list_approvals(session, limit=_limit(request, limit), after=after, status=status, kind=kind,
                                     requested_by=requested_by, target=target)


@router.get("/approvals/{approval_id}")
def get_approval(approval_id: IdPath, session: SessionDep, _who: PrincipalDep) -> dict[str, Any]:
    return {"approval": governance.approval_dict(governance.get_approval(session, approval_id))}


@router.post("/approvals/{approval_id}/approve")
def post_approve(approval_id: IdPath, session: SessionDep, who: PrincipalDep,
                 body: ApproveIn | None = None) -> dict[str, Any]:
    """The role the request needs; never the requester. Applies the change in this transaction."""
    row = governance.approve(session, who, approval_id, body.comment if body is not None else None)
    return {"approval": governance.approval_dict(row)}


@router.post("/approvals/{approval_id}/reject")
def post_reject(approval_id: IdPath, body: RejectIn, session: SessionDep, who: PrincipalDep) -> dict[str, Any]:
    """The role the request needs, or the requester (withdrawing it)."""
    return {"approval": governance.approval_dict(governance.reject(session, who, approval_id, body.reason))}


# --- period reopening (admin asks, a controller approves) -------------------------------------


@router.post("/periods/{period_id}/reopen", status_code=202)
def post_period_reopen(period_id: str, body: ReopenIn, session: SessionDep, who: PrincipalDep) -> dict[str, Any]:
    """Admin only; the period reopens when another person with the controller role approves."""
    return request_period_reopen(session, who, period_id, body.reason)


# --- manual journal entries (a controller proposes, another approves) ----------------------------


class JournalLineIn(_Body):
    account: str = Field(min_length=1, max_length=64)
    debit: Amount | None = None
    credit: Amount | None = None
    work_order: str | None = None
    item: str | None = None
    work_center: str | None = None
    memo: str | None = Field(default=None, max_length=500)


class JournalIn(_Body):
    lines: list[JournalLineIn] = Field(min_length=2, max_length=200)
    memo: str = Field(min_length=1, max_length=2000)
    posting_date: Day | None = None
    entity: str | None = None


@router.post("/journal", status_code=202)
def post_manual_journal(body: JournalIn, session: SessionDep, who: Controller) -> dict[str, Any]:
    """Validated now, posted when another controller approves (amounts are decimal strings)."""
    return propose_manual_entry(session, who, body.model_dump(mode="json", exclude_none=True))
