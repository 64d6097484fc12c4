"""Accounting periods as listed by the API."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session
from typing_extensions import TypedDict

from central.adapters.db.models_costing import PeriodRow

__all__ = ["PeriodView", "list_periods"]


class PeriodView(TypedDict):
    """An accounting period; ``start`` and ``end`` are ISO dates (``end`` inclusive)."""

    id: str
    entity: str | None
    start: str
    end: str
    status: str
    closed_at: str | None
    closed_by: str | None


def list_periods(session: Session) -> list[PeriodView]:
    return [
        {"id": p.id, "entity": p.entity, "start": p.start.isoformat(), "end": p.end.isoformat(), "status": p.status,
         "closed_at": p.closed_at.isoformat() if p.closed_at else None, "closed_by": p.closed_by}
        for p in session.scalars(select(PeriodRow).order_by(PeriodRow.start))
    ]
