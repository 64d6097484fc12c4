"""The audit log: ``GET /audit`` and ``GET /audit/verify`` (chain and ledger seals); and
:func:`audit_write_requests`, the app-wide dependency that ties every write request to the audit
log (installed by :func:`central.entrypoints.api.app.create_app`)."""

from __future__ import annotations

import hashlib
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request

from central.entrypoints.api.deps import (
    AfterQuery,
    Instant,
    LimitQuery,
    PrincipalDep,
    SessionDep,
    get_container,
    get_principal,
)
from central.entrypoints.api.paging import page_size
from central.entrypoints.api.paths import API_PREFIX
from central.entrypoints.api.schemas import RESPONSE_CONFIG, ResponseBody, response_body_of
from central.errors import Unauthorized
from central.service_layer import governance
from central.service_layer.access import check_writable
from central.service_layer.governance import RequestContext
from central.service_layer.governance.audit import AuditPage, AuditRecordView, BrokenLink, ChainHead
from central.service_layer.governance.seal import verify_all

__all__ = [
    "router", "audit_write_requests", "WRITE_METHODS", "AuditRecordOut", "AuditPageOut", "ChainHeadOut",
    "BrokenLinkOut", "SealMismatchOut", "LedgerVerifyOut", "AuditVerifyOut",
]

router = APIRouter(tags=["governance"])

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


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
    if principal is not None:
        check_writable(principal)  # a read-only role (executive) writes nothing, whatever the route allows
    path, query = request.url.path, request.url.query
    digest = governance.request_digest(request.method, path, query, body_sha256)
    governance.attach_request(session, RequestContext(request.method, path, query, digest, principal),
                              get_container(request).clock)


class AuditRecordOut(AuditRecordView):
    """The service's :class:`~central.service_layer.governance.audit.AuditRecordView` (one definition)."""

    __pydantic_config__ = RESPONSE_CONFIG  # type: ignore[misc]


AuditPageOut = response_body_of(AuditPage, "AuditPageOut", records=list[AuditRecordOut])


class ChainHeadOut(ChainHead):
    __pydantic_config__ = RESPONSE_CONFIG  # type: ignore[misc]


class BrokenLinkOut(BrokenLink):
    __pydantic_config__ = RESPONSE_CONFIG  # type: ignore[misc]


class SealMismatchOut(ResponseBody):
    seal: int
    code: str
    entry: int | None
    line: int | None
    line_no: int | None
    message: str


class LedgerVerifyOut(ResponseBody):
    """The ledger's seals recomputed: how many seals, entries and lines they cover, how many entries
    wait for the next seal, and the first entry or line that no longer matches its seal."""

    ok: bool
    seals: int
    entries: int
    lines: int
    unsealed_entries: int
    first_mismatch: SealMismatchOut | None


class AuditVerifyOut(ResponseBody):
    """``ok`` only when the audit chain and the ledger seals both verify."""

    ok: bool
    checked: int
    head: ChainHeadOut
    first_broken: BrokenLinkOut | None
    ledger: LedgerVerifyOut


@router.get("/audit", response_model=AuditPageOut, response_model_exclude_unset=True)
def get_audit(
    request: Request, session: SessionDep, _who: PrincipalDep,
    actor: str | None = None,
    action: Annotated[str | None, Query(description="exact, or a prefix ending in *")] = None,
    target: Annotated[str | None, Query(description="exact, or a prefix ending in *")] = None,
    since: Instant | None = None, until: Instant | None = None,
    order: Literal["asc", "desc"] = "asc",
    limit: LimitQuery | None = None,
    after: AfterQuery = None,
) -> object:
    return governance.list_audit(session, limit=page_size(request, limit), after=after,
                                 newest_first=order == "desc", actor=actor, action=action, target=target,
                                 since=since, until=until)


@router.get("/audit/verify", response_model=AuditVerifyOut, response_model_exclude_unset=True)
def get_audit_verify(request: Request, _who: PrincipalDep) -> object:
    """Walk the whole chain and recompute every ledger seal in one snapshot: ``first_broken`` names
    the chain's first broken link, ``ledger.first_mismatch`` the first journal entry or line that no
    longer matches its seal, ``ledger.unsealed_entries`` how many entries wait for the next seal."""
    return verify_all(get_container(request).read_sessions)
