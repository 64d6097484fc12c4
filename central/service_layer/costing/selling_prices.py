"""The ``selling_prices`` master-data section in its own table (``selling_prices``).

A master-data load (:func:`central.service_layer.costing.master_data.load_master`) merges the
file's prices over the stored ones by (product, valid_from), like every other section: a record in
the file is created or replaced, a stored record the file does not name stays. The merged set is
checked with the rest (:func:`central.domain.selling_prices.selling_price_errors`, key paths
``selling_prices[i].field``), and only what changed is written, so the same file twice changes
nothing. A selling price moves no standard cost and no posting: it needs no approval. The load
reads and writes them through ``uow.selling_prices``; the margin and executive views read
:func:`stored_prices` on their session.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from central.adapters.repositories import SqlSellingPriceRepository
from central.domain.errors import ValidationError
from central.domain.master_data import MasterData
from central.domain.selling_prices import SellingPrice, selling_price_errors
from central.service_layer.costing.master_file import MasterFile
from central.service_layer.unit_of_work import SellingPriceRepository

__all__ = ["SECTION", "PriceMerge", "stored_prices", "merge_prices", "write_prices"]

SECTION = "selling_prices"


@dataclass
class PriceMerge:
    """The merged price list (file order first, then stored records the file does not name) and
    the records to write, with the created / updated / unchanged counts of the file's records."""

    merged: list[SellingPrice] = field(default_factory=list)
    changes: list[SellingPrice] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: {"created": 0, "updated": 0, "unchanged": 0})

    def errors(self, master: MasterData) -> list[ValidationError]:
        """Problems of the merged prices against the merged master data (the file's records come
        first, so their indexes are the file's)."""
        return selling_price_errors(master, self.merged)


def stored_prices(session: Session, product: str | None = None) -> list[SellingPrice]:
    """Every stored price (of ``product`` when named), by product and day (the views' read)."""
    return SqlSellingPriceRepository(session).all(product)


def merge_prices(prices: SellingPriceRepository, mf: MasterFile) -> PriceMerge:
    """The file's prices merged over the stored ones (nothing written)."""
    stored = {(p.product, p.valid_from): p for p in prices.all()}
    result = PriceMerge()
    named = set()
    for record in mf.selling_prices:
        price = SellingPrice(record.product, record.price, record.valid_from, record.currency)
        key = (price.product, price.valid_from)
        named.add(key)
        result.merged.append(price)
        old = stored.get(key)
        if old == price:
            result.counts["unchanged"] += 1
            continue
        result.counts["created" if old is None else "updated"] += 1
        result.changes.append(price)
    result.merged += [p for key, p in stored.items() if key not in named]
    return result


def write_prices(prices: SellingPriceRepository, merge: PriceMerge, user: str, now: datetime, version: int) -> None:
    """Write the changed prices, stamped with the master-data ``version`` that loaded them."""
    for price in merge.changes:
        prices.save(price, version=version, user=user, now=now)
