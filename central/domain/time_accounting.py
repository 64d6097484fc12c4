"""Run and stop intervals from machine state events and dispatches (ACCOUNTING.md, "Time").

A machine's state holds from one state event to the next. A stop is *planned* when the state is
``planned_stop`` or its reason is marked planned; every other non-running state is *downtime*
with its reason and category. Intervals are split at dispatch boundaries, so each carries the
work order dispatched to the machine at the time (None: running with no order is idle until
its events are assigned). Everything attaches by timestamp, so a dispatch made after the fact
re-attributes by recomputing. Durations are summed as exact timedeltas and turned into hours
once, so splitting an interval never changes a total.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from itertools import pairwise

from central.domain.errors import InputError
from central.domain.master_data import DowntimeCategory, DowntimeReason
from central.domain.money import ZERO, divide

_MICROS_PER_HOUR = Decimal(3_600_000_000)


class MachineState(StrEnum):
    RUNNING = "running"
    IDLE = "idle"
    DOWN = "down"
    SETUP = "setup"
    PLANNED_STOP = "planned_stop"


class IntervalKind(StrEnum):
    RUN = "run"
    PLANNED = "planned"
    DOWNTIME = "downtime"


@dataclass(frozen=True)
class StateEvent:
    ts: datetime
    state: MachineState
    reason: str | None = None


@dataclass(frozen=True)
class Dispatch:
    """Order ``work_order`` runs on ``machine`` from ``start`` until ``end`` (None: still open)."""

    work_order: str
    machine: str
    start: datetime
    end: datetime | None = None

    def covers(self, ts: datetime) -> bool:
        return self.start <= ts and (self.end is None or ts < self.end)


@dataclass(frozen=True)
class Interval:
    machine: str
    start: datetime
    end: datetime
    state: MachineState
    kind: IntervalKind
    work_order: str | None = None
    reason: str | None = None
    category: DowntimeCategory | None = None

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


def hours(duration: timedelta) -> Decimal:
    """Exact-as-possible hours of a timedelta (microseconds / 3.6e9 in the domain context)."""
    micros = (duration.days * 86_400 + duration.seconds) * 1_000_000 + duration.microseconds
    return divide(Decimal(micros), _MICROS_PER_HOUR)


def _aware(ts: datetime) -> datetime:
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise InputError(f"timestamps must carry a time zone: {ts.isoformat()}")
    return ts


def order_at(dispatches: Iterable[Dispatch], machine: str, ts: datetime) -> str | None:
    """The order dispatched to ``machine`` at ``ts`` (the latest-started one if several)."""
    covering = [d for d in dispatches if d.machine == machine and d.covers(_aware(ts))]
    return max(covering, key=lambda d: d.start).work_order if covering else None


def classify(
    state: MachineState, reason: str | None, reasons: Mapping[str, DowntimeReason]
) -> tuple[IntervalKind, DowntimeCategory | None]:
    """Run, planned stop or downtime (with the reason's category; ``other`` when unknown)."""
    if state is MachineState.RUNNING:
        return IntervalKind.RUN, None
    known = reasons.get(reason) if reason is not None else None
    if state is MachineState.PLANNED_STOP or (known is not None and known.planned):
        return IntervalKind.PLANNED, known.category if known else None
    return IntervalKind.DOWNTIME, known.category if known else DowntimeCategory.OTHER


def machine_intervals(
    machine: str,
    events: Sequence[StateEvent],
    dispatches: Iterable[Dispatch],
    reasons: Mapping[str, DowntimeReason],
    until: datetime,
) -> tuple[Interval, ...]:
    """Intervals of one machine from its state events; the last state holds until ``until``."""
    ordered = sorted(events, key=lambda e: _aware(e.ts))
    own = [d for d in dispatches if d.machine == machine]
    spans = [(a.ts, b.ts, a) for a, b in pairwise(ordered)]
    if ordered and _aware(until) > ordered[-1].ts:
        spans.append((ordered[-1].ts, until, ordered[-1]))
    result: list[Interval] = []
    for start, end, event in spans:
        kind, category = classify(event.state, event.reason, reasons)
        base = Interval(machine, start, end, event.state, kind, None, event.reason, category)
        result.extend(_split_by_dispatch(base, own))
    return tuple(result)


def _split_by_dispatch(interval: Interval, dispatches: Sequence[Dispatch]) -> list[Interval]:
    if interval.end <= interval.start:
        return []
    cuts = {interval.start, interval.end}
    for d in dispatches:
        cuts.update(t for t in (d.start, d.end) if t is not None and interval.start < t < interval.end)
    points = sorted(cuts)
    return [
        replace(interval, start=a, end=b, work_order=order_at(dispatches, interval.machine, a))
        for a, b in pairwise(points)
    ]


def clip(
    intervals: Iterable[Interval], start: datetime | None, end: datetime | None
) -> tuple[Interval, ...]:
    """The parts of ``intervals`` inside [start, end), e.g. a period's bounds (None: open)."""
    out = []
    for i in intervals:
        lo = i.start if start is None else max(i.start, start)
        hi = i.end if end is None else min(i.end, end)
        if lo < hi:
            out.append(replace(i, start=lo, end=hi))
    return tuple(out)


def run_hours_by_order(
    intervals: Iterable[Interval], start: datetime | None = None, end: datetime | None = None
) -> dict[str, Decimal]:
    """Run hours of each order (machine running while the order was dispatched to it)."""
    totals: dict[str, timedelta] = defaultdict(timedelta)
    for i in clip(intervals, start, end):
        if i.kind is IntervalKind.RUN and i.work_order is not None:
            totals[i.work_order] += i.duration
    return {order: hours(total) for order, total in totals.items()}


def unassigned_run_hours(
    intervals: Iterable[Interval], start: datetime | None = None, end: datetime | None = None
) -> Decimal:
    """Hours running with no order dispatched: idle until the events are assigned."""
    idle = (i for i in clip(intervals, start, end) if i.kind is IntervalKind.RUN and i.work_order is None)
    return hours(sum((i.duration for i in idle), timedelta()))


@dataclass(frozen=True)
class DowntimeHours:
    """Downtime of one machine for one reason (and the order dispatched during it, if any)."""

    machine: str
    reason: str | None
    category: DowntimeCategory
    hours: Decimal
    work_order: str | None = None


DowntimeKey = tuple[str, str | None, DowntimeCategory, str | None]
"""(machine, reason, category, work order) of a downtime total."""


def downtime_totals(
    intervals: Iterable[Interval], start: datetime | None = None, end: datetime | None = None
) -> dict[DowntimeKey, timedelta]:
    """Exact downtime per machine, reason, category and order (what :func:`downtime_hours` turns
    into hours): totals of adjoining windows add up to the total of their union."""
    totals: dict[DowntimeKey, timedelta] = defaultdict(timedelta)
    for i in clip(intervals, start, end):
        if i.kind is IntervalKind.DOWNTIME:
            category = i.category or DowntimeCategory.OTHER
            totals[(i.machine, i.reason, category, i.work_order)] += i.duration
    return dict(totals)


def downtime_of(totals: Mapping[DowntimeKey, timedelta]) -> tuple[DowntimeHours, ...]:
    """:func:`downtime_totals` (e.g. summed over several windows) in hours, in a stable order."""
    return tuple(
        DowntimeHours(machine, reason, category, hours(total), order)
        for (machine, reason, category, order), total in sorted(totals.items(), key=lambda kv: str(kv[0]))
    )


def downtime_hours(
    intervals: Iterable[Interval], start: datetime | None = None, end: datetime | None = None
) -> tuple[DowntimeHours, ...]:
    """Downtime by machine, reason, category and order; planned stops are not downtime."""
    return downtime_of(downtime_totals(intervals, start, end))


@dataclass(frozen=True)
class CentreHours:
    """A work centre's hours in a window, as period close needs them."""

    work_center: str
    run_machine_hours: Decimal
    run_labor_hours: Decimal
    downtime: tuple[DowntimeHours, ...]
    unassigned_run_hours: Decimal


def work_centre_hours(
    intervals: Iterable[Interval],
    work_center_of: Callable[[str], str],
    crew_ratio_of: Callable[[str | None], Decimal],
    start: datetime,
    end: datetime,
) -> dict[str, CentreHours]:
    """Run machine hours, run labour hours (x the order's crew ratio) and downtime per centre.

    ``work_center_of(machine)`` and ``crew_ratio_of(work_order)`` come from master data and
    the orders' routings (``crew_ratio_of(None)`` is the ratio for a machine with no order).
    """
    by_centre: dict[str, list[Interval]] = defaultdict(list)
    for i in clip(intervals, start, end):
        by_centre[work_center_of(i.machine)].append(i)
    result = {}
    for centre, own in by_centre.items():
        per_order = run_hours_by_order(own)
        result[centre] = CentreHours(
            work_center=centre,
            run_machine_hours=sum(per_order.values(), ZERO),
            run_labor_hours=sum((h * crew_ratio_of(o) for o, h in per_order.items()), ZERO),
            downtime=downtime_hours(own),
            unassigned_run_hours=unassigned_run_hours(own),
        )
    return result


@dataclass(frozen=True)
class MachineTime:
    """Time split of one machine in a window (OEE inputs), in hours."""

    window_hours: Decimal
    run_hours: Decimal
    planned_stop_hours: Decimal
    downtime_hours: Decimal

    @property
    def planned_production_hours(self) -> Decimal:
        return self.window_hours - self.planned_stop_hours


def machine_time(intervals: Iterable[Interval], machine: str, start: datetime, end: datetime) -> MachineTime:
    """Observed window, run (with or without an order), planned-stop and downtime hours of a machine.

    ``window_hours`` is the part of [start, end) in which the machine's state is known (from its
    first state event on): time before a machine reported anything is no planned production time,
    so a month-long window over a machine seen for an hour gives that hour, not a near-zero
    availability. With events from ``start`` on it is ``end - start``."""
    totals: dict[IntervalKind, timedelta] = defaultdict(timedelta)
    for i in clip((i for i in intervals if i.machine == machine), start, end):
        totals[i.kind] += i.duration
    return MachineTime(
        window_hours=hours(sum(totals.values(), timedelta())),
        run_hours=hours(totals[IntervalKind.RUN]),
        planned_stop_hours=hours(totals[IntervalKind.PLANNED]),
        downtime_hours=hours(totals[IntervalKind.DOWNTIME]),
    )
