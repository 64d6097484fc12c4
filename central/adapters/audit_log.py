"""The audit log's write side: ``record`` queues in the caller's transaction, the chain grows at commit.

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

Time: a record is stamped with the ``at`` its caller gives (a handler's ``uow.clock()``), else
with the clock the transaction was given (:func:`attach_request`, or the unit of work's clock
through :class:`SessionAuditLog`), else :func:`central.adapters.clock.utc_now`.

This is SQL (session hooks, the chain tables), so it is an adapter; the service layer's
``governance.audit`` re-exports it beside the read side.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, insert, select, update
from sqlalchemy.orm import Session

from central.adapters.clock import Clock, utc_now
from central.adapters.db.models_governance import HEAD_ID, AuditHeadRow, AuditRow
from central.domain.audit_chain import ChainRecord, normalize_json, record_hash
from central.domain.principal import Actor, Principal
from central.errors import ServiceUnavailable

log = logging.getLogger(__name__)

__all__ = [
    "Actor",
    "RequestContext",
    "SessionAuditLog",
    "record",
    "attach_request",
    "flush_audit",
    "request_digest",
]

_STATE_KEY = "sfsync.audit"
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
