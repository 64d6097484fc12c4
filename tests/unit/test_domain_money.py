"""Money helpers: half-up to cents, six-place unit costs, floats refused."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Context, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from central.domain.errors import MoneyError
from central.domain.money import (
    MAX_MAGNITUDE,
    decimal_pattern,
    divide,
    format_amount,
    format_money,
    format_price,
    format_quantity,
    is_cents,
    parse_decimal,
    parse_money,
    parse_price,
    parse_quantity,
    to_cents,
    to_decimal,
    to_ratio,
    to_unit,
)

ROUND_CONTEXT = Context(prec=40)

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


@pytest.mark.parametrize(
    "bad",
    ["1e400", "1E+3", "1e3", "2.5e-1", "1000000000000000", "-1000000000000000", "1_000", " 1", "1 ", "12\n",
     ".5", "5.", "+5", "\u0661\u0662", "NaN", "Infinity", "-inf", "0x10", "1,5", ""],
)
def test_input_refuses_exponents_magnitudes_and_odd_notation(bad: str) -> None:
    with pytest.raises(MoneyError):
        parse_decimal(bad)
    assert not re.fullmatch(decimal_pattern(6), bad)


@pytest.mark.parametrize("bad", [10**15, -(10**15), 2**63, Decimal("1e400"), Decimal("-1E+15")])
def test_input_magnitude_bound_for_ints_and_decimals(bad: int | Decimal) -> None:
    with pytest.raises(MoneyError, match="15 integer digits"):
        parse_decimal(bad)


def test_input_bounds_keep_what_is_allowed_unrounded() -> None:
    assert parse_quantity("999999999999999.123456") == Decimal("999999999999999.123456")
    assert parse_money("-999999999999999.99") == Decimal("-999999999999999.99")
    assert parse_quantity(Decimal("1E+3")) == 1000  # a Decimal value has no notation to refuse
    # places are counted exactly: the long tail is not rounded away before the check
    with pytest.raises(MoneyError, match="6 decimal places"):
        parse_quantity("0.1000000000000000000000000000000001")
    with pytest.raises(MoneyError, match="2 decimal places"):
        parse_money("0.001")


@given(st.decimals(min_value=-MAX_MAGNITUDE + 1, max_value=MAX_MAGNITUDE - 1, places=6, allow_nan=False))
def test_pattern_and_parser_agree_on_plain_text(value: Decimal) -> None:
    text = format(value, "f")
    for max_places in (2, 6):
        accepted = re.fullmatch(decimal_pattern(max_places), text) is not None
        try:
            parse_decimal(text, max_places)
        except MoneyError:
            assert not accepted
        else:
            assert accepted


@pytest.mark.parametrize(
    ("value", "money", "price", "quantity"),
    [("1E+3", "1000.00", "1000.000000", "1000"), ("2.1E+3", "2100.00", "2100.000000", "2100"),
     ("2.500000", "2.50", "2.500000", "2.5"), ("0E-6", "0.00", "0.000000", "0"),
     ("-0.0000001", "0.00", "0.000000", "0"), ("1.23456789", "1.23", "1.234568", "1.234568"),
     ("-12.5", "-12.50", "-12.500000", "-12.5"),
     ("999999999999999.999999", "1000000000000000.00", "999999999999999.999999", "999999999999999.999999")],
)
def test_output_formats(value: str, money: str, price: str, quantity: str) -> None:
    assert (format_money(Decimal(value)), format_price(Decimal(value)), format_quantity(Decimal(value))) == (
        money, price, quantity)


@given(st.decimals(min_value=-MAX_MAGNITUDE + 1, max_value=MAX_MAGNITUDE - 1, places=6, allow_nan=False))
def test_quantity_output_is_plain_and_reads_back(value: Decimal) -> None:
    text = format_quantity(value.normalize(ROUND_CONTEXT))
    assert "E" not in text and "e" not in text
    assert not (("." in text) and text.endswith("0"))
    assert parse_quantity(text) == value
