"""API tokens (admin only): ``GET /tokens`` and ``POST /tokens/{id}/revoke``. Never the secret or
its hash: a token is shown once, when issued (``sfsync central token``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from central.domain.commands import RevokeToken
from central.entrypoints.api.deps import ADMIN, Principal, SessionDep, UnitOfWorkDep, require_role
from central.entrypoints.api.schemas import RESPONSE_CONFIG, ResponseBody
from central.service_layer.access import TokenView, list_tokens, token_dict
from central.service_layer.token_revocation import revoke_api_token

__all__ = ["router", "TokenOut", "TokensOut", "TokenRevokedOut"]

router = APIRouter(tags=["access"])

Admin = Annotated[Principal, Depends(require_role(ADMIN))]
TokenId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z_-]+$")]


class TokenOut(TokenView):
    """The service's :class:`~central.service_layer.access.TokenView` (one definition of the shape)."""

    __pydantic_config__ = RESPONSE_CONFIG  # type: ignore[misc]


class TokensOut(ResponseBody):
    tokens: list[TokenOut]


class TokenRevokedOut(ResponseBody):
    token: TokenOut


@router.get("/tokens", response_model=TokensOut, response_model_exclude_unset=True)
def get_tokens(
    session: SessionDep, _who: Admin, include_inactive: bool = False,
    user: Annotated[str | None, Query(max_length=64, description="only this user's tokens")] = None,
) -> object:
    """Active tokens (``include_inactive``: revoked and expired ones too), oldest first."""
    return {"tokens": list_tokens(session, include_inactive=include_inactive, user=user)}


@router.post("/tokens/{token_id}/revoke", response_model=TokenRevokedOut, response_model_exclude_unset=True)
def post_revoke_token(token_id: TokenId, uow: UnitOfWorkDep, who: Admin) -> object:
    """Revoke at once: the token's next request is refused with 401. 404 unknown, 409 already revoked."""
    row = revoke_api_token(RevokeToken(token_id, who.user, who.role, who.token_id), uow)
    return {"token": token_dict(row, uow.clock())}
