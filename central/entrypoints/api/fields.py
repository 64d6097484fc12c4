"""Request field types for money, prices and quantities: decimal strings (or JSON integers),
never JSON floats; read by :func:`central.domain.money.parse_decimal` (plain notation, at most 15
integer digits, money 2 places, prices and quantities 6; more is refused, never rounded). A
refusal is a 422 with the field's location. The JSON schema states the same rules (a ``pattern``
per kind, integers bounded), so a client generated from the OpenAPI document sends what is
accepted."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

from central.domain.money import (
    MAX_MAGNITUDE,
    MONEY_PLACES,
    QUANTITY_PLACES,
    UNIT_PLACES,
    decimal_pattern,
    parse_decimal,
)

__all__ = ["Money", "Price", "Quantity"]


def _reader(places: int, what: str) -> BeforeValidator:
    def read(value: object) -> Decimal:
        if isinstance(value, float):
            raise ValueError(f"{what} must be a decimal string, not a JSON float (e.g. \"12.50\")")
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            raise ValueError(f"{what} must be a decimal string")
        return parse_decimal(value, places)

    return BeforeValidator(read)


def _schema(places: int, example: str) -> WithJsonSchema:
    bound = int(MAX_MAGNITUDE) - 1
    schema: dict[str, Any] = {
        "anyOf": [
            {"type": "string", "pattern": decimal_pattern(places), "examples": [example]},
            {"type": "integer", "minimum": -bound, "maximum": bound},
        ],
        "description": f"a decimal string in plain notation, at most 15 integer digits and {places} decimal places "
                       "(or a JSON integer); never a JSON float",
    }
    return WithJsonSchema(schema)


Money = Annotated[Decimal, _reader(MONEY_PLACES, "an amount"), _schema(MONEY_PLACES, "1234.56")]
"""An amount of money: at most 2 decimal places."""
Price = Annotated[Decimal, _reader(UNIT_PLACES, "a price"), _schema(UNIT_PLACES, "4.125")]
"""A unit price or rate: at most 6 decimal places."""
Quantity = Annotated[Decimal, _reader(QUANTITY_PLACES, "a quantity"), _schema(QUANTITY_PLACES, "2.5")]
"""A quantity: at most 6 decimal places."""
