"""API tokens: issue, authenticate, revoke; the bootstrap admin token.

A token is ``sfs_<id>_<secret>``; only the SHA-256 of the whole token is stored, so a leaked
database does not leak usable tokens. The token is shown once, when issued.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central.db.models_access import ApiTokenRow
from central.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized

__all__ = [
    "ROLES",
    "ADMIN",
    "Principal",
    "IssuedToken",
    "issue_token",
    "authenticate",
    "revoke_token",
    "ensure_bootstrap_admin",
    "check_role",
    "hash_token",
]

ADMIN: Final = "admin"
ROLES: Final = ("operator", "planner", "engineer", "controller", "auditor", ADMIN)
_PREFIX: Final = "sfs_"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token's user and role, and the token id (for audit)."""

    user: str
    role: str
    token_id: str


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    token_id: str
    user: str
    role: str
    expires: datetime | None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def issue_token(
    session: Session,
    user: str,
    role: str,
    *,
    expires_in: timedelta | None = None,
    now: datetime | None = None,
) -> IssuedToken:
    """Create a token for ``user`` with ``role``; the returned ``token`` is never stored."""
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}", {"roles": list(ROLES)})
    user = user.strip()
    if not user or len(user) > 64:
        raise InvalidInput("user must be 1 to 64 characters")
    if expires_in is not None and expires_in <= timedelta(0):
        raise InvalidInput("expiry must be in the future")
    now = now or _now()
    token_id = secrets.token_hex(8)
    token = f"{_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    expires = now + expires_in if expires_in is not None else None
    session.add(
        ApiTokenRow(id=token_id, user=user, role=role, token_hash=hash_token(token), created=now, expires=expires)
    )
    session.flush()
    return IssuedToken(token, token_id, user, role, expires)


def authenticate(session: Session, token: str | None, *, now: datetime | None = None) -> Principal:
    """The principal of a bearer token; :class:`Unauthorized` when missing, unknown, expired or revoked."""
    if not token:
        raise Unauthorized("missing bearer token")
    if not token.startswith(_PREFIX) or len(token) > 200:
        raise Unauthorized("malformed token")
    row = session.scalar(select(ApiTokenRow).where(ApiTokenRow.token_hash == hash_token(token)))
    if row is None or not hmac.compare_digest(row.token_hash, hash_token(token)):
        raise Unauthorized("unknown token")
    if row.revoked_at is not None:
        raise Unauthorized("token revoked", {"token_id": row.id})
    if row.expires is not None and row.expires <= (now or _now()):
        raise Unauthorized("token expired", {"token_id": row.id})
    return Principal(row.user, row.role, row.id)


def check_role(principal: Principal, roles: tuple[str, ...]) -> Principal:
    """Pass when the principal has one of ``roles`` (admin passes every check)."""
    if principal.role == ADMIN or not roles or principal.role in roles:
        return principal
    raise Forbidden(
        f"role {principal.role!r} may not do this; needs {' or '.join(roles)}",
        {"role": principal.role, "needs": list(roles)},
    )


def revoke_token(session: Session, token_id: str, by: str, *, now: datetime | None = None) -> None:
    row = session.get(ApiTokenRow, token_id, with_for_update=True)
    if row is None:
        raise NotFound(f"no token {token_id!r}")
    if row.revoked_at is not None:
        raise Conflict(f"token {token_id!r} is already revoked")
    row.revoked_at = now or _now()
    row.revoked_by = by


def ensure_bootstrap_admin(session: Session) -> IssuedToken | None:
    """On the very first start (no token at all) create an admin token and return it, else None."""
    count = session.scalar(select(func.count()).select_from(ApiTokenRow)) or 0
    if count:
        return None
    return issue_token(session, "admin", ADMIN)
