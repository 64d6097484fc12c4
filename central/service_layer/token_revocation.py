"""API token handlers: issuing a token and revoking one as an admin's act, on a unit of work.

A revocation is audited (``token.revoke``: who revoked whose token) in the same transaction. The
validation and the token itself are :mod:`central.service_layer.access`'s (:func:`new_token`,
:func:`revoke_row`); these handlers live beside it because ``access`` is imported by the unit-of-work
interface itself (:class:`~central.service_layer.access.Principal`), so it cannot take a unit of work.
"""

from __future__ import annotations

from central.adapters.db.models_access import ApiTokenRow
from central.domain.commands import IssueToken, RevokeToken
from central.service_layer.access import IssuedToken, Principal, new_token, revoke_row
from central.service_layer.unit_of_work import AbstractUnitOfWork, Actor

__all__ = ["issue_api_token", "revoke_api_token"]


def issue_api_token(cmd: IssueToken, uow: AbstractUnitOfWork) -> IssuedToken:
    """Store a new token (created ``uow.clock()``); the returned ``token`` is shown once, never stored."""
    with uow:
        row, issued = new_token(cmd.user, cmd.role, expires_in=cmd.expires_in, now=uow.clock())
        uow.tokens.add(row)
        uow.commit()
    return issued


def revoke_api_token(cmd: RevokeToken, uow: AbstractUnitOfWork) -> ApiTokenRow:
    """Revoke ``cmd.token_id`` (404 unknown, 409 already revoked) and record who did it."""
    with uow:
        now = uow.clock()
        row = revoke_row(uow.tokens.get(cmd.token_id, lock=True), cmd.token_id, cmd.user, now)
        actor: Actor = (Principal(cmd.user, cmd.role, cmd.actor_token_id)
                        if cmd.role is not None and cmd.actor_token_id is not None else cmd.user)
        uow.audit.record(actor, "token.revoke", f"token/{cmd.token_id}", {"user": row.user, "role": row.role}, at=now)
        uow.commit()
        return row
