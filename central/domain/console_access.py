"""Who may see which console page and take which console action (issue 15's table).

A page or action a role may not use is neither shown (the navigation asks :func:`may_view`) nor
served (the page's route asks it too and answers 403). Queue actions mirror the API's write roles
(API.md); ``admin`` passes every check, the read-only ``executive`` takes no action at all.
Approvals have one more rule the service applies per request (the role the request needs, never
the requester); :func:`may_decide_approval` mirrors it so the page shows only usable buttons.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final

__all__ = ["Page", "Action", "PAGE_ROLES", "ACTION_ROLES", "ALL_ROLES", "may_view", "may_act", "pages_for",
           "may_decide_approval"]

ADMIN: Final = "admin"
ALL_ROLES: Final = ("operator", "engineer", "planner", "controller", "auditor", "executive", ADMIN)
_FINANCE: Final = frozenset({"planner", "controller", "auditor", "executive", ADMIN})
_QUEUES: Final = frozenset({"operator", "engineer", "planner", "controller", "auditor", ADMIN})
_AUDIT: Final = frozenset({"controller", "auditor", ADMIN})
_WRITERS: Final = frozenset(ALL_ROLES) - {"executive"}


class Page(StrEnum):
    PLANT = "plant"
    MACHINE = "machine"
    COST = "cost"
    MARGIN = "margin"
    EXECUTIVE = "executive"
    QUEUES = "queues"
    AUDIT = "audit"


class Action(StrEnum):
    SUSPECT_DECIDE = "suspect.decide"
    UNASSIGNED_ASSIGN = "unassigned.assign"
    GAP_ACCEPT = "gap.accept"
    REJECTED_REPLAY = "rejected.replay"
    APPROVAL_DECIDE = "approval.decide"
    ALERT_ACK = "alert.ack"
    ALERT_MANAGE = "alert.manage"
    RECOMMENDATION_ACK = "recommendation.ack"
    RECOMMENDATION_DECIDE = "recommendation.decide"
    PERIOD_CLOSE = "period.close"


PAGE_ROLES: Mapping[Page, frozenset[str]] = MappingProxyType({
    Page.PLANT: frozenset(ALL_ROLES),
    Page.MACHINE: frozenset(ALL_ROLES),
    Page.COST: _FINANCE,
    Page.MARGIN: _FINANCE,
    Page.EXECUTIVE: _FINANCE,
    Page.QUEUES: _QUEUES,
    Page.AUDIT: _AUDIT,
})
"""Page -> the roles that see it."""

_CONTROLLER: Final = frozenset({"controller", ADMIN})
ACTION_ROLES: Mapping[Action, frozenset[str]] = MappingProxyType({
    Action.SUSPECT_DECIDE: _CONTROLLER,
    Action.UNASSIGNED_ASSIGN: _CONTROLLER,
    Action.GAP_ACCEPT: _CONTROLLER,
    Action.REJECTED_REPLAY: _CONTROLLER,
    Action.APPROVAL_DECIDE: _WRITERS,  # narrowed per request by may_decide_approval
    Action.ALERT_ACK: _WRITERS,
    Action.ALERT_MANAGE: _CONTROLLER,  # assign, resolve, dismiss
    Action.RECOMMENDATION_ACK: _WRITERS,
    Action.RECOMMENDATION_DECIDE: _CONTROLLER,  # dismiss (with its reason), escalate
    Action.PERIOD_CLOSE: _CONTROLLER,
})
"""Action -> the roles that may take it (the API's write roles; admin passes)."""


def may_view(role: str, page: Page) -> bool:
    return role in PAGE_ROLES[page]


def may_act(role: str, action: Action) -> bool:
    """An action needs its role and the queues page it is taken from (period close: the queues page too)."""
    return role in ACTION_ROLES[action] and may_view(role, Page.QUEUES)


def pages_for(role: str) -> list[Page]:
    """The pages in navigation order that ``role`` sees (the machine page is reached from plant)."""
    return [p for p in Page if p is not Page.MACHINE and may_view(role, p)]


def may_decide_approval(role: str, user: str, *, required_role: str, requested_by: str, approve: bool) -> bool:
    """Whether the approve (or reject) button is usable: the role the request needs (or admin),
    never approving one's own request; the requester may withdraw (reject) their own."""
    if not may_act(role, Action.APPROVAL_DECIDE):
        return False
    if user == requested_by:
        return not approve
    return role in (required_role, ADMIN)
