"""Approvals (four eyes): ``GET /approvals``, ``GET /approvals/{id}``, ``POST .../approve`` and
``POST .../reject``. Approving applies the requested change in the same transaction."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Request
from pydantic import Field

from central.domain.commands import ApproveRequest, RejectRequest
from central.entrypoints.api.deps import AfterQuery, IdPath, LimitQuery, PrincipalDep, SessionDep, UnitOfWorkDep
from central.entrypoints.api.paging import page_size
from central.entrypoints.api.schemas import RESPONSE_CONFIG, RequestBody, ResponseBody, response_body_of
from central.service_layer import governance
from central.service_layer.governance.approvals import ApprovalPage, ApprovalView, approve_request, reject_request

__all__ = ["router", "ApproveIn", "RejectIn", "ApprovalOut", "ApprovalsOut", "ApprovalOneOut", "PendingApprovalOut"]

router = APIRouter(tags=["governance"])

Reason = Annotated[str, Field(min_length=1, max_length=2000)]


class ApproveIn(RequestBody):
    comment: str | None = Field(default=None, max_length=2000)


class RejectIn(RequestBody):
    reason: Reason


class ApprovalOut(ApprovalView):
    """The service's :class:`~central.service_layer.governance.approvals.ApprovalView` (one definition)."""

    __pydantic_config__ = RESPONSE_CONFIG  # type: ignore[misc]


class PendingApprovalOut(ResponseBody):
    """The approval request a change waits for (202 answers of the routes that ask for one)."""

    id: int
    status: str
    required_role: str


ApprovalsOut = response_body_of(ApprovalPage, "ApprovalsOut", approvals=list[ApprovalOut])


class ApprovalOneOut(ResponseBody):
    approval: ApprovalOut


@router.get("/approvals", response_model=ApprovalsOut, response_model_exclude_unset=True)
def get_approvals(
    request: Request, session: SessionDep, _who: PrincipalDep,
    status: Literal["pending", "approved", "rejected"] | None = None,
    kind: str | None = None, requested_by: str | None = None, target: str | None = None,
    limit: LimitQuery | None = None,
    after: AfterQuery = None,
) -> object:
    return governance.list_approvals(session, limit=page_size(request, limit), after=after, status=status, kind=kind,
                                     requested_by=requested_by, target=target)


@router.get("/approvals/{approval_id}", response_model=ApprovalOneOut, response_model_exclude_unset=True)
def get_approval(approval_id: IdPath, session: SessionDep, _who: PrincipalDep) -> object:
    return {"approval": governance.approval_dict(governance.get_approval(session, approval_id))}


@router.post("/approvals/{approval_id}/approve", response_model=ApprovalOneOut, response_model_exclude_unset=True)
def post_approve(approval_id: IdPath, uow: UnitOfWorkDep, who: PrincipalDep,
                 body: ApproveIn | None = None) -> object:
    """The role the request needs; never the requester. Applies the change in this transaction."""
    command = ApproveRequest(approval_id, who.user, who.role, body.comment if body is not None else None, who.token_id)
    row = approve_request(command, uow)
    return {"approval": governance.approval_dict(row)}


@router.post("/approvals/{approval_id}/reject", response_model=ApprovalOneOut, response_model_exclude_unset=True)
def post_reject(approval_id: IdPath, body: RejectIn, uow: UnitOfWorkDep, who: PrincipalDep) -> object:
    """The role the request needs, or the requester (withdrawing it)."""
    command = RejectRequest(approval_id, who.user, who.role, body.reason, who.token_id)
    return {"approval": governance.approval_dict(reject_request(command, uow))}
