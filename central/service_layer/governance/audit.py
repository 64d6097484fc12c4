"""The audit log: ``record`` inside the caller's transaction, appended to the hash chain at commit.

``record(session, actor, action, target, detail)`` only queues the record on the session (no SQL),
so it is cheap to call anywhere. The first call installs two session hooks: ``before_commit``
appends everything queued to the chain (lock the head row, insert, move the head) as the last
step of the transaction, and ``after_rollback`` drops the queue. So a record exists exactly when
the change it describes was committed; and when the append fails, the commit fails with it —
a change is never committed without its record. The head lock is held only for the final
moments of the transaction, not for the whole request.

Write requests through the API are tied to their records by :func:`attach_request` (the API's
``audit_write_requests`` dependency calls it): records of that transaction carry the request's
digest, and a request whose transaction recorded nothing explicit gets one generic
``http.<METHOD>`` record, so no write endpoint goes unaudited.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from central.adapters.db.models_governance import HEAD_ID, AuditHeadRow, AuditRow
from central.adapters.db.paging import keyset_page
from central.domain.audit_chain import ChainRecord, ChainVerifier, format_at, normalize_json, record_hash
from central.errors import ServiceUnavailable
from central.service_layer.access import Principal
from central.service_layer.clock import Clock, utc_now

log = logging.getLogger(__name__)

__all__ = [
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

Actor = Principal | str
"""Who acted: the API principal, or a plain user name (CLI, background jobs)."""

_STATE_KEY = "sfsync.audit"
_VERIFY_PAGE = 2000
_MAX_ACTION, _MAX_TARGET = 64, 300


@dataclass(frozen=True, slots=True)
class RequestContext:
    """The HTTP write request a transaction serves (set by the API dependency)."""

    method: str
    path: str
    query: str
    digest: str
    principal: Principal | None


@dataclass(slots=True)
class _Queued:
    at: datetime
    actor: str
    role: str | None
    token_id: str | None
    action: str
    target: str
    detail: dict[str, Any]


@dataclass(slots=True)
class _State:
    queued: list[_Queued] = field(default_factory=list)
    explicit: int = 0
    request: RequestContext | None = None
    clock: Clock = utc_now
    """Stamps records queued without ``at`` and the generic request record."""


def request_digest(method: str, path: str, query: str, body_sha256: str) -> str:
    """SHA-256 of ``METHOD path?query``, a newline and the SHA-256 (hex) of the raw body."""
    head = f"{method.upper()} {path}{'?' + query if query else ''}\n{body_sha256}"
    return hashlib.sha256(head.encode()).hexdigest()


def _state(session: Session) -> _State:
    state = session.info.get(_STATE_KEY)
    if state is None:
        state = session.info[_STATE_KEY] = _State()
        event.listen(session, "before_commit", flush_audit)
        event.listen(session, "after_rollback", _discard)
        event.listen(session, "after_commit", _reset)
    assert isinstance(state, _State)
    return state


def _discard(session: Session) -> None:
    state = session.info.get(_STATE_KEY)
    if isinstance(state, _State):
        if state.queued:
            log.debug("audit: %d queued record(s) dropped with the rolled-back transaction", len(state.queued))
        state.queued.clear()
        state.explicit = 0
        state.request = None


def _reset(session: Session) -> None:
    state = session.info.get(_STATE_KEY)
    if isinstance(state, _State):
        state.explicit = 0
        state.request = None


def _who(actor: Actor, request: RequestContext | None) -> tuple[str, str | None, str | None]:
    if isinstance(actor, Principal):
        return actor.user, actor.role, actor.token_id
    principal = request.principal if request is not None else None
    if principal is not None and principal.user == actor:
        return actor, principal.role, principal.token_id
    return actor, None, None


def record(session: Session, actor: Actor, action: str, target: str, detail: dict[str, Any] | None = None,
           *, at: datetime | None = None, describes_request: bool = True) -> None:
    """Queue an audit record in ``session``'s transaction; it is written when (and only if) it commits.

    ``action`` is a dotted verb (``master_data.load``, ``approval.approve``), ``target`` what it
    acted on (``approval/12``, ``period/2026-11``); ``detail`` must be JSON-able (Decimal and dates
    become strings). Bad arguments raise ``ValueError`` at once, not at commit.
    ``describes_request=False`` marks a side record (a ledger seal made by a period close): the
    write request it happens in still gets its generic ``http.<METHOD>`` record if nothing else
    describes it.
    """
    if not action or len(action) > _MAX_ACTION:
        raise ValueError(f"audit action must be 1..{_MAX_ACTION} characters, got {action!r}")
    if not target or len(target) > _MAX_TARGET:
        raise ValueError(f"audit target must be 1..{_MAX_TARGET} characters, got {target!r}")
    state = _state(session)
    user, role, token_id = _who(actor, state.request)
    if not user:
        raise ValueError("audit actor must name a user")
    stamp = (at or state.clock()).astimezone(UTC)
    state.queued.append(_Queued(stamp, user[:64], role, token_id, action, target, normalize_json(detail)))
    if describes_request:
        state.explicit += 1


def attach_request(session: Session, ctx: RequestContext, clock: Clock | None = None) -> None:
    """Tie ``session``'s transaction to an HTTP write request (see the module docstring);
    ``clock`` (default: the one set before, else :func:`utc_now`) stamps its generic record."""
    state = _state(session)
    state.request = ctx
    if clock is not None:
        state.clock = clock


class SessionAuditLog:
    """The unit of work's audit log (:class:`central.service_layer.unit_of_work.AuditLog`): :func:`record`
    in the unit of work's session, each record stamped with the ``at`` its handler read from
    ``uow.clock``."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def record(self, actor: Actor, action: str, target: str, detail: Mapping[str, Any] | None = None, *,
               at: datetime, describes_request: bool = True) -> None:
        record(self._session, actor, action, target, dict(detail) if detail is not None else None, at=at,
               describes_request=describes_request)


def _generic(request: RequestContext, clock: Clock) -> _Queued:
    p = request.principal
    detail: dict[str, Any] = {"method": request.method, "path": request.path}
    if request.query:
        detail["query"] = request.query
    return _Queued(clock(), p.user if p else "anonymous", p.role if p else None, p.token_id if p else None,
                   f"http.{request.method.lower()}", request.path[:_MAX_TARGET], detail)


def flush_audit(session: Session) -> list[int]:
    """Append everything queued on ``session`` to the chain now; returns the new ``seq`` numbers.

    Runs by itself before commit; call it directly only to learn the sequence numbers early (the
    head stays locked until the transaction ends).
    """
    state = session.info.get(_STATE_KEY)
    if not isinstance(state, _State):
        return []
    request = state.request
    if request is not None and state.explicit == 0:
        state.queued.append(_generic(request, state.clock))
        state.explicit = -1  # the generic record is written once per transaction
    if not state.queued:
        return []
    queued, state.queued = state.queued, []
    return _append(session, queued, request.digest if request is not None else None)


def _append(session: Session, queued: list[_Queued], digest: str | None) -> list[int]:
    head = session.execute(
        select(AuditHeadRow.seq, AuditHeadRow.hash).where(AuditHeadRow.id == HEAD_ID).with_for_update()
    ).one_or_none()
    if head is None:
        raise ServiceUnavailable("the audit chain head is missing: run `sfsync central migrate`")
    seq, prev = int(head[0]), str(head[1])
    rows: list[dict[str, Any]] = []
    for q in queued:
        seq += 1
        rec = ChainRecord(seq, q.at, q.actor, q.role, q.token_id, q.action, q.target, q.detail, digest, prev)
        prev = record_hash(rec)
        rows.append({"seq": seq, "at": q.at, "actor": q.actor, "role": q.role, "token_id": q.token_id,
                     "action": q.action, "target": q.target, "detail": q.detail, "request_digest": digest,
                     "prev_hash": rec.prev_hash, "hash": prev})
    session.execute(insert(AuditRow), rows)
    session.execute(update(AuditHeadRow).where(AuditHeadRow.id == HEAD_ID).values(seq=seq, hash=prev))
    return [r["seq"] for r in rows]


# --- read side ------------------------------------------------------------------------------


def audit_dict(r: AuditRow) -> dict[str, Any]:
    return {
        "seq": r.seq, "at": format_at(r.at), "actor": r.actor, "role": r.role, "token_id": r.token_id,
        "action": r.action, "target": r.target, "detail": r.detail, "request_digest": r.request_digest,
        "prev_hash": r.prev_hash, "hash": r.hash,
    }


def list_audit(
    session: Session, *, limit: int, after: int | None = None, newest_first: bool = False,
    actor: str | None = None, action: str | None = None, target: str | None = None,
    since: datetime | None = None, until: datetime | None = None,
) -> dict[str, Any]:
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


def verify_chain(session: Session, *, page: int = _VERIFY_PAGE) -> dict[str, Any]:
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


def verify_snapshot(sessions: sessionmaker[Session]) -> dict[str, Any]:
    """:func:`verify_chain` in its own read transaction over one snapshot (PostgreSQL: REPEATABLE
    READ; SQLite: a deferred transaction in WAL mode already reads one snapshot)."""
    with sessions() as session, session.begin():
        bind = session.get_bind()
        if bind.dialect.name == "postgresql":
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        return verify_chain(session)
