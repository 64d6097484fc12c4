"""Accounting periods as listed by the API."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.adapters.db.models_costing import PeriodRow

__all__ = ["list_periods"]


def list_periods(session: Session) -> list[dict[str, Any]]:
    return [
        {"id": p.id, "entity": p.entity, "start": p.start.isoformat(), "end": p.end.isoformat(), "status": p.status,
         "closed_at": p.closed_at.isoformat() if p.closed_at else None, "closed_by": p.closed_by}
        for p in session.scalars(select(PeriodRow).order_by(PeriodRow.start))
    ]
