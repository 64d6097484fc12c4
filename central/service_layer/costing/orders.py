"""Work-order lookups every costing service reads: the order (locked for the posting) and the
dispatches that say which order a machine ran.

They sit below production, closing, inputs, the ledger and operations so that none of those has
to import another to find an order (that is what made the production <-> closing <-> operations
import cycle).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from central.adapters.db.models_costing import DispatchRow
from central.adapters.repositories import load_order
from central.domain.time_accounting import Dispatch

__all__ = ["dispatches_for", "load_order"]


def dispatches_for(session: Session, machines: Iterable[str], lo: datetime, hi: datetime) -> list[Dispatch]:
    """Dispatches on ``machines`` overlapping [lo, hi]."""
    stmt = select(DispatchRow).where(
        DispatchRow.machine.in_(set(machines)),
        DispatchRow.start <= hi,
        or_(DispatchRow.end.is_(None), DispatchRow.end > lo),
    )
    return [Dispatch(d.work_order, d.machine, d.start, d.end) for d in session.scalars(stmt)]


