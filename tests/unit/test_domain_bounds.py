"""Bounds where integers, instants and dates enter central: int64, and the wire's 2000..3000 range."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from central.domain.bounds import (
    DATE_MAX,
    DATE_MIN,
    INT64_MAX,
    INT64_MIN,
    TS_MAX,
    TS_MIN,
    check_date,
    check_instant,
    check_int64,
)
from central.domain.errors import RangeError


@given(st.integers())
def test_int64(value: int) -> None:
    if INT64_MIN <= value <= INT64_MAX:
        assert check_int64(value) == value
    else:
        with pytest.raises(RangeError):
            check_int64(value)


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "1999-12-31T23:59:59Z",
                                  "3000-01-01T00:00:00Z", "2999-12-31T23:00:00-01:00", "1969-07-20T20:17:00"])
def test_instants_outside_the_range_or_overflowing_in_utc_are_refused(text: str) -> None:
    with pytest.raises(RangeError, match="out of range"):
        check_instant(datetime.fromisoformat(text.replace("Z", "+00:00")))


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                    timezones=st.sampled_from([UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12))])))
def test_instant_accepted_exactly_when_in_range_in_utc(value: datetime) -> None:
    inside = TS_MIN <= value.astimezone(UTC) < TS_MAX
    if inside:
        assert check_instant(value) is value
    else:
        with pytest.raises(RangeError):
            check_instant(value)


def test_dates() -> None:
    assert check_date(DATE_MIN) == date(2000, 1, 1) and check_date(DATE_MAX) == date(2999, 12, 31)
    for bad in (date(1, 1, 1), date(1999, 12, 31), date(3000, 1, 1), date(9999, 12, 31)):
        with pytest.raises(RangeError):
            check_date(bad)
    assert issubclass(RangeError, ValueError)  # a pydantic validator turns it into a 422


def test_the_bounds_are_the_wire_contracts_own_not_copies() -> None:
    from central.domain import bounds
    from shared import contract

    for name in ("INT64_MIN", "INT64_MAX", "TS_MIN", "TS_MAX"):
        assert getattr(bounds, name) is getattr(contract, name), name
    assert (contract.TS_MIN.date(), (contract.TS_MAX - timedelta(days=1)).date()) == (DATE_MIN, DATE_MAX)
