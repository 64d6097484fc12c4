"""The one alert merge rule (central.domain.alerts) on a fixed clock: a repeated fault is one
alert whose count, last sighting, message and detail follow the occurrences."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from central.domain.alerts import KEY_MAX, AlertOccurrence, AlertState

T0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)


def occ(at: datetime, message: str = "m", **detail: object) -> AlertOccurrence:
    return AlertOccurrence("negative_inventory", "negative_inventory:S", message, at, detail=detail)


def test_the_first_occurrence_opens_an_alert_stamped_by_the_callers_clock() -> None:
    state = AlertState.opened(occ(T0, "below zero", item="S", on_hand="-5"))
    assert (state.count, state.created, state.last_seen) == (1, T0, T0)
    assert state.message == "below zero" and state.detail == {"item": "S", "on_hand": "-5"}
    assert state.severity == "warning" and state.kind == "negative_inventory"


def test_a_repeat_counts_takes_the_latest_message_and_lays_its_detail_over() -> None:
    first = AlertState.opened(occ(T0, "after issue", item="S", on_hand="-5", record=7))
    later = first.merged(occ(T0 + timedelta(minutes=3), "after backflush", item="S", on_hand="-9"))
    assert later.count == 2 and later.created == T0 and later.last_seen == T0 + timedelta(minutes=3)
    assert later.message == "after backflush"
    assert later.detail == {"item": "S", "on_hand": "-9", "record": 7}  # identifying keys of the first stay
    assert first.count == 1 and first.detail["on_hand"] == "-5"  # a value: the open state is not changed


def test_a_repeat_without_detail_keeps_the_detail_and_the_first_kind_and_severity() -> None:
    first = AlertState.opened(AlertOccurrence("gap", "gap:s1", "m", T0, "critical", {"gap_id": 1}))
    later = first.merged(AlertOccurrence("other", "gap:s1", "m2", T0 + timedelta(seconds=1)))
    assert later.detail == {"gap_id": 1} and later.kind == "gap" and later.severity == "critical"


def test_a_long_key_is_cut_to_the_column_width_so_it_merges_with_itself() -> None:
    long_key = "quarantine:" + "x" * 400
    state = AlertState.opened(AlertOccurrence("quarantine", long_key, "m", T0))
    assert state.key == long_key[:KEY_MAX] == AlertOccurrence("quarantine", long_key, "m", T0).stored_key


@given(st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=30))
def test_n_occurrences_make_one_alert_counted_n_times(offsets: list[int]) -> None:
    times = [T0 + timedelta(seconds=s) for s in offsets]
    state = AlertState.opened(occ(times[0], "0", n=0))
    for n, at in enumerate(times[1:], start=1):
        state = state.merged(occ(at, str(n), n=n))
    assert state.count == len(times) and state.created == times[0] and state.last_seen == times[-1]
    assert state.message == str(len(times) - 1) and state.detail == {"n": len(times) - 1}
