"""OPC UA DataValue -> TagReading mapping: quality by StatusCode severity, scalars, NaN, source time."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from asyncua import ua

from protocols.base import Quality
from protocols.opcua_values import quality_of, to_reading, to_scalar

RECEIVED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def dv(
    value: object, vtype: ua.VariantType, status: int = ua.StatusCodes.Good, ts: datetime | None = None
) -> ua.DataValue:
    return ua.DataValue(ua.Variant(value, vtype), StatusCode=ua.StatusCode(status), SourceTimestamp=ts)


@pytest.mark.parametrize(
    ("status", "quality", "detail"),
    [
        (ua.StatusCodes.Good, Quality.GOOD, ""),
        (ua.StatusCodes.UncertainLastUsableValue, Quality.UNCERTAIN, "UncertainLastUsableValue"),
        (ua.StatusCodes.BadSensorFailure, Quality.BAD, "BadSensorFailure"),
        (ua.StatusCodes.BadNodeIdUnknown, Quality.BAD, "BadNodeIdUnknown"),
    ],
)
def test_quality_follows_status_severity(status: int, quality: Quality, detail: str) -> None:
    assert quality_of(ua.StatusCode(status)) == (quality, detail)


def test_missing_status_is_good() -> None:
    assert quality_of(None) == (Quality.GOOD, "")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (True, True),
        (42, 42),
        (-1.5, -1.5),
        ("abc", "abc"),
        (None, None),
        (b"\x01\xff", "01ff"),
        (datetime(2026, 1, 1, 12, 0), "2026-01-01T12:00:00+00:00"),
        (ua.LocalizedText("Running"), "Running"),
        (ua.NodeId("X", 2), "ns=2;s=X"),
        (ua.VariantType.Int16, 4),
    ],
)
def test_scalars(raw: object, expected: object) -> None:
    value, problem = to_scalar(raw)
    assert problem == "" and value == expected and type(value) is type(expected)


@pytest.mark.parametrize("raw", [math.nan, math.inf, -math.inf, [1, 2], {"a": 1}])
def test_non_scalars_and_non_finite_are_problems(raw: object) -> None:
    value, problem = to_scalar(raw)
    assert value is None and problem


def test_good_reading_keeps_value_and_source_time() -> None:
    ts = datetime(2026, 5, 1, 8, 0, 0)  # naive UTC as asyncua may return it
    r = to_reading("count", dv(7, ua.VariantType.UInt32, ts=ts), "epoch-1", RECEIVED)
    assert (r.tag, r.value, r.quality, r.epoch, r.detail) == ("count", 7, Quality.GOOD, "epoch-1", "")
    assert r.source_ts == ts.replace(tzinfo=UTC) and r.received == RECEIVED


def test_bad_status_drops_the_value() -> None:
    r = to_reading("temp", dv(1.5, ua.VariantType.Double, ua.StatusCodes.BadSensorFailure), "e", RECEIVED)
    assert r.value is None and r.quality is Quality.BAD and r.detail == "BadSensorFailure"
    assert r.source_ts is None


def test_uncertain_keeps_the_value() -> None:
    r = to_reading("temp", dv(2.5, ua.VariantType.Double, ua.StatusCodes.UncertainSensorNotAccurate), "e", RECEIVED)
    assert r.value == 2.5 and r.quality is Quality.UNCERTAIN and r.detail == "UncertainSensorNotAccurate"


def test_nan_is_bad_even_with_good_status() -> None:
    r = to_reading("temp", dv(math.nan, ua.VariantType.Double), "e", RECEIVED)
    assert r.value is None and r.quality is Quality.BAD and r.detail == "value is nan"


def test_uncertain_nan_says_both() -> None:
    r = to_reading("temp", dv(math.nan, ua.VariantType.Double, ua.StatusCodes.UncertainInitialValue), "e", RECEIVED)
    assert r.quality is Quality.BAD and r.detail == "value is nan (UncertainInitialValue)"
