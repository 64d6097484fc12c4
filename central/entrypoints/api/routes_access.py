"""Access API (admin only): ``GET /tokens`` and ``POST /tokens/{id}/revoke``. Never the secret or
its hash: a token is shown once, when issued (``sfsync central token``). Thin: the service does it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from central.entrypoints.api.deps import ADMIN, Principal, SessionDep, require_role
from central.service_layer import governance
from central.service_layer.access import list_tokens, revoke_token, token_dict

__all__ = ["router"]

router = APIRouter(tags=["access"])

Admin = Annotated[Principal, Depends(require_role(ADMIN))]
TokenId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z_-]+$")]


@router.get("/tokens")
def get_tokens(
    session: SessionDep, _who: Admin, include_inactive: bool = False,
    user: Annotated[str | None, Query(max_length=64, description="only this user's tokens")] = None,
) -> dict[str, Any]:
    """Active tokens (``include_inactive``: revoked and expired ones too), oldest first."""
    return {"tokens": list_tokens(session, include_inactive=include_inactive, user=user)}


@router.post("/tokens/{token_id}/revoke")
def post_revoke_token(token_id: TokenId, session: SessionDep, who: Admin) -> dict[str, Any]:
    """Revoke at once: the token's next request is refused with 401. 404 unknown, 409 already revoked."""
    row = revoke_token(session, token_id, who.user)
    governance.record(session, who, "token.revoke", f"token/{token_id}", {"user": row.user, "role": row.role})
    return {"token": token_dict(row)}
