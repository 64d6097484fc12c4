"""API tokens: issue, authenticate, revoke; the bootstrap admin token.

A token is ``sfs_<id>_<secret>``; only the SHA-256 of the whole token is stored, so a leaked
database does not leak usable tokens. The token is shown once, when issued. Every token expires
(``auth.token_expiry_days``, default 90, unless the issuer gives its own expiry); a revoked or
expired token is refused (401). Listings never carry the secret or its hash.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typing_extensions import TypedDict

from central.adapters.db.models_access import ApiTokenRow
from central.domain.principal import Principal
from central.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from central.service_layer.clock import utc_now

__all__ = [
    "ROLES",
    "ADMIN",
    "Principal",
    "IssuedToken",
    "issue_token",
    "new_token",
    "revoke_row",
    "authenticate",
    "revoke_token",
    "list_tokens",
    "token_dict",
    "TokenView",
    "TOKEN_EXPIRY_DEFAULT",
    "ensure_bootstrap_admin",
    "check_role",
    "check_writable",
    "hash_token",
    "READ_ONLY_ROLES",
]

ADMIN: Final = "admin"
EXECUTIVE: Final = "executive"
ROLES: Final = ("operator", "planner", "engineer", "controller", "auditor", EXECUTIVE, ADMIN)
READ_ONLY_ROLES: Final = frozenset({EXECUTIVE})
"""Roles that may read everything their pages show and write nothing (refused on every write)."""
_PREFIX: Final = "sfs_"
TOKEN_EXPIRY_DEFAULT: Final = timedelta(days=90)
"""The default of ``auth.token_expiry_days``."""
_MAX_EXPIRY: Final = timedelta(days=36_500)


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
    return utc_now()


def new_token(user: str, role: str, *, expires_in: timedelta, now: datetime) -> tuple[ApiTokenRow, IssuedToken]:
    """A new token for ``user`` with ``role`` expiring ``expires_in`` after ``now``: the row to
    store (its hash) and the token to show once; bad input is refused (:class:`InvalidInput`)."""
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}", {"roles": list(ROLES)})
    user = user.strip()
    if not user or len(user) > 64:
        raise InvalidInput("user must be 1 to 64 characters")
    if not timedelta(0) < expires_in <= _MAX_EXPIRY:
        raise InvalidInput(f"expiry must be in the future and at most {_MAX_EXPIRY.days} days away")
    token_id = secrets.token_hex(8)
    token = f"{_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    expires = now + expires_in
    row = ApiTokenRow(id=token_id, user=user, role=role, token_hash=hash_token(token), created=now, expires=expires)
    return row, IssuedToken(token, token_id, user, role, expires)


def issue_token(
    session: Session,
    user: str,
    role: str,
    *,
    expires_in: timedelta = TOKEN_EXPIRY_DEFAULT,
    now: datetime | None = None,
) -> IssuedToken:
    """:func:`new_token` stored in ``session``'s transaction (the bootstrap admin, tests); the
    entry points issue through the handler ``token_revocation.issue_api_token``."""
    row, issued = new_token(user, role, expires_in=expires_in, now=now or _now())
    session.add(row)
    session.flush()
    return issued


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
    """Pass when the principal has one of ``roles`` (admin passes every check; no roles: anyone);
    a read-only role passes only a check that names it."""
    if roles and principal.role in READ_ONLY_ROLES and principal.role not in roles:
        raise Forbidden(f"role {principal.role!r} is read-only", {"role": principal.role, "needs": list(roles)})
    if principal.role == ADMIN or not roles or principal.role in roles:
        return principal
    raise Forbidden(
        f"role {principal.role!r} may not do this; needs {' or '.join(roles)}",
        {"role": principal.role, "needs": list(roles)},
    )


def check_writable(principal: Principal) -> Principal:
    """Refuse any write by a read-only role (``executive``): 403."""
    if principal.role in READ_ONLY_ROLES:
        raise Forbidden(f"role {principal.role!r} is read-only and may not change anything",
                        {"role": principal.role})
    return principal


def revoke_row(row: ApiTokenRow | None, token_id: str, by: str, now: datetime) -> ApiTokenRow:
    """Mark the (locked) token ``token_id`` revoked by ``by`` at ``now``: its next request is
    refused; 404 unknown (``row`` None), 409 already revoked."""
    if row is None:
        raise NotFound(f"no token {token_id!r}")
    if row.revoked_at is not None:
        raise Conflict(f"token {token_id!r} is already revoked", code="already_revoked")
    row.revoked_at = now
    row.revoked_by = by
    return row


def revoke_token(session: Session, token_id: str, by: str, *, now: datetime | None = None) -> ApiTokenRow:
    """:func:`revoke_row` in ``session``'s transaction, unaudited (tests); the entry points revoke
    through the handler ``token_revocation.revoke_api_token``, which records it."""
    row = revoke_row(session.get(ApiTokenRow, token_id, with_for_update=True), token_id, by, now or _now())
    session.flush()
    return row


TokenStatus = Literal["active", "revoked", "expired"]


class TokenView(TypedDict):
    """A token as listed: never its secret or hash (times ISO 8601)."""

    id: str
    user: str
    role: str
    created: str | None
    expires: str | None
    revoked_at: str | None
    revoked_by: str | None
    status: TokenStatus


def token_status(row: ApiTokenRow, now: datetime) -> TokenStatus:
    """``active``, ``expired`` or ``revoked``."""
    if row.revoked_at is not None:
        return "revoked"
    if row.expires is not None and row.expires <= now:
        return "expired"
    return "active"


def token_dict(row: ApiTokenRow, now: datetime | None = None) -> TokenView:
    """A token as listed: never its secret or hash."""
    def at(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return {"id": row.id, "user": row.user, "role": row.role, "created": at(row.created), "expires": at(row.expires),
            "revoked_at": at(row.revoked_at), "revoked_by": row.revoked_by, "status": token_status(row, now or _now())}


def list_tokens(session: Session, *, include_inactive: bool = False, user: str | None = None,
                now: datetime | None = None) -> list[TokenView]:
    """Tokens, oldest first; only active ones unless ``include_inactive``."""
    now = now or _now()
    stmt = select(ApiTokenRow).order_by(ApiTokenRow.created, ApiTokenRow.id)
    if user is not None:
        stmt = stmt.where(ApiTokenRow.user == user)
    rows = [token_dict(r, now) for r in session.scalars(stmt)]
    return rows if include_inactive else [r for r in rows if r["status"] == "active"]


def ensure_bootstrap_admin(session: Session, *, expires_in: timedelta = TOKEN_EXPIRY_DEFAULT) -> IssuedToken | None:
    """On the very first start (no token at all) create an admin token and return it, else None.
    ``expires_in`` is ``auth.token_expiry_days``: the bootstrap admin expires like any token."""
    count = session.scalar(select(func.count()).select_from(ApiTokenRow)) or 0
    if count:
        return None
    return issue_token(session, "admin", ADMIN, expires_in=expires_in)
