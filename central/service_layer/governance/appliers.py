"""Governance-owned request kinds: period reopening (``period_reopen``).

Reopening a period needs an admin to ask and a second person with the controller role to
approve (ACCOUNTING.md: "Reopening a period needs an admin and an approval"). The approval flips
the period back to ``open`` in the approving transaction; nothing posted is changed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from sqlalchemy.orm import Session

from central.adapters.db.models_costing import PeriodRow
from central.adapters.unit_of_work import SqlAlchemyUnitOfWork
from central.domain.commands import RequestPeriodReopen
from central.errors import Conflict, Forbidden, NotFound
from central.service_layer.access import ADMIN, Principal
from central.service_layer.governance.approvals import ApprovedRequest, park_for_approval
from central.service_layer.unit_of_work import AbstractUnitOfWork

log = logging.getLogger(__name__)

__all__ = ["PERIOD_REOPEN", "REOPEN_APPROVER_ROLE", "request_reopen", "request_period_reopen",
           "apply_period_reopen"]

PERIOD_REOPEN: Final = "period_reopen"
REOPEN_APPROVER_ROLE: Final = "controller"


def _closed_period(uow: AbstractUnitOfWork, period_id: str, *, lock: bool) -> PeriodRow:
    period = uow.periods.get(period_id, lock=lock)
    if period is None:
        raise NotFound(f"no period {period_id!r}")
    if period.status == "open":
        raise Conflict(f"period {period_id} is open: nothing to reopen", code="period_open")
    return period


def request_reopen(cmd: RequestPeriodReopen, uow: AbstractUnitOfWork) -> dict[str, Any]:
    """An admin asks to reopen a closed period; returns the pending approval request."""
    if cmd.role != ADMIN:
        raise Forbidden("reopening a period needs the admin role", {"role": cmd.role, "needs": [ADMIN]})
    with uow:
        period = _closed_period(uow, cmd.period_id, lock=False)
        actor = Principal(cmd.user, cmd.role, cmd.token_id) if cmd.token_id is not None else cmd.user
        row = park_for_approval(
            uow, actor, PERIOD_REOPEN, {"period": period.id, "reason": cmd.reason}, REOPEN_APPROVER_ROLE,
            summary=f"reopen period {period.id}: {cmd.reason}", target=f"period/{period.id}",
        )
        uow.commit()
        return {"period": period.id, "status": period.status,
                "approval": {"id": row.id, "status": row.status, "required_role": row.required_role}}


def request_period_reopen(session: Session, principal: Principal, period_id: str, reason: str) -> dict[str, Any]:
    """:func:`request_reopen` in ``session``'s transaction."""
    return request_reopen(RequestPeriodReopen(period_id, reason, principal.user, principal.role, principal.token_id),
                          SqlAlchemyUnitOfWork.joining(session))


def apply_period_reopen(uow: AbstractUnitOfWork, req: ApprovedRequest) -> Mapping[str, Any]:
    """The approval's applier: the period is open again (in the approving unit of work)."""
    period = _closed_period(uow, str(req.payload["period"]), lock=True)
    closed_at, closed_by = period.closed_at, period.closed_by
    period.status, period.closed_at, period.closed_by = "open", None, None
    log.warning("period %s reopened (approval %s: asked by %s, approved by %s)", period.id, req.id, req.requested_by,
                req.approved_by)
    return {"period": period.id, "status": "open", "was_closed_at": closed_at.isoformat() if closed_at else None,
            "was_closed_by": closed_by}
