"""Decimal money and quantities.

Every amount in the domain is a :class:`~decimal.Decimal` built from text or an integer, never
from a binary float. Journal amounts are rounded half-up to cents; unit costs, prices and rates
keep six places (ACCOUNTING.md, "Rules that are never bent"). Inexact operations (division)
go through :data:`CONTEXT`, so results do not depend on the caller's thread-local context.

Input and output (API.md) meet here:

* :func:`parse_decimal` (and :func:`parse_money`, :func:`parse_price`, :func:`parse_quantity`)
  is where a number *enters*: plain decimal notation only (``"12.50"``, ``"-3"``; no exponent,
  no ``"1_000"``, no spaces), at most :data:`MAX_INTEGER_DIGITS` integer digits, and no more
  places than the kind allows. Too many places is refused, never rounded.
* :func:`format_money`, :func:`format_price` and :func:`format_quantity` are where a number
  *leaves*: money with exactly 2 places, prices and unit costs with exactly 6, quantities in
  plain notation without trailing zeros (``"1000"``, ``"2.5"``) and never an exponent form.
"""

from __future__ import annotations

import re
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
QUANTITY_PLACES = 6

MAX_INTEGER_DIGITS = 15
"""An input number has at most 15 digits before the decimal point (API.md)."""
MAX_MAGNITUDE = Decimal(10) ** MAX_INTEGER_DIGITS
"""Every input number is strictly smaller than this in absolute value."""

DECIMAL_PATTERN = r"^-?[0-9]{1,15}(\.[0-9]+)?$"
"""Plain decimal notation as the API accepts it, any number of places."""
_PLAIN = re.compile(DECIMAL_PATTERN, re.ASCII)
_EXPONENT = re.compile(r"[+-]?[0-9]*\.?[0-9]*[eE][+-]?[0-9]+", re.ASCII)


def decimal_pattern(max_places: int) -> str:
    """The JSON-schema ``pattern`` of a decimal with at most ``max_places`` places (trailing zeros
    do not count, as in :func:`parse_decimal`)."""
    fraction = r"(\.0+)?" if max_places == 0 else rf"(\.[0-9]{{1,{max_places}}}0*)?"
    return rf"^-?[0-9]{{1,{MAX_INTEGER_DIGITS}}}{fraction}$"

DecimalInput = Decimal | str | int

K = TypeVar("K", bound=Hashable)


def to_decimal(value: DecimalInput) -> Decimal:
    """Read a finite Decimal from a Decimal, an int or decimal text; refuse floats and bools."""
    if type(value) is Decimal and value.is_finite():  # the common case first: every rounding passes here
        return value
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


def significant_places(value: Decimal) -> int:
    """Decimal places that are not trailing zeros (``Decimal('1.500')`` has 1), computed exactly.

    ``Decimal.normalize`` would round to the context's precision first, so a long input such as
    ``0.1000000000000000000000000000001`` would pass a six-place check after silent rounding.
    """
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite by construction
    if exponent >= 0:
        return 0
    written = "".join(map(str, digits))
    kept = written.rstrip("0")
    if not kept:
        return 0
    return max(0, -exponent - (len(written) - len(kept)))


def parse_decimal(value: DecimalInput, max_places: int | None = None) -> Decimal:
    """Read an input number: plain notation, finite, bounded, at most ``max_places`` places.

    Text must be plain decimal notation (:data:`DECIMAL_PATTERN`: no exponent, no spaces, no
    ``_``); the magnitude must stay below :data:`MAX_MAGNITUDE` (15 integer digits); more places
    than ``max_places`` (trailing zeros do not count) is refused, never rounded. Floats and bools
    are refused. Raises :class:`MoneyError` with a sentence saying which rule failed.
    """
    if isinstance(value, str) and not _PLAIN.fullmatch(value):
        shown = repr(value[:40]) + "..." if len(value) > 40 else repr(value)
        if _EXPONENT.fullmatch(value):
            raise MoneyError(f"{shown}: exponent forms are refused, write the number in plain decimals")
        if _looks_too_long(value):
            raise MoneyError(f"{shown} has more than {MAX_INTEGER_DIGITS} integer digits")
        raise MoneyError(f"{shown} is not a plain decimal number (such as \"12.50\")")
    result = to_decimal(value)
    if abs(result) >= MAX_MAGNITUDE:
        raise MoneyError(f"{_short(result)} has more than {MAX_INTEGER_DIGITS} integer digits")
    if max_places is not None and significant_places(result) > max_places:
        raise MoneyError(f"{_short(result)} has more than {max_places} decimal places")
    return result


def _looks_too_long(text: str) -> bool:
    return re.fullmatch(r"-?[0-9]{16,}(\.[0-9]+)?", text, re.ASCII) is not None


def _short(value: Decimal) -> str:
    text = format(value, "f") if abs(value.adjusted()) < 40 else str(value)
    return text if len(text) <= 40 else text[:40] + "..."


def parse_money(value: DecimalInput) -> Decimal:
    """An amount of money: at most two decimal places, returned at exactly two."""
    return parse_decimal(value, MONEY_PLACES).quantize(CENT)


def parse_price(value: DecimalInput) -> Decimal:
    """A price, rate or unit cost: at most six decimal places."""
    return parse_decimal(value, UNIT_PLACES)


def parse_quantity(value: DecimalInput) -> Decimal:
    """A quantity (or hours): at most six decimal places."""
    return parse_decimal(value, QUANTITY_PLACES)


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
    """Text for the wire: ``Decimal('1234.5')`` -> ``'1234.50'`` (half-up at ``decimals``).

    Always plain notation (never ``1E+3``), ``-0`` written as ``0``.
    """
    quantum = Decimal(1).scaleb(-decimals)
    result = _WIDE.quantize(value, quantum)
    return format(result.copy_abs() if result == 0 else result, "f")


def format_money(value: Decimal) -> str:
    """Money on the wire: exactly two places (``'1234.50'``)."""
    return format_amount(value, MONEY_PLACES)


def format_price(value: Decimal) -> str:
    """A price, rate or unit cost on the wire: exactly six places (``'4.000000'``)."""
    return format_amount(value, UNIT_PLACES)


def format_quantity(value: Decimal) -> str:
    """A quantity on the wire: plain notation, no trailing zeros (``'1000'``, ``'2.5'``).

    Rounded half-up to six places first (a computed quantity may carry more).
    """
    text = format_amount(value, QUANTITY_PLACES)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


_WIDE = Context(prec=60, rounding=ROUND_HALF_UP)
"""Context for output quantization: wide enough that no bounded value overflows it."""


def sum_by(pairs: Iterable[tuple[K, Decimal]]) -> dict[K, Decimal]:
    """Total of the amounts per key of ``(key, amount)`` pairs, keys in first-seen order."""
    out: dict[K, Decimal] = {}
    for key, amount in pairs:
        out[key] = out.get(key, ZERO) + amount
    return out
