"""Approval rules as pure functions: who may decide a request (segregation of duties).

- Only a ``pending`` request can be decided.
- The approver is never the requester (by user name, whatever token or role they use).
- The approver needs the role the request names (``admin`` passes, as in every role check).
- The requester may reject (withdraw) their own pending request; nobody else without the role.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

__all__ = ["Status", "Decision", "Refusal", "ADMIN", "refusal"]

ADMIN: Final = "admin"


class Status(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class Decision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a decision is refused. ``kind``: ``state`` (409), ``own_request`` or ``role`` (403)."""

    kind: str
    message: str


def refusal(*, status: str, requested_by: str, required_role: str, user: str, role: str,
            decision: Decision) -> Refusal | None:
    """None when ``user`` with ``role`` may take ``decision`` on the request, else the reason."""
    if status != Status.PENDING:
        return Refusal("state", f"the request is already {status}")
    own = user == requested_by
    if decision is Decision.APPROVE and own:
        return Refusal("own_request", "segregation of duties: the requester cannot approve their own request")
    if decision is Decision.REJECT and own:
        return None  # withdrawing one's own request
    if role != required_role and role != ADMIN:
        return Refusal("role", f"deciding this request needs the role {required_role!r} (you have {role!r})")
    return None
