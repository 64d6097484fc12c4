"""Request field types for money, prices and quantities: decimal strings (or JSON integers),
never JSON floats; places checked (money 2, prices and quantities 6). A float or too many places
is a 422 with the field's location."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BeforeValidator, WithJsonSchema

from central.domain.money import MONEY_PLACES, UNIT_PLACES, parse_decimal

__all__ = ["Money", "Price", "Quantity"]


def _reader(places: int, what: str) -> BeforeValidator:
    def read(value: object) -> Decimal:
        if isinstance(value, float):
            raise ValueError(f"{what} must be a decimal string, not a JSON float (e.g. \"12.50\")")
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            raise ValueError(f"{what} must be a decimal string")
        return parse_decimal(value, places)

    return BeforeValidator(read)


_SCHEMA = WithJsonSchema({"type": "string", "pattern": r"^-?\d+(\.\d+)?$", "examples": ["1234.56"]})

Money = Annotated[Decimal, _reader(MONEY_PLACES, "an amount"), _SCHEMA]
"""An amount of money: at most 2 decimal places."""
Price = Annotated[Decimal, _reader(UNIT_PLACES, "a price"), _SCHEMA]
"""A unit price or rate: at most 6 decimal places."""
Quantity = Annotated[Decimal, _reader(UNIT_PLACES, "a quantity"), _SCHEMA]
"""A quantity: at most 6 decimal places."""
