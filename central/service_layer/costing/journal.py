"""Periods and the journal store: which period takes a date, and persisting balanced entries.

Events dated in a closed period post to the first open period, flagged late with their own
date kept; an API input dated in a closed period is refused (409). An entity with
``period_rule: monthly`` gets the calendar month of a date with no period created on first use.
"""

from __future__ import annotations

import calendar
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from central.adapters.db.dialect import insert_rows
from central.adapters.db.models_costing import JournalEntryRow, JournalLineRow, PeriodRow
from central.adapters.repositories import SqlPeriodRepository
from central.domain.errors import PeriodError
from central.domain.ledger import EntryHeader, JournalEntry
from central.domain.master_snapshot import Snapshot
from central.service_layer.costing.snapshots import record_entries
from central.service_layer.costing.stock import increment_item_stock
from central.service_layer.unit_of_work import PeriodRepository

log = logging.getLogger(__name__)

__all__ = [
    "input_period",
    "PeriodChoice", "local_date", "local_zone", "open_period_row", "period_for_event", "period_for_input",
    "insert_entries", "save_entries", "save_entry",
]

_STOCK_ROLES = frozenset({"raw_materials", "finished_goods"})


@dataclass(frozen=True)
class PeriodChoice:
    period: str
    entry_date: date
    late: bool
    original_date: date | None

    def header(self, entity: str | None, memo: str = "") -> EntryHeader:
        return EntryHeader(
            entry_date=self.entry_date, period=self.period, entity=entity, memo=memo,
            late=self.late, original_date=self.original_date,
        )


def local_zone(snap: Snapshot, entity: str | None) -> ZoneInfo:
    """The entity's time zone (default UTC)."""
    return ZoneInfo(snap.entity(entity).timezone or "UTC")


def local_date(snap: Snapshot, entity: str | None, ts: datetime) -> date:
    """The date of ``ts`` in the entity's time zone (default UTC)."""
    return ts.astimezone(local_zone(snap, entity)).date()


def _ensure(session: Session, snap: Snapshot, entity: str | None, day: date) -> PeriodRow:
    return _ensure_in(SqlPeriodRepository(session), snap, entity, day)


def _ensure_in(periods: PeriodRepository, snap: Snapshot, entity: str | None, day: date) -> PeriodRow:
    found = periods.covering(entity, day)
    if found is not None:
        return found
    if snap.period_rule(entity) != "monthly":
        raise PeriodError(f"no accounting period covers {day.isoformat()} (entity {entity})")
    last = calendar.monthrange(day.year, day.month)[1]
    row = PeriodRow(
        id=f"{day.year:04d}-{day.month:02d}", entity=None, start=day.replace(day=1), end=day.replace(day=last),
        status="open",
    )
    stored = periods.add_if_absent(row)
    log.info("period %s created on first use (monthly rule)", stored.id)
    return stored


def open_period_row(session: Session, period_id: str) -> PeriodRow:
    row = session.get(PeriodRow, period_id)
    if row is None:
        raise PeriodError(f"unknown period {period_id!r}")
    if row.status != "open":
        raise PeriodError(f"period {period_id} is closed")
    return row


def period_for_event(session: Session, snap: Snapshot, entity: str | None, ts: datetime) -> PeriodChoice:
    """The period an event posts in: its own, or the first open one after it (late)."""
    day = local_date(snap, entity, ts)
    period = _ensure(session, snap, entity, day)
    if period.status == "open":
        return PeriodChoice(period.id, day, False, None)
    probe = period
    for _ in range(1200):
        following = probe.end.toordinal() + 1
        probe = _ensure(session, snap, entity, date.fromordinal(following))
        if probe.status == "open":
            return PeriodChoice(probe.id, probe.start, True, day)
    raise PeriodError(f"no open period after {period.id}")  # pragma: no cover - 100 years closed


def period_for_input(
    session: Session, snap: Snapshot, entity: str | None, day: date | None, now: datetime
) -> PeriodChoice:
    """The period of an API input dated ``day`` (default the day of ``now`` in the entity's zone);
    closed: 409."""
    return input_period(SqlPeriodRepository(session), snap, entity, day, now)


def input_period(
    periods: PeriodRepository, snap: Snapshot, entity: str | None, day: date | None, now: datetime
) -> PeriodChoice:
    """:func:`period_for_input` through a unit of work's period repository."""
    day = day or local_date(snap, entity, now)
    period = _ensure_in(periods, snap, entity, day)
    if period.status != "open":
        raise PeriodError(f"period {period.id} is closed: date the input {day.isoformat()} in an open period")
    return PeriodChoice(period.id, day, False, None)


def save_entries(
    session: Session,
    entries: Sequence[JournalEntry],
    user: str,
    now: datetime,
    *,
    record_id: int | None = None,
    work_order: str | None = None,
    reverses: int | None = None,
) -> list[int]:
    """The one journal writer: persist balanced entries (one INSERT for the entries, one for all
    their lines), bump the running stock values, and return the entry ids in order. Refuses an
    entry dated into a closed or unknown period. ``now`` is the caller's clock."""
    ids, values = insert_entries(session, [(e, record_id, work_order) for e in entries], user, now,
                                 reverses=reverses)
    for item, delta in values.items():
        increment_item_stock(session, item, "value", delta)
    return ids


def insert_entries(
    session: Session,
    entries: Sequence[tuple[JournalEntry, int | None, str | None]],
    user: str,
    now: datetime,
    *,
    reverses: int | None = None,
) -> tuple[list[int], dict[str, Decimal]]:
    """:func:`save_entries` for entries of many records at once (``(entry, record_id, work_order)``),
    without the stock-value bump: returns the entry ids in order and the value each item's stock
    lines move, summed over the entries, for the caller to add to ``item_stock`` (one upsert per
    item rather than per entry). Refuses an entry dated into a closed or unknown period."""
    if not entries:
        return [], {}
    for period_id in dict.fromkeys(e.period for e, _, _ in entries):
        period = session.get(PeriodRow, period_id)
        if period is None or period.status != "open":
            raise PeriodError(f"period {period_id} is closed or unknown: nothing posts into it")
    table = cast(Table, JournalEntryRow.__table__)
    values = [
        {"entity": e.entity, "period": e.period, "entry_date": e.entry_date, "kind": e.kind, "memo": e.memo,
         "rule_version": e.rule_version, "late": e.late, "original_date": e.original_date, "reverses": reverses,
         "reason": e.reason, "record_id": record_id, "work_order": work_order, "created": now, "user": user}
        for e, record_id, work_order in entries
    ]
    ids = [int(i) for i in session.scalars(insert(table).returning(table.c.id, sort_by_parameter_order=True),
                                           values)]
    insert_rows(session, cast(Table, JournalLineRow.__table__),
                [row for entry_id, (e, _, _) in zip(ids, entries, strict=True) for row in _line_rows(entry_id, e)])
    record_entries(session, [e for e, _, _ in entries])  # the ledger balance snapshots, same transaction
    moved: dict[str, Decimal] = {}
    for e, _, _ in entries:
        for line in e.lines:
            if line.role.value in _STOCK_ROLES and line.tags.item is not None:
                moved[line.tags.item] = moved.get(line.tags.item, Decimal(0)) + line.amount
    return ids, moved


def save_entry(
    session: Session,
    entry: JournalEntry,
    user: str,
    now: datetime,
    *,
    record_id: int | None = None,
    work_order: str | None = None,
    reverses: int | None = None,
) -> int:
    """One entry through :func:`save_entries`; its id."""
    return save_entries(session, [entry], user, now, record_id=record_id, work_order=work_order,
                        reverses=reverses)[0]


def _line_rows(entry_id: int, entry: JournalEntry) -> list[dict[str, Any]]:
    return [
        {"entry_id": entry_id, "line_no": n, "account": line.account or "", "role": line.role.value,
         "debit": line.debit, "credit": line.credit, "work_order": line.tags.work_order, "item": line.tags.item,
         "work_center": line.tags.work_center, "reason": line.tags.reason, "memo": line.tags.memo}
        for n, line in enumerate(entry.lines, start=1)
    ]
