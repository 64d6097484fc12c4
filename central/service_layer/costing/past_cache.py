"""A per-process cache of figures over finished days (before today's local midnight), for the
read-heavy summaries (executive summary, margin report, the console's pages): what happened
before today hardly changes, so it is read once and only today's part on every request.

"Hardly" is checked on every request, not assumed: :func:`past_key` names the database and a
*revision of its past*, which moves as soon as a row dated before the split arrives — an event
posting (a late event, a late state change) or a journal entry dated, or originally dated, before
it (a suspect event accepted, units re-attributed, a reversal, a late posting). The check reads
only the rows written since the previous request (``id`` above the last one seen), so its cost
follows the ingest rate, not the history; live events dated today never move the revision. An
entry also expires after :data:`PAST_CACHE_SECONDS` (a backstop: on PostgreSQL a transaction can
commit a row under an id lower than one already seen)."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from time import monotonic
from typing import Any, TypeVar

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from central.adapters.db.models_costing import EventPostingRow, JournalEntryRow
from central.domain.money import ZERO
from central.service_layer.costing.output_totals import ProductionTotal, posted_scrap, production_totals

__all__ = ["PAST_CACHE_SECONDS", "cached", "database_of", "past_key", "posted_scrap_split", "production_totals_split"]

PAST_CACHE_SECONDS = 300.0
"""How long an entry lives."""
_MAX_ENTRIES = 10_000
_cache: dict[tuple[Any, ...], tuple[float, Any]] = {}
_lock = threading.Lock()
_T = TypeVar("_T")


def database_of(session: Session) -> str:
    return str(session.get_bind().engine.url)


_watch: dict[tuple[str, datetime], tuple[int, int, int]] = {}
"""(database, split) -> (highest event posting id seen, highest journal entry id seen, revision)."""
_LOCAL_DATE_SLACK = timedelta(hours=14)
"""A journal entry is dated in the entity's local days; the split is that zone's midnight in UTC
(UTC-12 to UTC+14): the local date of the split is at most this far after it in UTC, so an entry
dated before ``(split + 14 h).date()`` may be in a finished day (over-counting only in UTC-10 to -12,
which then recompute more often, never show stale figures)."""


def past_key(session: Session, split: datetime) -> tuple[str, int]:
    """(database, revision of everything dated before ``split``): a cache key part that changes
    when the past does (see the module's docstring)."""
    db = database_of(session)
    ep_top = int(session.scalar(select(func.max(EventPostingRow.event_id))) or 0)
    je_top = int(session.scalar(select(func.max(JournalEntryRow.id))) or 0)
    with _lock:
        seen = _watch.get((db, split))
    if seen is None:
        with _lock:
            _watch[(db, split)] = seen = _watch.get((db, split), (ep_top, je_top, 0))
        return db, seen[2]
    ep_seen, je_seen, revision = seen
    moved = False
    if ep_top > ep_seen:
        ep = EventPostingRow
        newer = select(ep.event_id).where(ep.event_id > ep_seen, ep.event_id <= ep_top, ep.ts < split)
        moved = session.scalar(newer.limit(1)) is not None
    if not moved and je_top > je_seen:
        je, day = JournalEntryRow, (split + _LOCAL_DATE_SLACK).date()
        moved = session.scalar(select(je.id).where(je.id > je_seen, je.id <= je_top, or_(
            je.entry_date < day, je.original_date < day)).limit(1)) is not None
    with _lock:
        current = _watch.get((db, split), seen)
        revision = max(current[2], revision) + 1 if moved else current[2]
        _watch[(db, split)] = (max(current[0], ep_top), max(current[1], je_top), revision)
        if len(_watch) > _MAX_ENTRIES:
            _watch.clear()
    return db, revision


def cached(key: tuple[Any, ...], load: Callable[[], _T]) -> _T:
    """``load()``, kept for :data:`PAST_CACHE_SECONDS` under ``key`` (which must hold
    :func:`past_key` for the value's split and everything else the value depends on)."""
    with _lock:
        hit = _cache.get(key)
    if hit is not None and hit[0] > monotonic():
        value: _T = hit[1]
        return value
    value = load()
    with _lock:
        if len(_cache) > _MAX_ENTRIES:  # drop the expired ones now and then
            for stale in [k for k, (until, _) in _cache.items() if until <= monotonic()]:
                del _cache[stale]
        _cache[key] = (monotonic() + PAST_CACHE_SECONDS, value)
    return value


def posted_scrap_split(session: Session, machines: Iterable[str], start: datetime, end: datetime,
                       split: datetime) -> list[tuple[str, str, str | None, Decimal]]:
    """:func:`central.service_layer.costing.output_totals.posted_scrap` over ``[start, end)``, the
    part before ``split`` (today's midnight) from the cache: the same sums (integer units, summed
    per order, machine and reason across the split)."""
    names = sorted(set(machines))
    cut = max(min(split, end), start)
    parts: list[tuple[str, str, str | None, Decimal]] = []
    if cut > start:
        parts += cached(("posted_scrap", past_key(session, split), tuple(names), start, cut),
                        lambda: posted_scrap(session, names, start, cut))
    if end > cut:
        parts += posted_scrap(session, names, cut, end)
    totals: dict[tuple[str, str, str | None], Decimal] = defaultdict(lambda: ZERO)
    for wo, machine, reason, qty in parts:
        totals[(wo, machine, reason)] += qty
    return [(wo, machine, reason, qty) for (wo, machine, reason), qty in totals.items()]


def production_totals_split(session: Session, period: str, machines: Iterable[str], split: datetime,
                            split_day: date) -> list[ProductionTotal]:
    """:func:`central.service_layer.costing.output_totals.production_totals` of ``period``, the
    records posted before ``split_day`` (the local date of ``split``, today's midnight) from the
    cache: the same totals per (machine, order, item), in the same order. A production record's
    posting day is the date of its journal entries, so a record dated before ``split_day`` comes
    with entries dated before it, which move :func:`past_key`."""
    names = sorted(set(machines))
    before = cached(("production", past_key(session, split), period, tuple(names), split_day),
                    lambda: production_totals(session, period=period, last_day=split_day - timedelta(days=1),
                                              machines=names))
    totals: dict[tuple[str, str, str], tuple[Decimal, Decimal]] = {}
    for t in [*before, *production_totals(session, period=period, first_day=split_day, machines=names)]:
        good, scrap = totals.get((t.machine, t.work_order, t.item), (ZERO, ZERO))
        totals[(t.machine, t.work_order, t.item)] = (good + t.good, scrap + t.scrap)
    return [ProductionTotal(m, wo, item, good, scrap) for (m, wo, item), (good, scrap) in sorted(totals.items())]
