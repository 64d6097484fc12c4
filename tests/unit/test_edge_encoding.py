"""Edge event bytes against the wire contract: a u64 counter past int64 still makes valid events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from edge.config import CounterConfig, MachineConfig
from edge.derivation import Deriver
from edge.encoding import event_body, wire_scalar, with_seq
from protocols.base import Quality, TagReading
from shared.contract import INT64_MAX, INT64_MIN, Event, assemble_batch, decode_batch, encode_event

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
U64_MAX = 2**64 - 1


def reading(value: int, at: float) -> TagReading:
    return TagReading("good", value, None, Quality.GOOD, "e1", T0 + timedelta(seconds=at))


def test_a_u64_counter_near_2_64_derives_events_central_accepts() -> None:
    deriver = Deriver([MachineConfig(id="M1", good=CounterConfig(tag="good", width=64, max_rate_per_s=100))])
    values = [INT64_MAX - 1, INT64_MAX, INT64_MAX + 1, INT64_MAX + 4, U64_MAX - 2, U64_MAX, 3]
    bodies = [d.body for i, v in enumerate(values) for d in deriver.feed([reading(v, 60.0 * i)])
              if d.body is not None]
    assert len(bodies) == len(values)
    decoded = decode_batch(assemble_batch("P1", "e1", "s1", [with_seq(i + 1, b) for i, b in enumerate(bodies)]))
    assert decoded.problems == ()
    assert [e.qty for e in decoded.events] == [0, 1, 1, 3, U64_MAX - 2 - INT64_MAX - 4, 2, 4]
    raws = [(e.raw.value, e.raw.prev) for e in decoded.events]
    assert raws[1] == (INT64_MAX, INT64_MAX - 1)  # within int64: still a JSON integer
    assert raws[2] == (str(INT64_MAX + 1), INT64_MAX)
    assert raws[5] == (str(U64_MAX), str(U64_MAX - 2))
    assert raws[6] == (3, str(U64_MAX))  # the rollover past 2**64 - 1
    for raw, value in zip(raws, values, strict=True):  # the decimal string is the exact count
        assert int(str(raw[0])) == value


@pytest.mark.parametrize("value", [INT64_MIN - 1, INT64_MIN, -1, 0, INT64_MAX, INT64_MAX + 1, U64_MAX, 2**80])
def test_raw_integers_are_bounded_only_by_their_encoding(value: int) -> None:
    body = event_body(machine="M1", kind="count", ts=T0, rx=T0, tag="good", value=value, prev=value, qty=1)
    event = Event.model_validate_json(with_seq(7, body))
    inside = INT64_MIN <= value <= INT64_MAX
    assert event.raw.value == (value if inside else str(value)) == event.raw.prev
    assert with_seq(7, body) == encode_event(event)  # the same bytes as the contract's encoder


@pytest.mark.parametrize("value", [True, False, None, 1.5, "run", 2**63 - 1])
def test_other_scalars_pass_unchanged(value: Any) -> None:
    assert wire_scalar(value) is value
    body = orjson.loads(event_body(machine="M1", kind="state", ts=T0, rx=T0, tag="s", value=value, prev=None,
                                   state="running"))
    assert body["raw"] == {"tag": "s", "value": value, "prev": None}
