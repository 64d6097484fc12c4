"""Quantity movements of stock that production causes, by the cumulative rule.

ACCOUNTING.md: backflush takes the BOM quantity of each ``backflush`` component for every unit
processed (good or scrap); good units go to finished goods. As for the amounts, the stock moves
of an order follow the cumulative rule: per order, kind and item the move is the cumulative
quantity to date minus what has already moved, so batching (1 or 500 events) and
re-attribution (events taken back out) never change the totals. Quantities keep 6 places.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from central.domain.accruals import OrderAccruals
from central.domain.money import ZERO, to_unit
from central.domain.postings import PostingContext

__all__ = ["BACKFLUSH", "FINISHED_GOODS", "MoveKey", "production_targets", "move_deltas"]

BACKFLUSH = "backflush"
FINISHED_GOODS = "finished_goods"

MoveKey = tuple[str, str]
"""(kind, item) of a production move of one order."""


def production_targets(ctx: PostingContext, accruals: OrderAccruals) -> dict[MoveKey, Decimal]:
    """Cumulative stock movement of an order to date: ``-processed x BOM qty`` per backflushed
    component (out of stock) and ``+good`` of the order's item (into stock), rounded to 6 places."""
    targets: dict[MoveKey, Decimal] = {}
    for material, _, _ in ctx.production_plan(accruals.item).backflush:
        key = (BACKFLUSH, material.item)
        targets[key] = targets.get(key, ZERO) - to_unit(accruals.processed_qty * material.qty)
    targets[(FINISHED_GOODS, accruals.item)] = to_unit(accruals.good_qty)
    return targets


def move_deltas(targets: Mapping[MoveKey, Decimal], moved: Mapping[MoveKey, Decimal]) -> dict[MoveKey, Decimal]:
    """What to move now: cumulative target minus what has moved, for every key that changes."""
    out: dict[MoveKey, Decimal] = {}
    for key, target in targets.items():
        delta = target - moved.get(key, ZERO)
        if delta != 0:
            out[key] = delta
    return out
