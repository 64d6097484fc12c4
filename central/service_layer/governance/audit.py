"""The audit log: the service layer's face of it, and its read side (list, verify the chain).

Writing (``record`` in the caller's transaction, appended to the hash chain at commit;
``attach_request`` ties a transaction to an HTTP write request) is the adapter
:mod:`central.adapters.audit_log`, re-exported here; handlers write through ``uow.audit``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typing_extensions import TypedDict

from central.adapters.audit_log import (
    Actor,
    RequestContext,
    SessionAuditLog,
    attach_request,
    flush_audit,
    record,
    request_digest,
)
from central.adapters.db.models_governance import HEAD_ID, AuditHeadRow, AuditRow
from central.adapters.db.paging import keyset_page
from central.domain.audit_chain import ChainRecord, ChainVerifier, format_at
from central.errors import ServiceUnavailable

log = logging.getLogger(__name__)

__all__ = [
    "AuditRecordView",
    "AuditPage",
    "ChainHead",
    "BrokenLink",
    "ChainReport",
    "Actor",
    "RequestContext",
    "SessionAuditLog",
    "record",
    "attach_request",
    "flush_audit",
    "request_digest",
    "list_audit",
    "audit_dict",
    "verify_chain",
    "verify_snapshot",
]

_VERIFY_PAGE = 2000


# --- read side ------------------------------------------------------------------------------


class AuditRecordView(TypedDict):
    """One link of the audit chain (``at``: UTC with microseconds and ``Z``)."""

    seq: int
    at: str
    actor: str
    role: str | None
    token_id: str | None
    action: str
    target: str
    detail: Any
    request_digest: str | None
    prev_hash: str
    hash: str


class AuditPage(TypedDict):
    records: list[AuditRecordView]
    #: the last ``seq`` of this page (``after`` for the next one), None on the last page
    next: int | None


class ChainHead(TypedDict):
    seq: int
    hash: str


class BrokenLink(TypedDict):
    seq: int
    code: str
    message: str


class ChainReport(TypedDict):
    """The chain walked: ``ok``, how many records were checked, the head, the first broken link."""

    ok: bool
    checked: int
    head: ChainHead
    first_broken: BrokenLink | None


def audit_dict(r: AuditRow) -> AuditRecordView:
    return {
        "seq": r.seq, "at": format_at(r.at), "actor": r.actor, "role": r.role, "token_id": r.token_id,
        "action": r.action, "target": r.target, "detail": r.detail, "request_digest": r.request_digest,
        "prev_hash": r.prev_hash, "hash": r.hash,
    }


def list_audit(
    session: Session, *, limit: int, after: int | None = None, newest_first: bool = False,
    actor: str | None = None, action: str | None = None, target: str | None = None,
    since: datetime | None = None, until: datetime | None = None,
) -> AuditPage:
    """One page of records; ``action``/``target`` ending in ``*`` match a prefix. ``after`` is the
    last ``seq`` of the previous page (in the order asked for); ``next`` is None on the last page."""
    stmt = select(AuditRow)
    if actor is not None:
        stmt = stmt.where(AuditRow.actor == actor)
    for col, value in ((AuditRow.action, action), (AuditRow.target, target)):
        if value is None:
            continue
        if value.endswith("*"):
            prefix = value[:-1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            stmt = stmt.where(col.like(prefix + "%", escape="\\"))
        else:
            stmt = stmt.where(col == value)
    if since is not None:
        stmt = stmt.where(AuditRow.at >= since)
    if until is not None:
        stmt = stmt.where(AuditRow.at < until)
    rows, next_after = keyset_page(session, stmt, AuditRow.seq, limit, after, descending=newest_first)
    return {"records": [audit_dict(r) for r in rows], "next": next_after}


_CHAIN_COLUMNS = (AuditRow.seq, AuditRow.at, AuditRow.actor, AuditRow.role, AuditRow.token_id, AuditRow.action,
                  AuditRow.target, AuditRow.detail, AuditRow.request_digest, AuditRow.prev_hash, AuditRow.hash)


def verify_chain(session: Session, *, page: int = _VERIFY_PAGE) -> ChainReport:
    """Walk the whole chain and report the first broken link.

    Reads the head and every record in ``session``'s transaction, which must see one snapshot
    (use :func:`verify_snapshot`), else concurrent appends would look like tampering.
    """
    head = session.execute(select(AuditHeadRow.seq, AuditHeadRow.hash).where(AuditHeadRow.id == HEAD_ID)).one_or_none()
    if head is None:
        raise ServiceUnavailable("the audit chain head is missing: run `sfsync central migrate`")
    verifier = ChainVerifier()
    last: int | None = None
    while verifier.broken is None:
        stmt = select(*_CHAIN_COLUMNS).order_by(AuditRow.seq).limit(page)
        if last is not None:
            stmt = stmt.where(AuditRow.seq > last)
        rows = session.execute(stmt).all()
        for r in rows:
            values: tuple[Any, ...] = tuple(r)
            if verifier.feed(ChainRecord(*values)) is not None:
                break
        if len(rows) < page:
            break
        last = int(rows[-1][0])
    broken = verifier.finish(int(head[0]), str(head[1]))
    if broken is not None:
        log.error("audit chain broken at seq %s (%s): %s", broken.seq, broken.code, broken.message)
    return {
        "ok": broken is None,
        "checked": verifier.checked,
        "head": {"seq": int(head[0]), "hash": str(head[1])},
        "first_broken": None if broken is None else {"seq": broken.seq, "code": broken.code,
                                                     "message": broken.message},
    }


def verify_snapshot(sessions: sessionmaker[Session]) -> ChainReport:
    """:func:`verify_chain` in its own read transaction over one snapshot (PostgreSQL: REPEATABLE
    READ; SQLite: a deferred transaction in WAL mode already reads one snapshot)."""
    with sessions() as session, session.begin():
        bind = session.get_bind()
        if bind.dialect.name == "postgresql":
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        return verify_chain(session)
