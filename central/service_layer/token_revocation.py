"""Revoking an API token as an admin's act: the token stops working and the audit log says who
revoked whose token (``token.revoke``). Lives beside :mod:`central.service_layer.access`, which the
governance package itself imports, so the audit call cannot sit there without a cycle."""

from __future__ import annotations

from sqlalchemy.orm import Session

from central.adapters.db.models_access import ApiTokenRow
from central.service_layer import governance
from central.service_layer.access import Principal, revoke_token

__all__ = ["revoke_and_record"]


def revoke_and_record(session: Session, token_id: str, who: Principal) -> ApiTokenRow:
    """Revoke ``token_id`` (404 unknown, 409 already revoked) and queue its audit record."""
    row = revoke_token(session, token_id, who.user)
    governance.record(session, who, "token.revoke", f"token/{token_id}", {"user": row.user, "role": row.role})
    return row
