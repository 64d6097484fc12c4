"""Operational records past a threshold (DESIGN.md, Central): quality exceptions and maintenance requests.

* **Quality exception**: a machine's scrap rate over a rolling window of its most recent units
  (good + scrap, ``scrap_window_units``) reaches ``scrap_rate``. The rate is evaluated at every
  count/scrap event once the window is full. An exception stays open while the rate is high and
  clears when it falls below ``scrap_clear_rate`` (default half of ``scrap_rate``: hysteresis, so
  a rate wobbling around the threshold makes one exception, not many); the next crossing after
  that opens a new one.
* **Maintenance request**: an unplanned stop longer than ``downtime_minutes`` whose downtime
  category is in ``downtime_categories`` (default ``equipment``). A stop is a run of consecutive
  state events with the same state and reason that is not ``running``; it is measured when the
  event that ends it arrives. Planned stops (state ``planned_stop`` or a reason marked planned)
  never qualify. A ``down`` state with no known reason counts as ``equipment``, any other
  non-running state with no known reason as ``other``.

Thresholds come from master data: defaults here, overridden per work centre, then per machine
(``thresholds`` on a ``work_centers`` or ``machines`` record). Pure: no I/O.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any, NamedTuple

from central.domain.errors import InputError, ValidationError
from central.domain.master_data import DowntimeCategory, DowntimeReason
from central.domain.money import divide, to_ratio

__all__ = [
    "DEFAULT_THRESHOLDS",
    "Thresholds",
    "resolve_thresholds",
    "UnitEvent",
    "WindowUnit",
    "RollingScrap",
    "WindowRate",
    "ScrapChange",
    "scrap_changes",
    "may_open",
    "StateMark",
    "Stop",
    "ended_stops",
    "stop_category",
    "needs_maintenance",
    "machine_thresholds",
    "thresholds_of",
    "threshold_errors",
]

_KEYS = ("scrap_rate", "scrap_clear_rate", "scrap_window_units", "downtime_minutes", "downtime_categories")


@dataclass(frozen=True)
class Thresholds:
    scrap_rate: Decimal = Decimal("0.10")
    scrap_window_units: int = 100
    scrap_clear_rate: Decimal | None = None
    downtime_minutes: Decimal = Decimal(30)
    downtime_categories: frozenset[DowntimeCategory] = field(
        default_factory=lambda: frozenset({DowntimeCategory.EQUIPMENT}))

    def __post_init__(self) -> None:
        if not Decimal(0) < self.scrap_rate <= 1:
            raise InputError(f"scrap_rate must be in (0, 1], got {self.scrap_rate}")
        if self.scrap_window_units < 1:
            raise InputError(f"scrap_window_units must be at least 1, got {self.scrap_window_units}")
        if self.scrap_clear_rate is not None and not Decimal(0) <= self.scrap_clear_rate <= self.scrap_rate:
            raise InputError(f"scrap_clear_rate must be in [0, scrap_rate], got {self.scrap_clear_rate}")
        if self.downtime_minutes <= 0:
            raise InputError(f"downtime_minutes must be positive, got {self.downtime_minutes}")

    @property
    def clear_rate(self) -> Decimal:
        return self.scrap_rate / 2 if self.scrap_clear_rate is None else self.scrap_clear_rate

    @property
    def downtime_limit(self) -> timedelta:
        return timedelta(microseconds=int(self.downtime_minutes * 60_000_000))

    def to_data(self) -> dict[str, Any]:
        return {"scrap_rate": str(self.scrap_rate), "scrap_clear_rate": str(self.clear_rate),
                "scrap_window_units": self.scrap_window_units, "downtime_minutes": str(self.downtime_minutes),
                "downtime_categories": sorted(c.value for c in self.downtime_categories)}


DEFAULT_THRESHOLDS = Thresholds()


def resolve_thresholds(*layers: Mapping[str, Any] | None) -> Thresholds:
    """Defaults overridden by each layer in turn (work centre, then machine); ``None`` values are unset."""
    values: dict[str, Any] = {}
    for layer in layers:
        for key, value in (layer or {}).items():
            if key not in _KEYS:
                raise InputError(f"unknown threshold {key!r}")
            if value is not None:
                values[key] = value
    t = DEFAULT_THRESHOLDS
    return Thresholds(
        scrap_rate=Decimal(str(values.get("scrap_rate", t.scrap_rate))),
        scrap_window_units=int(values.get("scrap_window_units", t.scrap_window_units)),
        scrap_clear_rate=None if values.get("scrap_clear_rate") is None else Decimal(str(values["scrap_clear_rate"])),
        downtime_minutes=Decimal(str(values.get("downtime_minutes", t.downtime_minutes))),
        downtime_categories=frozenset(DowntimeCategory(c) for c in values.get(
            "downtime_categories", [c.value for c in t.downtime_categories])),
    )


def machine_thresholds(records: Mapping[str, Sequence[Mapping[str, Any]]], machine: str) -> Thresholds | None:
    """The thresholds of ``machine`` from stored master-data records (None: not a known machine)."""
    m = next((r for r in records.get("machines", []) if r.get("id") == machine), None)
    if m is None:
        return None
    wc = next((r for r in records.get("work_centers", []) if r.get("id") == m.get("work_center")), None)
    return resolve_thresholds((wc or {}).get("thresholds"), m.get("thresholds"))


def thresholds_of(records: Mapping[str, Sequence[Mapping[str, Any]]], machines: Iterable[str]) -> dict[str, Thresholds]:
    """:func:`machine_thresholds` of many machines (the records indexed once); unknown machines are left out."""
    by_id: dict[Any, Mapping[str, Any]] = {}
    centers: dict[Any, Mapping[str, Any]] = {}
    for r in records.get("machines", []):
        by_id.setdefault(r.get("id"), r)  # the first record of an id, as machine_thresholds finds it
    for r in records.get("work_centers", []):
        centers.setdefault(r.get("id"), r)
    out: dict[str, Thresholds] = {}
    for machine in machines:
        m = by_id.get(machine)
        if m is not None:
            wc = centers.get(m.get("work_center"))
            out[machine] = resolve_thresholds((wc or {}).get("thresholds"), m.get("thresholds"))
    return out


def threshold_errors(records: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[ValidationError]:
    """Every machine's resolved thresholds must be valid (e.g. a machine's clear rate not above its
    work centre's scrap rate); checked when master data loads, so the ingest never meets a bad set."""
    errors: list[ValidationError] = []
    for index, m in enumerate(records.get("machines", [])):
        try:
            machine_thresholds(records, str(m.get("id")))
        except (InputError, ValueError, ArithmeticError) as exc:
            errors.append(ValidationError(f"machines[{index}].thresholds", str(exc)))
    return errors


# --- scrap rate over a rolling window of units ----------------------------------------------


class UnitEvent(NamedTuple):
    """A count or scrap event of one machine; ``key`` identifies it (the event id). A named
    tuple: one is made per event on the ingest's hot path."""

    key: int
    ts: datetime
    kind: str  # "count" | "scrap"
    qty: int
    reason: str | None = None
    work_order: str | None = None


class WindowUnit(NamedTuple):
    """An event that only fills the window (history before the events being checked): no key or
    time needed, only what the rate counts."""

    kind: str  # "count" | "scrap"
    qty: int
    reason: str | None = None


@dataclass(frozen=True)
class WindowRate:
    scrap: int
    units: int
    reasons: Mapping[str, int]

    @property
    def rate(self) -> Decimal:
        return divide(Decimal(self.scrap), Decimal(self.units))

    @property
    def reported_rate(self) -> Decimal:
        return to_ratio(self.rate)


class RollingScrap:
    """The most recent events whose units make at least ``window_units`` (the oldest drops out as
    soon as the rest still fill the window)."""

    def __init__(self, window_units: int) -> None:
        self.window_units = window_units
        self._events: deque[UnitEvent | WindowUnit] = deque()
        self._units = 0
        self._scrap = 0
        self._reasons: dict[str, int] = {}

    def push(self, ev: UnitEvent) -> WindowRate | None:
        """Add ``ev``; the window's rate when it is full, else None."""
        self.add(ev)
        return self.rate()

    def add(self, ev: UnitEvent | WindowUnit) -> bool:
        """Add ``ev`` (O(1) amortised: counters, no copy); True when the window is full."""
        if ev.qty <= 0:
            return self._units >= self.window_units
        self._events.append(ev)
        self._units += ev.qty
        if ev.kind == "scrap":
            self._scrap += ev.qty
            self._reasons[ev.reason or ""] = self._reasons.get(ev.reason or "", 0) + ev.qty
        while self._events and self._units - self._events[0].qty >= self.window_units:
            old = self._events.popleft()
            self._units -= old.qty
            if old.kind == "scrap":
                self._scrap -= old.qty
                left = self._reasons[old.reason or ""] - old.qty
                if left:
                    self._reasons[old.reason or ""] = left
                else:
                    del self._reasons[old.reason or ""]
        return self._units >= self.window_units

    @property
    def scrap(self) -> int:
        return self._scrap

    @property
    def units(self) -> int:
        return self._units

    def rate(self) -> WindowRate | None:
        if self._units < self.window_units:
            return None
        return WindowRate(self._scrap, self._units, dict(self._reasons))


@dataclass(frozen=True)
class ScrapChange:
    """The rate crossed the threshold at ``event`` (``opened``) or fell below the clear rate. A
    clearing carries ``peak``: the highest rate the window reached while the exception was open,
    among the events of the same :func:`scrap_changes` call (None: none of them), so an exception
    that opens and clears within one batch keeps the same peak as with smaller batches."""

    opened: bool
    event: UnitEvent
    window: WindowRate
    peak: Decimal | None = None


def scrap_changes(
    history: Sequence[UnitEvent | WindowUnit], new: Sequence[UnitEvent], thresholds: Thresholds, is_open: bool
) -> tuple[list[ScrapChange], Decimal | None]:
    """Openings and clearings while ``new`` events arrive after ``history`` (both in time order;
    ``history`` only fills the window). Returns the changes and the highest rate seen while an
    exception was open after the last change (None when none was open)."""
    window = RollingScrap(thresholds.scrap_window_units)
    for ev in history:
        window.add(ev)
    changes: list[ScrapChange] = []
    peak: Decimal | None = None
    rates: dict[tuple[int, int], Decimal] = {}  # a window's (scrap, units) repeat: divide each pair once
    clear_rate = thresholds.clear_rate
    for ev in new:
        if not window.add(ev):
            continue
        key = (window.scrap, window.units)
        rate = rates.get(key)
        if rate is None:
            rate = rates[key] = divide(Decimal(key[0]), Decimal(key[1]))
        if not is_open and rate >= thresholds.scrap_rate:
            is_open = True
            changes.append(ScrapChange(True, ev, _window_rate(window)))
            peak = rate
        elif is_open and rate < clear_rate:
            is_open = False
            changes.append(ScrapChange(False, ev, _window_rate(window), peak))
            peak = None
        elif is_open:
            peak = rate if peak is None else max(peak, rate)
    return changes, peak


def may_open(units: Sequence[tuple[str, int]], thresholds: Thresholds) -> bool:
    """Whether some rolling window over ``units`` (``(kind, qty)`` of a machine's events in time
    order: the history :func:`scrap_changes` gets, then the new events) can reach ``scrap_rate``.
    False is exact, so the ingest may skip the per-event window when no exception is open.

    A window holds fewer than ``scrap_window_units`` units once its oldest event is dropped, so at
    most ``size = scrap_window_units + max qty - 1``. Cut ``units`` into consecutive blocks of at
    least ``size`` units (the last may be short): a run of at most ``size`` units cannot hold a whole
    block and a unit on each side, so every window lies within two neighbouring blocks, and its
    scrap is at most theirs. A full window has at least ``scrap_window_units`` units, and the rate
    only grows with the scrap and falls with the units (``divide`` rounds monotonically)."""
    if not units:
        return False
    window = thresholds.scrap_window_units
    size = window + max(q for _, q in units) - 1
    blocks: list[int] = []
    in_block = scrap = 0
    for kind, qty in units:
        in_block += qty
        if kind == "scrap":
            scrap += qty
        if in_block >= size:
            blocks.append(scrap)
            in_block = scrap = 0
    if in_block:
        blocks.append(scrap)
    most = max(a + b for a, b in pairwise(blocks)) if len(blocks) > 1 else blocks[0]
    return divide(Decimal(most), Decimal(window)) >= thresholds.scrap_rate


def _window_rate(window: RollingScrap) -> WindowRate:
    rate = window.rate()
    assert rate is not None  # called only when the window is full
    return rate


# --- long unplanned stops --------------------------------------------------------------------


@dataclass(frozen=True)
class StateMark:
    key: int
    ts: datetime
    state: str
    reason: str | None = None

    @property
    def same_as(self) -> tuple[str, str | None]:
        return self.state, self.reason


@dataclass(frozen=True)
class Stop:
    """A non-running state from ``start`` until ``end`` (the first event with another state or reason)."""

    start: StateMark
    end: StateMark

    @property
    def duration(self) -> timedelta:
        return self.end.ts - self.start.ts

    @property
    def minutes(self) -> Decimal:
        return Decimal(self.duration // timedelta(microseconds=1)) / Decimal(60_000_000)


def ended_stops(marks: Sequence[StateMark], new_keys: set[int]) -> list[Stop]:
    """Stops ended by one of the ``new_keys`` events; ``marks`` are one machine's state events in
    time order (with enough history before the new ones to find where their stops began)."""
    out: list[Stop] = []
    for i, mark in enumerate(marks):
        if mark.key not in new_keys or i == 0:
            continue
        prev = marks[i - 1]
        if prev.same_as == mark.same_as or prev.state == "running":
            continue
        j = i - 1
        while j > 0 and marks[j - 1].same_as == prev.same_as:
            j -= 1
        out.append(Stop(marks[j], mark))
    return out


def stop_category(stop: Stop, reasons: Mapping[str, DowntimeReason]) -> tuple[DowntimeCategory, bool]:
    """The stop's downtime category and whether it is planned."""
    known = reasons.get(stop.start.reason or "")
    planned = stop.start.state == "planned_stop" or (known is not None and known.planned)
    if known is not None:
        return known.category, planned
    return (DowntimeCategory.EQUIPMENT if stop.start.state == "down" else DowntimeCategory.OTHER), planned


def needs_maintenance(stop: Stop, reasons: Mapping[str, DowntimeReason], thresholds: Thresholds) -> bool:
    category, planned = stop_category(stop, reasons)
    return (not planned and category in thresholds.downtime_categories
            and stop.duration > thresholds.downtime_limit)
