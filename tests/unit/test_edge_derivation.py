"""Counter, scrap and state derivation (pure): deltas, reset vs rollover vs suspect, debounce."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from edge.config import CounterConfig, MachineConfig, ScrapConfig, StateConfig
from edge.derivation import Delta, Deriver, Mark, counter_delta, counter_value
from edge.encoding import with_seq
from protocols.base import Quality, TagReading
from shared.contract import Event

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def reading(tag: str, value: Any, at: float = 0.0, epoch: str = "e1", quality: Quality = Quality.GOOD,
            source_ts: datetime | None = None) -> TagReading:
    return TagReading(tag, value, source_ts, quality, epoch, T0 + timedelta(seconds=at))


def events(out: list[Any]) -> list[dict[str, Any]]:
    docs = []
    for d in out:
        if d.body is not None:
            ev = Event.model_validate_json(with_seq(1, d.body))  # valid on the wire
            docs.append(orjson.loads(d.body) | {"_model": ev})
    return docs


# ---------------------------------------------------------------- counter_delta


def test_counter_delta_table() -> None:
    m = Mark(100, "e1")
    assert counter_delta(None, 42, "e1", 65535, 1000) == Delta(0, ("baseline",))
    assert counter_delta(m, 100, "e1", 65535, 1000) is None
    assert counter_delta(m, 105, "e1", 65535, 1000) == Delta(5)
    assert counter_delta(m, 1101, "e1", 65535, 1000) == Delta(1001, ("suspect",))
    fast = {"max_rate_per_s": 10.0, "elapsed_s": 1.0}  # up to 11 units possible since the last reading
    assert counter_delta(Mark(65530, "e1"), 4, "e1", 65535, 1000, **fast) == Delta(10, ("rollover",))
    # a PLC restart (new epoch) is a reset: count what the new value shows, never add 65535
    assert counter_delta(Mark(65530, "e1"), 4, "e2", 65535, 1000) == Delta(4, ("reset",))
    assert counter_delta(Mark(60000, "e1"), 5000, "e2", 65535, 1000) == Delta(5000, ("reset", "suspect"))
    # a drop in the same epoch too far for a wrap and too high for a reset: suspect, with what a reset would count
    assert counter_delta(Mark(30000, "e1"), 12, "e1", 65535, 1000, **fast) == Delta(12, ("suspect",))
    # ... low enough for a reset at that rate: a reset, counting the new value
    assert counter_delta(Mark(30000, "e1"), 10, "e1", 65535, 1000, **fast) == Delta(10, ("reset",))
    # the time since the last reading unknown: a drop cannot be judged
    assert counter_delta(Mark(65530, "e1"), 4, "e1", 65535, 1000) == Delta(4, ("suspect",))


@given(
    width=st.sampled_from([16, 32]),
    sanity=st.integers(1, 5000),
    prev=st.integers(0, 2**16 - 1),
    step=st.integers(1, 5000),
)
def test_rollover_reconstructs_the_true_increment(width: int, sanity: int, prev: int, step: int) -> None:
    """Any true increment within sanity is counted exactly, whether or not the counter wrapped."""
    max_value = (1 << width) - 1
    value = (prev + step) % (max_value + 1)
    # the counter made `step` units in 2 s, within its rate
    delta = counter_delta(Mark(prev, "e"), value, "e", max_value, sanity, max_rate_per_s=step / 2, elapsed_s=2.0)
    assert delta is not None
    if step <= sanity:
        assert delta.qty == step
        assert delta.flags == (("rollover",) if value < prev else ())
    elif value < prev and value <= sanity:
        # a wrap larger than sanity is not believed; a drop to a value that fits sanity (and the
        # rate since the last reading: value < step here) is a flagged reset counting that value
        assert delta == Delta(value, ("reset",))
    else:
        assert "suspect" in delta.flags  # never a silent number


@given(prev=st.integers(1, 65535), value=st.integers(0, 65535), sanity=st.integers(1, 65535))
def test_a_new_epoch_drop_is_a_reset_counting_the_new_value(prev: int, value: int, sanity: int) -> None:
    if value >= prev:
        return
    delta = counter_delta(Mark(prev, "old"), value, "new", 65535, sanity)
    assert delta is not None and delta.qty == value and delta.flags[0] == "reset"
    assert ("suspect" in delta.flags) == (value > sanity)


def test_counter_value_rejects_nonsense() -> None:
    assert counter_value(7.0, 100) == 7
    assert isinstance(counter_value(float("nan"), 100), str)
    assert isinstance(counter_value(1.5, 100), str)
    assert isinstance(counter_value(-1, 100), str)
    assert isinstance(counter_value(101, 100), str)
    assert isinstance(counter_value(True, 100), str)


# ---------------------------------------------------------------- Deriver


def machine(**kw: Any) -> MachineConfig:
    return MachineConfig(id="M1", **kw)


def test_counts_with_raw_values_and_persisted_marks() -> None:
    d = Deriver([machine(good=CounterConfig(tag="good", width=16))])
    first = events(d.feed([reading("good", 10)]))
    assert first[0]["flags"] == ["baseline"] and first[0]["qty"] == 0
    out = d.feed([reading("good", 13, 1, source_ts=T0 + timedelta(seconds=0.5))])
    ev = events(out)[0]
    assert ev["qty"] == 3 and ev["raw"] == {"tag": "good", "value": 13, "prev": 10}
    assert ev["ts"] == "2026-11-25T08:00:00.500Z" and ev["rx"] == "2026-11-25T08:00:01.000Z"
    assert out[0].mark == Mark(13, "e1") and out[0].key == "good"
    # a restarted agent continues from the persisted mark: nothing counted twice
    d2 = Deriver([machine(good=CounterConfig(tag="good", width=16))], d.marks)
    assert d2.feed([reading("good", 13, 2)]) == []
    assert events(d2.feed([reading("good", 15, 3)]))[0]["qty"] == 2


def test_bad_quality_and_bad_values_are_problems_not_events() -> None:
    d = Deriver([machine(good=CounterConfig(tag="good", width=16))])
    d.feed([reading("good", 10)])
    assert d.feed([reading("good", None, 1, quality=Quality.BAD)]) == []
    assert "good" in d.problems
    assert d.feed([reading("good", float("nan"), 2)]) == []
    assert "not an integral number" in d.problems["good"]
    assert events(d.feed([reading("good", 12, 3)]))[0]["qty"] == 2  # the units are carried, not lost
    assert "good" not in d.problems


def test_scrap_with_reason_tag_even_when_the_reason_arrives_after_the_counter() -> None:
    cfg = ScrapConfig(tag="scrap", width=16, reason_tag="why", reason_map={"1": "BURR"})
    d = Deriver([machine(scrap=[cfg])])
    assert events(d.feed([reading("scrap", 0)]))[0]["flags"] == ["baseline"]
    d2 = Deriver([machine(scrap=[cfg])], d.marks)  # a fresh agent: counter read before its reason
    assert d2.feed([reading("scrap", 4, 1)]) == []
    ev = events(d2.feed([reading("why", 1, 1)]))[0]
    assert ev["kind"] == "scrap" and ev["qty"] == 4 and ev["reason"] == "BURR"
    d2.feed([reading("why", 9, 2)])
    assert events(d2.feed([reading("scrap", 5, 2)]))[0]["reason"] == "UNMAPPED_9"


def test_state_codes_reasons_and_unknown_codes() -> None:
    cfg = StateConfig(tag="st", reason_tag="rs", reasons={"7": "EQ_FAIL"})
    d = Deriver([machine(state=cfg)])
    assert events(d.feed([reading("st", 1)]))[0]["state"] == "running"
    d.feed([reading("rs", 7, 1)])  # a reason while running changes nothing
    down = events(d.feed([reading("st", 3, 2)]))[0]
    assert down["state"] == "down" and down["reason"] == "EQ_FAIL" and down["raw"]["prev"] == 1
    assert d.feed([reading("st", 99, 3)]) == []  # an unknown state code invents nothing
    assert "unmapped state code" in d.problems["st"]
    assert d.feed([reading("st", 3, 4)]) == []  # same pair as emitted: no event
    assert "st" not in d.problems


def test_state_debounce_suppresses_flicker_and_emits_after_stability() -> None:
    d = Deriver([machine(state=StateConfig(tag="st", debounce_ms=1000))])
    assert d.feed([reading("st", 1, 0)]) == []
    assert events(d.tick(T0 + timedelta(seconds=1)))[0]["state"] == "running"
    d.feed([reading("st", 2, 2)])  # idle for 0.3 s, then running again: a flicker
    d.feed([reading("st", 1, 2.3)])
    assert d.tick(T0 + timedelta(seconds=10)) == []
    d.feed([reading("st", 3, 11)])
    assert d.tick(T0 + timedelta(seconds=11.5)) == []
    ev = events(d.tick(T0 + timedelta(seconds=12)))[0]
    assert ev["state"] == "down" and ev["ts"] == "2026-11-25T08:00:11.000Z"  # when it happened


def test_mixed_counter_history_sums_to_true_units() -> None:
    """A sequence with a rollover and a PLC restart counts exactly the units the PLC made."""
    d = Deriver([machine(good=CounterConfig(tag="good", max=999, sanity=100, max_rate_per_s=10))])
    total = 0
    for i, (value, epoch) in enumerate([(990, "a"), (995, "a"), (5, "a"), (50, "a"), (3, "b"), (20, "b")]):
        for ev in events(d.feed([reading("good", value, i, epoch=epoch)])):
            total += ev["qty"]
    assert total == 5 + 10 + 45 + 3 + 17
