"""Wire contract v1: round trips, two-level validation, and no exception but ContractError."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.contract import (
    MAX_BATCH_BYTES,
    MAX_BATCH_EVENTS,
    Ack,
    Batch,
    ContractError,
    Event,
    RawValue,
    Status,
    assemble_batch,
    decode_ack,
    decode_batch,
    decode_status,
    encode_ack,
    encode_batch,
    encode_event,
    encode_status,
    format_ts,
)
from shared.schema import SCHEMA_PATH, render
from shared.topics import ack_topic, events_topic, parse_topic, status_topic

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def make_event(seq: int, **over: object) -> Event:
    base: dict[str, object] = {
        "seq": seq,
        "machine": "PRESS-2",
        "kind": "count",
        "ts": T0 + timedelta(seconds=seq),
        "rx": T0 + timedelta(seconds=seq, milliseconds=5),
        "qty": 1,
        "raw": RawValue(tag="press2_good", value=seq, prev=seq - 1),
    }
    base.update(over)
    return Event.model_validate(base)


def batch_payload(events: list[dict[str, object]], **header: object) -> bytes:
    doc: dict[str, object] = {"schema": "sfsync.batch/1", "plant": "P1", "edge": "edge-1", "stream": "s1"}
    doc.update(header)
    doc["events"] = events
    return orjson.dumps(doc)


def event_dicts(n: int, start: int = 1) -> list[dict[str, object]]:
    return [orjson.loads(encode_event(make_event(i))) for i in range(start, start + n)]


def test_valid_batch_round_trips() -> None:
    batch = Batch(plant="P1", edge="edge-1", stream="s1", events=[make_event(i) for i in range(1, 6)])
    decoded = decode_batch(encode_batch(batch))
    assert decoded.problems == ()
    assert (decoded.plant, decoded.edge, decoded.stream) == ("P1", "edge-1", "s1")
    assert list(decoded.events) == list(batch.events)


def test_all_event_kinds_and_flags_round_trip() -> None:
    events = [
        make_event(1, qty=0, flags=("baseline",)),
        make_event(2, kind="scrap", qty=2, reason="BURR", flags=("rollover",)),
        make_event(3, kind="state", qty=None, state="down", reason="EQ_FAIL"),
        make_event(4, qty=70000, flags=("suspect",), raw=RawValue(tag="t", value=3, prev=65000)),
    ]
    payload = assemble_batch("P1", "edge-1", "s1", [encode_event(e) for e in events])
    assert list(decode_batch(payload).events) == events


def test_timestamps_are_utc_with_milliseconds() -> None:
    assert format_ts(datetime(2026, 1, 2, 3, 4, 5, 678900, tzinfo=UTC)) == "2026-01-02T03:04:05.678Z"
    doc = orjson.loads(encode_event(make_event(1)))
    assert doc["ts"] == "2026-11-25T08:00:01.000Z"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"schema": "sfsync.batch/1", "plant": "P1"', "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (batch_payload(event_dicts(1), schema="sfsync.batch/2"), "schema must be"),
        (batch_payload(event_dicts(1), plant=7), "plant missing"),
        (batch_payload(event_dicts(1), stream="a/b"), "stream missing"),
        (batch_payload([]), "non-empty list"),
        (batch_payload(event_dicts(2)[::-1]), "not strictly increasing"),
        (batch_payload(event_dicts(1) + event_dicts(1)), "not strictly increasing"),
        (batch_payload([{"machine": "M"}]), "events[0].seq missing"),
        (batch_payload([{"seq": 0}]), "events[0].seq missing"),
        (batch_payload([{"seq": "1"}]), "events[0].seq missing"),
        (batch_payload([{"seq": True}]), "events[0].seq missing"),
        (batch_payload(event_dicts(MAX_BATCH_EVENTS + 1)), "limit is 1000"),
        (batch_payload(event_dicts(1), extra=1), "unknown batch field"),
    ],
)
def test_unreadable_header_is_refused_whole(payload: bytes, reason: str) -> None:
    with pytest.raises(ContractError, match=reason.replace("[", r"\[").replace("]", r"\]")):
        decode_batch(payload)


def test_oversized_payload_is_refused() -> None:
    big = batch_payload([{"seq": 1, "pad": "x" * MAX_BATCH_BYTES}])
    with pytest.raises(ContractError, match="limit is 1048576"):
        decode_batch(big)
    with pytest.raises(ContractError, match="limit is 1048576"):
        assemble_batch("P1", "e", "s", [b'{"x":"' + b"y" * MAX_BATCH_BYTES + b'"}'])


def test_bad_events_are_reported_one_by_one_and_the_rest_kept() -> None:
    events = event_dicts(5)
    events[1]["qty"] = 1.5  # wrong type
    events[2]["kind"] = "explosion"  # unknown kind
    del events[3]["ts"]  # missing field
    decoded = decode_batch(batch_payload(events))
    assert [e.seq for e in decoded.events] == [1, 5]
    assert [(p.seq, p.field) for p in decoded.problems] == [(2, "qty"), (3, "kind"), (4, "ts")]
    assert decoded.seqs == [1, 2, 3, 4, 5]
    assert decoded.problems[0].raw["qty"] == 1.5


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"ts": "2026-11-25T08:00:00"}, "ts"),  # no zone
        ({"ts": "yesterday"}, "ts"),
        ({"qty": None}, ""),  # count without qty
        ({"state": "running"}, ""),  # count with a state
        ({"kind": "state", "qty": None, "state": "exploded"}, "state"),
        ({"qty": -1}, "qty"),
        ({"machine": "bad machine"}, "machine"),
        ({"flags": ["weird"]}, "flags"),
        ({"raw": {"tag": "t", "value": 1}, "extra": 1}, "extra"),
    ],
)
def test_event_level_problems_name_the_field(change: dict[str, object], field: str) -> None:
    ev = event_dicts(1)[0]
    ev.update(change)
    decoded = decode_batch(batch_payload([ev]))
    assert decoded.events == ()
    (problem,) = decoded.problems
    assert problem.field.startswith(field) or field == ""
    assert problem.reason


def test_ack_and_status_round_trip_and_refuse_garbage() -> None:
    ack = Ack(stream="s1", acked_through=42)
    assert decode_ack(encode_ack(ack)) == ack
    status = Status(state="online", edge="edge-1", version="0.1.0", stream="s1", backlog=3, ts=T0)
    assert decode_status(encode_status(status)) == status
    for bad in (b"", b"{}", b'{"stream": "s1", "acked_through": -1}', b"\xff"):
        with pytest.raises(ContractError):
            decode_ack(bad)


def test_topics_build_and_parse() -> None:
    assert events_topic("P1", "edge-1") == "sfsync/v1/P1/edge-1/events"
    assert parse_topic(ack_topic("P1", "edge-1")) == ("P1", "edge-1", "ack")
    assert parse_topic(status_topic("P1", "e")) == ("P1", "e", "status")
    for bad in ("sfsync/v1/P1/events", "sfsync/v2/P1/e/events", "sfsync/v1/P 1/e/events"):
        with pytest.raises(ContractError):
            parse_topic(bad)
    with pytest.raises(ContractError):
        events_topic("P1", "edge/1")


def test_checked_in_json_schema_matches_models() -> None:
    assert SCHEMA_PATH.read_text() == render(), "run: python -m shared.schema"
    schema = json.loads(SCHEMA_PATH.read_text())
    assert schema["$defs"]["Batch"]["properties"]["events"]["maxItems"] == MAX_BATCH_EVENTS


# -- property tests ---------------------------------------------------------------------

ids = st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.text(max_size=20))
instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))


@st.composite
def events_st(draw: st.DrawFn, seq: int) -> Event:
    kind = draw(st.sampled_from(["count", "scrap", "state"]))
    flags = draw(st.lists(st.sampled_from(["baseline", "rollover", "reset", "suspect"]), unique=True))
    return Event(
        seq=seq,
        machine=draw(st.from_regex(r"[A-Za-z0-9_.-]{1,20}", fullmatch=True)),
        kind=kind,
        ts=draw(instants),
        rx=draw(instants),
        qty=None if kind == "state" else draw(st.integers(0, 2**40)),
        state=draw(st.sampled_from(["running", "idle", "down", "setup", "planned_stop"]))
        if kind == "state"
        else None,
        reason=draw(st.none() | st.from_regex(r"[A-Z_]{1,10}", fullmatch=True)),
        flags=tuple(flags),
        raw=RawValue(tag=draw(st.text(min_size=1, max_size=30)), value=draw(scalars), prev=draw(scalars)),
    )


@st.composite
def batches(draw: st.DrawFn) -> Batch:
    seqs = sorted(draw(st.sets(st.integers(1, 10**9), min_size=1, max_size=20)))
    return Batch(
        plant=draw(ids), edge=draw(ids), stream=draw(ids), events=[draw(events_st(s)) for s in seqs]
    )


@settings(max_examples=150, deadline=None)
@given(batches())
def test_property_encode_decode_round_trip(batch: Batch) -> None:
    decoded = decode_batch(encode_batch(batch))
    assert decoded.problems == ()
    assert list(decoded.events) == list(batch.events)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_property_arbitrary_bytes_raise_only_contract_error(data: bytes) -> None:
    with contextlib.suppress(ContractError):
        decode_batch(data)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_property_near_valid_batches_never_raise_other_errors(data: st.DataObject) -> None:
    events = event_dicts(3)
    target = data.draw(st.sampled_from(["header", "event"]))
    doc: dict[str, object] = {"schema": "sfsync.batch/1", "plant": "P1", "edge": "e", "stream": "s"}
    if target == "header":
        doc[data.draw(st.sampled_from(["schema", "plant", "edge", "stream", "events"]))] = data.draw(json_values)
        doc.setdefault("events", events)
    else:
        ev = events[data.draw(st.integers(0, 2))]
        ev[data.draw(st.sampled_from([*sorted(ev), "junk"]))] = data.draw(json_values)
        doc["events"] = events
    try:
        decoded = decode_batch(orjson.dumps(doc))
    except ContractError:
        return
    assert len(decoded.events) + len(decoded.problems) == len(decoded.seqs)
