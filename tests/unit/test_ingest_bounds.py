"""Pure parts of central failing closed: wire bounds, reason codes, reasons without driver
text, the qty_over_limit flag, what /health makes of the worker's state, machines.max_event_qty."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError, OperationalError

from central.domain.errors import InputError
from central.domain.master_data import Machine, MasterData, WorkCentre
from central.domain.master_data_validation import validate_master_data
from central.errors import Conflict
from central.service_layer.costing.master_file import parse_master_file
from central.service_layer.health import ingest_view
from central.service_layer.ingest.handler import db_unavailable
from central.service_layer.ingest.posting import posting_reason
from central.service_layer.ingest.store import DEFAULT_MAX_EVENT_QTY, event_values
from shared.contract import (
    INT64_MAX,
    INT64_MIN,
    QUARANTINE_CODES,
    REJECTION_CODES,
    TS_MAX,
    TS_MIN,
    ContractError,
    Event,
    RawValue,
    decode_batch,
    parse_ts,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SKEW = timedelta(minutes=5)


def event_doc(**over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"seq": 1, "machine": "M1", "kind": "count", "ts": "2026-11-25T08:00:00.000Z",
                           "rx": "2026-11-25T08:00:00.000Z", "qty": 1, "flags": [],
                           "raw": {"tag": "good", "value": 1, "prev": 0}}
    doc.update(over)
    return doc


def batch(*events: dict[str, Any]) -> bytes:
    return orjson.dumps({"schema": "sfsync.batch/1", "plant": "P1", "edge": "e1", "stream": "s1",
                         "events": list(events)})


def only_problem(**over: Any) -> tuple[str, str]:
    decoded = decode_batch(batch(event_doc(**over)))
    assert decoded.events == ()
    (problem,) = decoded.problems
    assert problem.code in REJECTION_CODES
    return problem.code, problem.field


# -- timestamps ------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
                                  "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z",
                                  "1999-12-31T23:59:59.999Z", "3000-01-01T00:00:00Z",
                                  "2999-12-31T23:30:00-01:00"])
def test_timestamps_outside_the_wire_range_are_a_value_error_never_an_overflow(text: str) -> None:
    with pytest.raises(ValueError, match="outside 2000-01-01"):
        parse_ts(text)
    assert only_problem(ts=text) == ("ts_out_of_range", "ts")
    assert only_problem(rx=text) == ("ts_out_of_range", "rx")


def test_the_range_edges_and_offsets() -> None:
    assert parse_ts("2000-01-01T00:00:00Z") == TS_MIN
    assert parse_ts("2000-01-01T01:00:00+01:00") == TS_MIN
    assert parse_ts("2999-12-31T23:59:59.999Z") < TS_MAX
    assert parse_ts("3000-01-01T00:59:59+01:00") < TS_MAX


offsets = st.integers(-(23 * 60 + 59), 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))


@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)), offsets)
def test_property_any_iso_instant_parses_in_range_or_is_refused(naive: datetime, tz: timezone) -> None:
    text = naive.replace(tzinfo=tz).isoformat()
    offset = tz.utcoffset(None)
    # the UTC instant, computed without datetime arithmetic (which is what overflows)
    seconds = (naive - datetime(1, 1, 1)).total_seconds() - offset.total_seconds()
    lo, hi = ((b.replace(tzinfo=None) - datetime(1, 1, 1)).total_seconds() for b in (TS_MIN, TS_MAX))
    if lo <= seconds < hi:
        assert parse_ts(text) == naive.replace(tzinfo=tz)
    else:
        with pytest.raises(ValueError):
            parse_ts(text)


# -- integers --------------------------------------------------------------------------------

@given(st.integers(-(2**66), 2**66))
def test_property_qty_is_accepted_exactly_within_0_to_int64(qty: int) -> None:
    # orjson encodes -(2**63) .. 2**64-1; splice anything else into the text by hand
    fits = -(2**63) <= qty < 2**64
    raw = batch(event_doc(qty=qty)) if fits else batch(event_doc()).replace(b'"qty":1', b'"qty":%d' % qty)
    decoded = decode_batch(raw)
    if 0 <= qty <= INT64_MAX:
        assert [e.qty for e in decoded.events] == [qty]
    else:
        assert [(p.code, p.field) for p in decoded.problems] == [("out_of_range", "qty")]


@given(st.integers(-(2**80), 2**80), st.sampled_from(["value", "prev"]))
def test_property_raw_integers_stay_within_int64(value: int, key: str) -> None:
    text = batch(event_doc()).replace(b'"value":1', b'"value":%d' % value if key == "value" else b'"value":1')
    text = text.replace(b'"prev":0', b'"prev":%d' % value if key == "prev" else b'"prev":0')
    decoded = decode_batch(text)
    if INT64_MIN < value <= INT64_MAX:  # -2**63 itself may arrive rounded from below (a float): refused
        if decoded.events:
            assert getattr(decoded.events[0].raw, key) == value
        else:  # only when the JSON number was too large for an int and came back a float
            assert abs(value) >= 2**63 - 1
    else:
        assert [(p.code, p.field) for p in decoded.problems] == [("out_of_range", f"raw.{key}")]


def test_raw_floats_are_finite_and_below_2_63_and_strings_short() -> None:
    assert RawValue(tag="t", value=1.5e18).value == 1.5e18
    for bad in (float("inf"), float("nan"), 2.0**63, -(2.0**63)):
        with pytest.raises(ValidationError):
            RawValue(tag="t", value=bad)
    assert only_problem(raw={"tag": "t", "value": "x" * 257}) == ("too_long", "raw.value")
    assert only_problem(raw={"tag": "t", "value": {"a": 1}}) == ("wrong_type", "raw.value")


@pytest.mark.parametrize(("seq", "code"), [(2**63, "seq_out_of_range"), (2**63 - 1 + 1, "seq_out_of_range"),
                                           (0, "bad_seq"), ("NaN", "bad_seq"), (1.5, "bad_seq")])
def test_seq_beyond_int64_quarantines_the_batch(seq: object, code: str) -> None:
    with pytest.raises(ContractError) as caught:
        decode_batch(batch(event_doc(seq=seq)))
    assert caught.value.code == code and caught.value.code in QUARANTINE_CODES


def test_seq_past_2_64_arrives_as_a_float_and_is_out_of_range_too() -> None:
    with pytest.raises(ContractError) as caught:
        decode_batch(batch(event_doc()).replace(b'"seq":1', b'"seq":%d' % 2**70))
    assert caught.value.code == "seq_out_of_range"
    assert decode_batch(batch(event_doc(seq=INT64_MAX))).events[0].seq == INT64_MAX


# -- reason codes ----------------------------------------------------------------------------

@pytest.mark.parametrize(("over", "expected"), [
    ({"qty": "NaN"}, ("wrong_type", "qty")),
    ({"qty": True}, ("wrong_type", "qty")),
    ({"qty": -1}, ("out_of_range", "qty")),
    ({"ts": "NaN"}, ("bad_timestamp", "ts")),
    ({"ts": "2026-11-25T08:00:00"}, ("bad_timestamp", "ts")),
    ({"ts": 17}, ("bad_timestamp", "ts")),
    ({"machine": "M" * 100_000}, ("invalid_value", "machine")),
    ({"machine": 7}, ("wrong_type", "machine")),
    ({"kind": "boom"}, ("invalid_value", "kind")),
    ({"reason": "R" * 65}, ("too_long", "reason")),
    ({"flags": "suspect"}, ("wrong_type", "flags")),
    ({"flags": ["suspect", "suspect"]}, ("invalid_value", "event")),
    ({"extra": 1}, ("unknown_field", "extra")),
    ({"raw": [1]}, ("wrong_type", "raw")),
])
def test_each_bad_field_has_a_stable_code_and_a_short_sentence(over: dict[str, Any], expected: tuple[str, str]) -> None:
    assert only_problem(**over) == expected
    (problem,) = decode_batch(batch(event_doc(**over))).problems
    assert len(problem.reason) < 200 and "\n" not in problem.reason


def test_a_missing_field_is_missing_field() -> None:
    doc = event_doc()
    del doc["rx"]
    (problem,) = decode_batch(batch(doc)).problems
    assert (problem.code, problem.field) == ("missing_field", "rx")


def test_unreadable_headers_carry_their_codes_and_clip_the_input() -> None:
    cases = {b"\xff": "not_json", b"[]": "bad_header", b"{}": "bad_header",
             orjson.dumps({"schema": "sfsync.batch/1", "plant": "P" * 10_000, "edge": "e", "stream": "s",
                           "events": [event_doc()]}): "bad_header",
             batch(event_doc(seq=2), event_doc(seq=1)): "bad_seq"}
    for payload, code in cases.items():
        with pytest.raises(ContractError) as caught:
            decode_batch(payload)
        assert caught.value.code == code and len(caught.value.reason) < 200


# -- reasons without internals ------------------------------------------------------------------

def test_posting_reasons_never_carry_driver_text() -> None:
    driver = IntegrityError("INSERT INTO events (id) VALUES (%(id)s)", {"id": 7}, Exception("duplicate key"))
    assert "INSERT" not in posting_reason(driver) and "details in the central log" in posting_reason(driver)
    internal = "posting failed: an internal error (details in the central log)"
    assert posting_reason(KeyError("zone 'Mars/Base'")) == internal
    assert posting_reason(InputError("no order on PRESS-2")) == "posting failed: no order on PRESS-2"
    assert posting_reason(Conflict("period 2026-11 is closed")) == "posting failed: period 2026-11 is closed"
    assert posting_reason(ValueError("line one\nline two")) == "posting failed: line one"


def test_only_outages_are_retried_as_unavailable() -> None:
    assert db_unavailable(OperationalError("SELECT 1", {}, Exception("server closed the connection")))
    assert not db_unavailable(IntegrityError("INSERT", {}, Exception("duplicate")))
    assert not db_unavailable(OverflowError("Python int too large to convert to SQLite INTEGER"))


# -- qty_over_limit ------------------------------------------------------------------------------

def _event(qty: int) -> Event:
    return Event.model_validate(event_doc(qty=qty))


@given(st.integers(0, INT64_MAX), st.integers(1, INT64_MAX))
def test_property_qty_over_the_machine_limit_is_flagged_never_under(qty: int, limit: int) -> None:
    flags = event_values(_event(qty), NOW, SKEW, limit)["flags"]
    assert ("qty_over_limit" in flags) == (qty > limit)


def test_default_limit_and_clock_skew_at_the_top_of_the_range() -> None:
    assert DEFAULT_MAX_EVENT_QTY == 1_000_000
    assert "qty_over_limit" not in event_values(_event(1_000_000), NOW, SKEW, DEFAULT_MAX_EVENT_QTY)["flags"]
    late = Event.model_validate(event_doc(ts="2999-12-31T23:59:59.999Z"))
    values = event_values(late, NOW, SKEW)
    assert values["flags"] == ["clock_skew"] and values["posting_ts"] == NOW


# -- /health from the worker's state -------------------------------------------------------------

def test_health_reads_the_heartbeat_not_a_flag() -> None:
    fresh = {"worker": "running", "heartbeat": time.monotonic(), "connected": True, "database": "ok"}
    view, problems = ingest_view(fresh, True, 30.0)
    assert view["worker"] == "running" and problems == []
    stale = {**fresh, "heartbeat": time.monotonic() - 31.0}
    view, problems = ingest_view(stale, True, 30.0)
    assert view["worker"] == "stale" and problems == ["ingest worker stale"]
    view, problems = ingest_view({**fresh, "worker": "retrying", "database": "unavailable"}, True, 30.0)
    assert problems == ["ingest cannot store: database unavailable"]
    assert ingest_view({**fresh, "worker": "dead"}, True, 30.0)[1] == ["ingest worker dead"]
    assert ingest_view({**fresh, "connected": False}, True, 30.0)[1] == ["ingest not connected to the broker"]
    assert ingest_view({}, True, 30.0) == ({"enabled": True, "worker": "absent"}, [])  # API-only process
    assert ingest_view(stale, False, 30.0)[1] == []


# -- master data: machines.max_event_qty ---------------------------------------------------------

@pytest.mark.parametrize("bad", [0, -1, 2**63, "5", True, 1.5])
def test_machine_max_event_qty_is_a_positive_int64(bad: object) -> None:
    with pytest.raises(Exception, match="max_event_qty"):
        parse_master_file({"machines": [{"id": "M1", "work_center": "WC", "max_event_qty": bad}]})
    assert parse_master_file({"machines": [{"id": "M1", "work_center": "WC", "max_event_qty": 500}]}) \
        .machines[0].max_event_qty == 500


def test_domain_validation_names_the_key() -> None:
    from decimal import Decimal

    wc = WorkCentre("WC", "P1", Decimal(1), Decimal(1), Decimal(1), Decimal(1))
    master = MasterData(work_centers=(wc,), machines=(Machine("M1", "WC", None, 0), Machine("M2", "WC", None, 10)))
    assert [e.key_path for e in validate_master_data(master) if "max_event_qty" in e.key_path] == \
        ["machines[0].max_event_qty"]
