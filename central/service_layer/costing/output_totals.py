"""Output totals for the finance summaries, read from the small tables where they exist.

Every batch of good and scrap units an order receives is one ``production`` operational record
(``production_reversal`` when a re-attribution takes units back out), with the good and scrap
quantities, the machine, the period and the posting day (the events' day in the entity's zone;
a late event posts into the first open period with its posting day there). Summing those
records costs one row per batch and order instead of one per event: what keeps the margin report
and the executive summary fast over a long history. Scrap by reason (cost of quality rows) and
units still waiting unassigned are read from the events, through their ``(machine, kind, ts)``
and ``status`` indexes: both are a small share of the events.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central.adapters.db.models_costing import EventPostingRow, EventPostingStatus, OpRecordRow
from central.domain.money import ZERO

__all__ = ["ProductionTotal", "production_totals", "posted_scrap", "unassigned_units"]

_KINDS = ("production", "production_reversal")


@dataclass(frozen=True)
class ProductionTotal:
    """Good and scrap units one order posted from one machine (net of reversals)."""

    machine: str
    work_order: str
    item: str
    good: Decimal
    scrap: Decimal


def production_totals(
    session: Session, *, period: str | None = None, first_day: date | None = None, last_day: date | None = None,
    machines: Iterable[str] | None = None,
) -> list[ProductionTotal]:
    """Net good and scrap per (machine, order) of the production records of ``period`` and/or
    posted from ``first_day`` to ``last_day`` (inclusive)."""
    stmt = select(OpRecordRow.machine, OpRecordRow.work_order, OpRecordRow.item, OpRecordRow.qty,
                  OpRecordRow.data).where(OpRecordRow.kind.in_(_KINDS))
    if period is not None:
        stmt = stmt.where(OpRecordRow.period == period)
    if first_day is not None:
        stmt = stmt.where(OpRecordRow.posting_date >= first_day)
    if last_day is not None:
        stmt = stmt.where(OpRecordRow.posting_date <= last_day)
    if machines is not None:
        stmt = stmt.where(OpRecordRow.machine.in_(list(machines)))
    totals: dict[tuple[str, str, str], tuple[Decimal, Decimal]] = {}
    for machine, order, item, qty, data in session.execute(stmt):
        if machine is None or order is None or item is None:
            continue
        key = (str(machine), str(order), str(item))
        good, scrap = totals.get(key, (ZERO, ZERO))
        fields: dict[str, Any] = data if isinstance(data, dict) else {}
        totals[key] = (good + Decimal(str(qty or 0)), scrap + Decimal(str(fields.get("scrap", "0"))))
    return [ProductionTotal(m, wo, item, good, scrap) for (m, wo, item), (good, scrap) in sorted(totals.items())]


def posted_scrap(
    session: Session, machines: Iterable[str], start: datetime, end: datetime
) -> list[tuple[str, str, str | None, Decimal]]:
    """(order, machine, reason, qty) of the scrap events posted to an order in ``[start, end)``."""
    names = list(machines)
    if not names:
        return []
    # status is grouped, not filtered: with ``status =`` in the WHERE clause SQLite's planner takes
    # the status index (every posted event) over (machine, kind, ts) (the few scrap events)
    stmt = select(EventPostingRow.work_order, EventPostingRow.machine, EventPostingRow.reason,
                  EventPostingRow.status, func.sum(EventPostingRow.qty)).where(
        EventPostingRow.machine.in_(names), EventPostingRow.kind == "scrap",
        EventPostingRow.ts >= start, EventPostingRow.ts < end).group_by(
        EventPostingRow.work_order, EventPostingRow.machine, EventPostingRow.reason, EventPostingRow.status)
    return [(str(wo), str(m), reason, Decimal(qty or 0)) for wo, m, reason, status, qty in session.execute(stmt)
            if status == EventPostingStatus.POSTED and wo is not None]


def unassigned_units(
    session: Session, machines: Iterable[str], start: datetime, end: datetime
) -> list[tuple[str, str, Decimal]]:
    """(machine, kind, qty) of good and scrap units waiting unassigned, counted in ``[start, end)``."""
    names = list(machines)
    if not names:
        return []
    stmt = select(EventPostingRow.machine, EventPostingRow.kind, func.sum(EventPostingRow.qty)).where(
        EventPostingRow.status == EventPostingStatus.UNASSIGNED, EventPostingRow.machine.in_(names),
        EventPostingRow.kind.in_(("count", "scrap")), EventPostingRow.ts >= start,
        EventPostingRow.ts < end).group_by(EventPostingRow.machine, EventPostingRow.kind)
    return [(str(m), str(kind), Decimal(qty or 0)) for m, kind, qty in session.execute(stmt)]
