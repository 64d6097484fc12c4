"""A per-process cache of figures over finished days (before today's local midnight), for the
read-heavy summaries (executive summary, margin report, the console's pages): what happened
before today hardly changes, so it is read at most once per :data:`PAST_CACHE_SECONDS` and only
today's part on every request.

The price: a late event or a decision (a suspect event accepted, an event re-attributed) dated
before today shows after at most :data:`PAST_CACHE_SECONDS`. Keys name the database (its URL), so
two databases in one process never share an entry."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from time import monotonic
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from central.domain.money import ZERO
from central.service_layer.costing.output_totals import posted_scrap

__all__ = ["PAST_CACHE_SECONDS", "cached", "database_of", "posted_scrap_split"]

PAST_CACHE_SECONDS = 300.0
"""How long an entry lives."""
_MAX_ENTRIES = 10_000
_cache: dict[tuple[Any, ...], tuple[float, Any]] = {}
_lock = threading.Lock()
_T = TypeVar("_T")


def database_of(session: Session) -> str:
    return str(session.get_bind().engine.url)


def cached(key: tuple[Any, ...], load: Callable[[], _T]) -> _T:
    """``load()``, kept for :data:`PAST_CACHE_SECONDS` under ``key`` (which must name the database
    and everything the value depends on)."""
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
        parts += cached(("posted_scrap", database_of(session), tuple(names), start, cut),
                        lambda: posted_scrap(session, names, start, cut))
    if end > cut:
        parts += posted_scrap(session, names, cut, end)
    totals: dict[tuple[str, str, str | None], Decimal] = defaultdict(lambda: ZERO)
    for wo, machine, reason, qty in parts:
        totals[(wo, machine, reason)] += qty
    return [(wo, machine, reason, qty) for (wo, machine, reason), qty in totals.items()]
