"""Rules of operational records past a threshold (central.domain.thresholds): the rolling scrap
window, its batching independence, stops and their qualification, threshold resolution."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from central.domain.errors import InputError
from central.domain.master_data import DowntimeCategory, DowntimeReason
from central.domain.thresholds import (
    RollingScrap,
    StateMark,
    Thresholds,
    UnitEvent,
    ended_stops,
    may_open,
    needs_maintenance,
    resolve_thresholds,
    scrap_changes,
    threshold_errors,
)

T0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)


def ev(n: int, kind: str, qty: int = 1) -> UnitEvent:
    return UnitEvent(n, T0 + timedelta(seconds=n), kind, qty, "BURR" if kind == "scrap" else None)


def test_window_fills_then_slides_by_units() -> None:
    w = RollingScrap(4)
    assert w.push(ev(1, "scrap")) is None and w.push(ev(2, "count", 2)) is None
    full = w.push(ev(3, "count"))
    assert full is not None and (full.scrap, full.units, full.rate) == (1, 4, Decimal("0.25"))
    assert full.reasons == {"BURR": 1}
    slid = w.push(ev(4, "count", 3))  # the scrap drops out: 1 + 3 = 4 units remain
    assert slid is not None and (slid.scrap, slid.units, dict(slid.reasons)) == (0, 4, {})


def _replay(events: list[UnitEvent], cuts: list[int], t: Thresholds) -> list[tuple[bool, int]]:
    """Deliver ``events`` in batches cut at ``cuts``; history = everything before the batch."""
    out: list[tuple[bool, int]] = []
    is_open = False
    bounds = [0, *sorted(set(c for c in cuts if 0 < c < len(events))), len(events)]
    for lo, hi in pairwise(bounds):
        history = events[max(0, lo - t.scrap_window_units):lo]
        changes, _peak = scrap_changes(history, events[lo:hi], t, is_open)
        for c in changes:
            out.append((c.opened, c.event.key))
            is_open = c.opened
    return out


@settings(max_examples=150, deadline=None)
@given(
    kinds=st.lists(st.tuples(st.sampled_from(["count", "scrap"]), st.integers(1, 3)), min_size=1, max_size=120),
    cuts=st.lists(st.integers(0, 120), max_size=10),
    window=st.integers(1, 30),
)
def test_openings_and_clearings_do_not_depend_on_batching(
    kinds: list[tuple[str, int]], cuts: list[int], window: int
) -> None:
    t = Thresholds(scrap_rate=Decimal("0.2"), scrap_window_units=window)
    events = [ev(n + 1, kind, qty) for n, (kind, qty) in enumerate(kinds)]
    whole = _replay(events, [], t)
    assert _replay(events, cuts, t) == whole
    assert _replay(events, list(range(len(events))), t) == whole  # one at a time
    # openings and clearings alternate, starting with an opening
    assert [opened for opened, _ in whole] == [n % 2 == 0 for n in range(len(whole))]


def test_hysteresis_makes_one_exception_of_a_wobbling_rate() -> None:
    t = Thresholds(scrap_rate=Decimal("0.2"), scrap_window_units=10)
    pattern = "gggggggg" + "ss" + "gs" * 20  # 2 in 10 at the burst, then hovering around 0.2 to 0.3
    events = [ev(n + 1, "scrap" if c == "s" else "count") for n, c in enumerate(pattern)]
    changes, peak = scrap_changes([], events, t, False)
    assert [(c.opened, c.event.key) for c in changes] == [(True, 10)]
    assert peak == Decimal("0.6")  # events 9..18: s s g s g s g s g s


def marks(*spec: tuple[int, str, str | None]) -> list[StateMark]:
    return [StateMark(n, T0 + timedelta(minutes=m), state, reason) for n, (m, state, reason) in enumerate(spec, 1)]


REASONS = {"EQ_FAIL": DowntimeReason("EQ_FAIL", DowntimeCategory.EQUIPMENT),
           "BREAK": DowntimeReason("BREAK", DowntimeCategory.OTHER, planned=True),
           "MATERIAL": DowntimeReason("MATERIAL", DowntimeCategory.MATERIAL)}


def test_stops_merge_repeated_states_and_are_measured_when_they_end() -> None:
    m = marks((0, "running", None), (10, "down", "EQ_FAIL"), (30, "down", "EQ_FAIL"), (50, "down", None),
              (90, "running", None), (100, "planned_stop", None), (200, "running", None))
    stops = ended_stops(m, {s.key for s in m})
    got = [(s.start.key, s.end.key, s.minutes) for s in stops]
    assert got == [(2, 4, Decimal(40)), (4, 5, Decimal(40)), (6, 7, Decimal(100))]
    t = Thresholds()
    # EQ_FAIL 40 min: yes; `down` with no reason counts as equipment: yes; planned_stop: never
    assert [needs_maintenance(s, REASONS, t) for s in stops] == [True, True, False]
    assert ended_stops(m, {3}) == []  # a repeated state ends nothing


def test_planned_reasons_other_categories_and_the_limit() -> None:
    t = Thresholds(downtime_minutes=Decimal(30))
    for state, reason, minutes, expected in [
        ("down", "BREAK", 120, False), ("idle", "MATERIAL", 120, False), ("idle", None, 120, False),
        ("down", "EQ_FAIL", 30, False), ("down", "EQ_FAIL", 31, True), ("setup", "EQ_FAIL", 31, True),
    ]:
        (stop,) = ended_stops(marks((0, state, reason), (minutes, "running", None)), {2})
        assert needs_maintenance(stop, REASONS, t) is expected, (state, reason, minutes)
    material = resolve_thresholds({"downtime_categories": ["material"]})
    (stop,) = ended_stops(marks((0, "idle", "MATERIAL"), (31, "running", None)), {2})
    assert needs_maintenance(stop, REASONS, material)


def test_resolution_layers_and_errors() -> None:
    t = resolve_thresholds({"scrap_rate": "0.3", "downtime_minutes": "45"},
                           {"scrap_rate": "0.2", "scrap_clear_rate": None})
    assert (t.scrap_rate, t.clear_rate, t.scrap_window_units, t.downtime_minutes) == (
        Decimal("0.2"), Decimal("0.1"), 100, Decimal(45))
    with pytest.raises(InputError):
        resolve_thresholds({"scrap_rate": "0.1"}, {"scrap_clear_rate": "0.2"})
    with pytest.raises(InputError):
        resolve_thresholds({"colour": "red"})
    records: dict[str, list[dict[str, Any]]] = {"work_centers": [{"id": "WC", "thresholds": {"scrap_rate": "0.1"}}],
               "machines": [{"id": "M1", "work_center": "WC", "thresholds": {"scrap_clear_rate": "0.2"}},
                            {"id": "M2", "work_center": "WC"}]}
    assert [e.key_path for e in threshold_errors(records)] == ["machines[0].thresholds"]


def _peaks(events: list[UnitEvent], cuts: list[int], t: Thresholds) -> list[Decimal]:
    """Each exception's stored peak rate when ``events`` arrive in batches cut at ``cuts`` (the
    service's rule: the opening rate, raised by a batch's peak while open or its clearing's peak)."""
    peaks: list[Decimal] = []
    is_open = False
    bounds = [0, *sorted(set(c for c in cuts if 0 < c < len(events))), len(events)]
    for lo, hi in pairwise(bounds):
        changes, peak = scrap_changes(events[max(0, lo - t.scrap_window_units):lo], events[lo:hi], t, is_open)
        for c in changes:
            if c.opened:
                peaks.append(c.window.rate)
            elif c.peak is not None:
                peaks[-1] = max(peaks[-1], c.peak)
            is_open = c.opened
        if is_open and peak is not None:
            peaks[-1] = max(peaks[-1], peak)
    return peaks


@settings(max_examples=150, deadline=None)
@given(
    kinds=st.lists(st.tuples(st.sampled_from(["count", "scrap"]), st.integers(1, 3)), min_size=1, max_size=120),
    cuts=st.lists(st.integers(0, 120), max_size=10),
    window=st.integers(1, 30),
)
def test_peak_rates_do_not_depend_on_batching(kinds: list[tuple[str, int]], cuts: list[int], window: int) -> None:
    t = Thresholds(scrap_rate=Decimal("0.2"), scrap_window_units=window)
    events = [ev(n + 1, kind, qty) for n, (kind, qty) in enumerate(kinds)]
    one_at_a_time = _peaks(events, list(range(len(events))), t)
    assert _peaks(events, [], t) == one_at_a_time
    assert _peaks(events, cuts, t) == one_at_a_time


def test_an_exception_opened_and_cleared_in_one_batch_keeps_its_peak() -> None:
    t = Thresholds(scrap_rate=Decimal("0.2"), scrap_window_units=5)
    kinds = ["count"] * 5 + ["scrap"] * 3 + ["count"] * 5
    changes, peak = scrap_changes([], [ev(n + 1, k) for n, k in enumerate(kinds)], t, False)
    assert [c.opened for c in changes] == [True, False] and peak is None
    assert changes[0].window.rate == Decimal("0.2") and changes[1].peak == Decimal("0.6")


@settings(max_examples=300, deadline=None)
@given(
    kinds=st.lists(st.tuples(st.sampled_from(["count", "count", "count", "scrap"]), st.integers(1, 3)), min_size=1,
                   max_size=80),
    split=st.integers(0, 80),
    window=st.integers(1, 30),
    rate=st.sampled_from(["0.05", "0.1", "0.2", "0.3333", "0.6", "1"]),
)
# the scrap straddles two blocks of the bound: neither block alone reaches the rate, the window does
@example(kinds=[("count", 1)] * 5 + [("scrap", 1)] * 10 + [("count", 1)] * 5, split=0, window=10, rate="0.6")
def test_may_open_false_means_no_window_reaches_the_rate(
    kinds: list[tuple[str, int]], split: int, window: int, rate: str
) -> None:
    """The ingest skips the per-event window when ``may_open`` says no (and no exception is open):
    then ``scrap_changes`` must find nothing; and the bound is tight when every unit is scrap."""
    t = Thresholds(scrap_rate=Decimal(rate), scrap_window_units=window)
    events = [ev(n + 1, kind, qty) for n, (kind, qty) in enumerate(kinds)]
    history, new = events[:split], events[split:]
    units = [(e.kind, e.qty) for e in events]
    changes, peak = scrap_changes(history, new, t, False)
    if not may_open(units, t):
        assert changes == [] and peak is None
    if new and all(e.kind == "scrap" for e in events) and sum(e.qty for e in events) >= window:
        assert may_open(units, t) and changes  # every window full of scrap opens


def test_may_open_is_tight_enough_for_a_low_scrap_rate() -> None:
    """4 % scrap, evenly spread, against a 10 % rate over 100 units: no window can open, and the
    bound says so (the ingest then skips the per-event window); at 6 % it cannot tell."""
    t = Thresholds(scrap_rate=Decimal("0.10"), scrap_window_units=100)
    assert not may_open([("scrap" if n % 25 == 0 else "count", 1) for n in range(1, 600)], t)
    assert may_open([("scrap" if n % 16 == 0 else "count", 1) for n in range(1, 600)], t)
    assert not may_open([], t)
