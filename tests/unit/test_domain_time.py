"""Time accounting: intervals from state events, dispatch splits, planned stops vs downtime."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.domain import at, worked_example_master, worked_example_timeline

from central.domain.errors import InputError
from central.domain.master_data import DowntimeCategory
from central.domain.time_accounting import (
    Dispatch,
    IntervalKind,
    MachineState,
    StateEvent,
    downtime_hours,
    hours,
    machine_intervals,
    machine_time,
    order_at,
    run_hours_by_order,
    unassigned_run_hours,
    work_centre_hours,
)

D = Decimal
REASONS = worked_example_master().downtime_reasons_by_code

TIMELINE = worked_example_timeline()


def test_worked_example_timeline() -> None:
    dispatch = Dispatch("WO-1", "PRESS-2", at(0), at(40))
    intervals = machine_intervals("PRESS-2", list(reversed(TIMELINE)), [dispatch], REASONS, at(40))
    assert run_hours_by_order(intervals) == {"WO-1": D(35)}
    mt = machine_time(intervals, "PRESS-2", at(0), at(40))
    assert (mt.window_hours, mt.run_hours, mt.planned_stop_hours, mt.downtime_hours) == (D(40), D(35), D(1), D(4))
    assert mt.planned_production_hours == D(39)
    rows = {(d.reason, d.category): d.hours for d in downtime_hours(intervals)}
    assert rows == {("EQ_FAIL", DowntimeCategory.EQUIPMENT): D(3), ("MATERIAL", DowntimeCategory.MATERIAL): D(1)}


def test_split_at_dispatch_boundaries_and_idle_running() -> None:
    dispatches = [Dispatch("A", "PRESS-2", at(0), at("12.5")), Dispatch("B", "PRESS-2", at(15))]
    intervals = machine_intervals("PRESS-2", TIMELINE, dispatches, REASONS, at(40))
    runs = run_hours_by_order(intervals)
    assert runs == {"A": D(10), "B": D(23)}  # B: 15-20, 21-30, 31-40
    assert unassigned_run_hours(intervals) == D(2)  # running 13-15 with no order
    downtime = {(d.reason, d.work_order): d.hours for d in downtime_hours(intervals)}
    assert downtime == {("EQ_FAIL", "A"): D("2.5"), ("EQ_FAIL", None): D("0.5"), ("MATERIAL", "B"): D(1)}
    # a window clips intervals
    assert run_hours_by_order(intervals, at(5), at(25)) == {"A": D(5), "B": D(9)}
    assert order_at(dispatches, "PRESS-2", at(12)) == "A" and order_at(dispatches, "PRESS-2", at(14)) is None


def test_reason_marked_planned_is_a_planned_stop_and_unknown_reason_is_other() -> None:
    events = [
        StateEvent(at(0), MachineState.DOWN, "BREAK"),
        StateEvent(at(1), MachineState.SETUP, "WHO_KNOWS"),
        StateEvent(at(2), MachineState.SETUP),
    ]
    intervals = machine_intervals("PRESS-2", events, [], REASONS, at(3))
    assert [i.kind for i in intervals] == [IntervalKind.PLANNED, IntervalKind.DOWNTIME, IntervalKind.DOWNTIME]
    assert {d.category for d in downtime_hours(intervals)} == {DowntimeCategory.OTHER}


def test_naive_timestamps_refused() -> None:
    with pytest.raises(InputError):
        machine_intervals("PRESS-2", [StateEvent(datetime(2026, 11, 2), MachineState.RUNNING)], [], REASONS, at(1))


def test_work_centre_hours_use_the_orders_crew_ratio() -> None:
    dispatches = [Dispatch("A", "PRESS-2", at(0), at(20)), Dispatch("B", "PRESS-2", at(20))]
    intervals = machine_intervals("PRESS-2", TIMELINE, dispatches, REASONS, at(40))
    ratios = {"A": D(2), "B": D("0.5"), None: D(1)}
    centre = work_centre_hours(intervals, lambda m: "WC-PRESS", lambda o: ratios[o], at(0), at(40))["WC-PRESS"]
    assert centre.run_machine_hours == D(35)
    assert centre.run_labor_hours == D(17) * 2 + D(18) * D("0.5")
    assert centre.unassigned_run_hours == 0
    assert sum((d.hours for d in centre.downtime), D(0)) == D(4)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 39), min_size=0, max_size=8, unique=True))
def test_dispatch_splits_never_change_totals(cuts: list[int]) -> None:
    points = sorted(cuts)
    bounds = [0, *points, 40]
    dispatches = [Dispatch(f"WO-{i}", "PRESS-2", at(a), at(b)) for i, (a, b) in enumerate(pairwise(bounds))]
    intervals = machine_intervals("PRESS-2", TIMELINE, dispatches, REASONS, at(40))
    assert sum(run_hours_by_order(intervals).values(), D(0)) == D(35)
    assert sum((d.hours for d in downtime_hours(intervals)), D(0)) == D(4)
    assert hours(sum((i.duration for i in intervals), at(0) - at(0))) == D(40)
