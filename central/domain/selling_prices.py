"""Selling prices of products (master data ``selling_prices``): what a good unit sells for, from a
day on, in the currency of the product's entity (ACCOUNTING.md's one currency per legal entity).

A product has a price history: each record holds from its ``valid_from`` until the next one's.
:func:`price_at` picks the record in force on a day; :func:`selling_price_errors` checks a set of
records against master data, every problem with its key path, like
:func:`central.domain.master_data_validation.validate_master_data`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from central.domain.errors import ValidationError
from central.domain.master_data import MasterData
from central.domain.money import UNIT_PLACES, significant_places

__all__ = ["SellingPrice", "price_at", "entity_of_product", "selling_price_errors", "MAX_SELLING_PRICE"]

MAX_SELLING_PRICE = Decimal(10) ** 9
"""A selling price per unit is below 1,000,000,000 (the bound of standard costs and rates)."""


@dataclass(frozen=True)
class SellingPrice:
    """``price`` per good unit of ``product`` from ``valid_from`` on. ``currency``, when the record
    names one, must be its entity's currency (it documents the file; it never converts)."""

    product: str
    price: Decimal
    valid_from: date
    currency: str | None = None


def price_at(prices: Sequence[SellingPrice], product: str, day: date) -> SellingPrice | None:
    """The record of ``product`` in force on ``day``: the latest ``valid_from`` on or before it."""
    best: SellingPrice | None = None
    for p in prices:
        if p.product == product and p.valid_from <= day and (best is None or p.valid_from > best.valid_from):
            best = p
    return best


def entity_of_product(master: MasterData, product: str) -> str | None:
    """The entity that makes ``product``: its routing's work centre -> plant -> entity (None when
    the product has no routing yet, or the chain is broken)."""
    routing = master.routings_by_item.get(product)
    if routing is None:
        return None
    centre = master.work_centers_by_id.get(routing.work_center)
    if centre is None:
        return None
    return next((p.entity for p in master.plants if p.id == centre.plant), None)


def selling_price_errors(master: MasterData, prices: Sequence[SellingPrice]) -> list[ValidationError]:
    """Every problem of ``prices`` against ``master``, with key paths ``selling_prices[i].field``."""
    return list(_errors(master, prices))


def _errors(master: MasterData, prices: Sequence[SellingPrice]) -> Iterator[ValidationError]:
    keys = [(p.product, p.valid_from) for p in prices]
    counts = Counter(keys)
    currencies = {e.id: e.currency for e in master.entities}
    for i, p in enumerate(prices):
        path = f"selling_prices[{i}]"
        if counts[keys[i]] > 1 and keys.index(keys[i]) != i:
            yield ValidationError(path, f"duplicate price of {p.product!r} from {p.valid_from.isoformat()}")
        item = master.items_by_id.get(p.product)
        if item is None:
            yield ValidationError(f"{path}.product", f"unknown item {p.product!r}")
        elif not item.manufactured:
            yield ValidationError(f"{path}.product", f"raw item {p.product!r} is not a product: no selling price")
        if not p.price.is_finite() or abs(p.price) >= MAX_SELLING_PRICE:
            yield ValidationError(f"{path}.price", f"must be less than {MAX_SELLING_PRICE:,} in absolute value")
        elif p.price <= 0:
            yield ValidationError(f"{path}.price", f"must be more than zero, got {p.price}")
        elif significant_places(p.price) > UNIT_PLACES:
            yield ValidationError(f"{path}.price", f"has more than {UNIT_PLACES} decimal places")
        if p.currency is not None and item is not None:
            entity = entity_of_product(master, p.product)
            expected = currencies.get(entity) if entity is not None else None
            if expected is not None and p.currency != expected:
                yield ValidationError(
                    f"{path}.currency",
                    f"{p.currency!r} is not the currency of {p.product!r}'s entity {entity!r} ({expected!r})",
                )
