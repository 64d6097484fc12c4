"""Decimal money and quantities.

Every amount in the domain is a :class:`~decimal.Decimal` built from text or an integer, never
from a binary float. Journal amounts are rounded half-up to cents; unit costs, prices and rates
keep six places (ACCOUNTING.md, "Rules that are never bent"). Inexact operations (division)
go through :data:`CONTEXT`, so results do not depend on the caller's thread-local context.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import TypeVar

from central.domain.errors import MoneyError

CONTEXT = Context(prec=34, rounding=ROUND_HALF_UP)
"""Context for divisions: 34 significant digits, half-up."""

ZERO = Decimal(0)
ONE = Decimal(1)
CENT = Decimal("0.01")
UNIT = Decimal("0.000001")
RATIO = Decimal("0.0001")

MONEY_PLACES = 2
UNIT_PLACES = 6

DecimalInput = Decimal | str | int

K = TypeVar("K", bound=Hashable)


def to_decimal(value: DecimalInput) -> Decimal:
    """Read a finite Decimal from a Decimal, an int or decimal text; refuse floats and bools."""
    if isinstance(value, bool):
        raise MoneyError(f"a bool is not a number: {value!r}")
    if isinstance(value, float):
        raise MoneyError(f"a float is refused for money and quantities (send a string): {value!r}")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation as exc:
            raise MoneyError(f"not a decimal number: {value!r}") from exc
    else:
        raise MoneyError(f"expected a decimal string or an int, got {type(value).__name__}")
    if not result.is_finite():
        raise MoneyError(f"not a finite number: {value!r}")
    return result


def places(value: Decimal) -> int:
    """Number of decimal places written in ``value`` (``Decimal('1.50')`` has 2)."""
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # finite by construction
    return max(0, -exponent)


def parse_decimal(value: DecimalInput, max_places: int | None = None) -> Decimal:
    """Read a decimal and refuse more than ``max_places`` significant decimal places."""
    result = to_decimal(value)
    if max_places is not None and places(result.normalize()) > max_places:
        raise MoneyError(f"{value!r} has more than {max_places} decimal places")
    return result


def parse_money(value: DecimalInput) -> Decimal:
    """An amount of money: at most two decimal places, returned at exactly two."""
    return parse_decimal(value, MONEY_PLACES).quantize(CENT)


def parse_price(value: DecimalInput) -> Decimal:
    """A price, rate or unit cost: at most six decimal places."""
    return parse_decimal(value, UNIT_PLACES)


def to_cents(value: DecimalInput) -> Decimal:
    """Round half-up to cents."""
    return to_decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def to_unit(value: DecimalInput) -> Decimal:
    """Round half-up to six places (unit costs, prices, rates)."""
    return to_decimal(value).quantize(UNIT, rounding=ROUND_HALF_UP)


def to_ratio(value: DecimalInput) -> Decimal:
    """Round half-up to four places (reported ratios such as OEE)."""
    return to_decimal(value).quantize(RATIO, rounding=ROUND_HALF_UP)


def divide(numerator: Decimal, denominator: Decimal) -> Decimal:
    """``numerator / denominator`` in :data:`CONTEXT`; zero when the denominator is zero."""
    if denominator == 0:
        return ZERO
    return CONTEXT.divide(numerator, denominator)


def is_cents(value: Decimal) -> bool:
    """True when ``value`` has no more than two significant decimal places."""
    return value.is_finite() and value == value.quantize(CENT, rounding=ROUND_HALF_UP)


def format_amount(value: Decimal, decimals: int = MONEY_PLACES) -> str:
    """Text for the wire: ``Decimal('1234.5')`` -> ``'1234.50'`` (half-up at ``decimals``)."""
    quantum = Decimal(1).scaleb(-decimals)
    result = value.quantize(quantum, rounding=ROUND_HALF_UP)
    return str(result.copy_abs() if result == 0 else result)


def sum_by(pairs: Iterable[tuple[K, Decimal]]) -> dict[K, Decimal]:
    """Total of the amounts per key of ``(key, amount)`` pairs, keys in first-seen order."""
    out: dict[K, Decimal] = {}
    for key, amount in pairs:
        out[key] = out.get(key, ZERO) + amount
    return out
