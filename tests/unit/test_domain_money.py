"""Money helpers: half-up to cents, six-place unit costs, floats refused."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from central.domain.errors import MoneyError
from central.domain.money import (
    divide,
    format_amount,
    is_cents,
    parse_money,
    parse_price,
    to_cents,
    to_decimal,
    to_ratio,
    to_unit,
)

amounts = st.decimals(min_value=Decimal("-1e9"), max_value=Decimal("1e9"), places=8, allow_nan=False)


@given(amounts)
def test_to_cents_is_half_up_and_within_half_a_cent(value: Decimal) -> None:
    cents = to_cents(value)
    assert is_cents(cents)
    assert abs(cents - value) <= Decimal("0.005")
    # exactly half a cent always rounds away from zero
    if abs(cents - value) == Decimal("0.005"):
        assert abs(cents) > abs(value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0.005", "0.01"), ("0.015", "0.02"), ("2.675", "2.68"), ("-0.005", "-0.01"), ("1.004999", "1.00")],
)
def test_to_cents_known_values(text: str, expected: str) -> None:
    assert to_cents(text) == Decimal(expected)


@given(amounts)
def test_to_unit_keeps_six_places(value: Decimal) -> None:
    unit = to_unit(value)
    assert unit == value.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)
    assert abs(unit - value) <= Decimal("0.0000005")


def test_to_unit_and_ratio_half_up() -> None:
    assert to_unit("0.0000005") == Decimal("0.000001")
    assert to_ratio(Decimal(35) / Decimal(39)) == Decimal("0.8974")
    assert to_ratio("0.94855") == Decimal("0.9486")


@pytest.mark.parametrize("bad", [1.5, 0.1, float("nan"), True])
def test_floats_and_bools_refused(bad: object) -> None:
    with pytest.raises(MoneyError):
        to_decimal(bad)  # type: ignore[arg-type]
    with pytest.raises(MoneyError):
        parse_money(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["abc", "NaN", "Infinity", ""])
def test_non_numbers_refused(bad: str) -> None:
    with pytest.raises(MoneyError):
        to_decimal(bad)


def test_places_limits() -> None:
    assert parse_money("12.5") == Decimal("12.50")
    assert parse_money("12.500") == Decimal("12.50")  # trailing zeros are not places
    with pytest.raises(MoneyError):
        parse_money("12.345")
    assert parse_price("0.123456") == Decimal("0.123456")
    with pytest.raises(MoneyError):
        parse_price("0.1234567")


def test_divide_by_zero_is_zero_and_context_independent() -> None:
    assert divide(Decimal(1), Decimal(0)) == 0
    third = divide(Decimal(1000), Decimal(30))
    assert str(third).startswith("33.33333333333333333333333333333")


def test_format_amount() -> None:
    assert format_amount(Decimal("1234.5")) == "1234.50"
    assert format_amount(Decimal("-0.001")) == "0.00"
    assert format_amount(Decimal("0.89743589"), 4) == "0.8974"
