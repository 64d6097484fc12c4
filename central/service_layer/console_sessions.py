"""Console sign-in: an API token exchanged for a browser session.

The session id (a random 256-bit string) lives only in the browser's cookie; the database keeps
its SHA-256 beside the token it was exchanged for, the CSRF secret of the session's forms and the
expiry. Every request looks the session up together with its token, so a session works in every
central process sharing the database, and it ends when the token is revoked or expires (the
session's own expiry is never later than the token's). Signing in and out is audited.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from central.adapters.db.models_access import ApiTokenRow
from central.adapters.db.models_console import ConsoleSessionRow
from central.errors import Unauthorized
from central.service_layer import governance
from central.service_layer.access import Principal, authenticate

__all__ = ["SESSION_TTL", "ConsoleSession", "StartedSession", "start_session", "resolve_session", "end_session",
           "csrf_matches"]

SESSION_TTL: Final = timedelta(hours=12)
"""How long a console session lasts at most (never past its token's expiry)."""
_MAX_ID_LEN: Final = 100


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """A signed-in browser: who (the token's principal), its forms' CSRF secret, and when it ends."""

    principal: Principal
    csrf: str
    expires: datetime


@dataclass(frozen=True, slots=True)
class StartedSession:
    session_id: str
    session: ConsoleSession


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def start_session(session: Session, token: str | None, now: datetime, ttl: timedelta = SESSION_TTL) -> StartedSession:
    """Exchange a valid API token for a new session (401 for a missing, unknown, revoked or expired
    token); the returned ``session_id`` is shown to the browser once and never stored."""
    principal = authenticate(session, (token or "").strip() or None, now=now)
    row = session.get(ApiTokenRow, principal.token_id)
    assert row is not None  # authenticate just read it
    expires = now + ttl if row.expires is None else min(now + ttl, row.expires)
    session.execute(delete(ConsoleSessionRow).where(ConsoleSessionRow.expires <= now))
    session_id = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    session.add(ConsoleSessionRow(id_hash=_hash(session_id), token_id=principal.token_id, csrf_secret=csrf,
                                  created=now, expires=expires))
    governance.record(session, principal, "console.sign_in", f"token/{principal.token_id}",
                      {"expires": expires.isoformat()})
    session.flush()
    return StartedSession(session_id, ConsoleSession(principal, csrf, expires))


def resolve_session(session: Session, session_id: str | None, now: datetime) -> ConsoleSession:
    """The live session of ``session_id``; 401 when there is none, it expired, or its token was
    revoked or expired."""
    if not session_id or len(session_id) > _MAX_ID_LEN:
        raise Unauthorized("not signed in")
    found = session.execute(
        select(ConsoleSessionRow, ApiTokenRow).join(ApiTokenRow, ApiTokenRow.id == ConsoleSessionRow.token_id)
        .where(ConsoleSessionRow.id_hash == _hash(session_id))
    ).first()
    if found is None:
        raise Unauthorized("not signed in")
    row, token = found.tuple()
    if row.expires <= now:
        raise Unauthorized("the console session expired; sign in again")
    if token.revoked_at is not None:
        raise Unauthorized("the token of this session was revoked", {"token_id": token.id})
    if token.expires is not None and token.expires <= now:
        raise Unauthorized("the token of this session expired", {"token_id": token.id})
    return ConsoleSession(Principal(token.user, token.role, token.id), row.csrf_secret, row.expires)


def end_session(session: Session, session_id: str | None, now: datetime) -> bool:
    """Sign out: delete the session (audited when there was one); False when there was none."""
    if not session_id or len(session_id) > _MAX_ID_LEN:
        return False
    try:
        live = resolve_session(session, session_id, now)
    except Unauthorized:
        live = None
    gone = session.execute(delete(ConsoleSessionRow).where(ConsoleSessionRow.id_hash == _hash(session_id)))
    if live is not None:
        governance.record(session, live.principal, "console.sign_out", f"token/{live.principal.token_id}")
    return bool(getattr(gone, "rowcount", 0))


def csrf_matches(expected: str, given: str | None) -> bool:
    """Constant-time comparison of a form's CSRF field with the session's secret."""
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())
