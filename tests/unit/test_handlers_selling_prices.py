"""Selling prices through the master-data load handler on a fake unit of work (no database): the
file's prices are merged over the stored ones by (product, valid_from), only what changed is
written (stamped with the load's version), the same file twice writes nothing, and a price of an
unknown product is refused with its key path before anything is written."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from central.domain.commands import LoadMasterData
from central.domain.errors import MasterDataError
from central.domain.selling_prices import SellingPrice
from central.service_layer.costing.master_data import load_master_data
from tests.support.costing import worked_example_master as example_document
from tests.support.domain import worked_example_master
from tests.support.fake_uow import NOW, FakeUnitOfWork

TODAY = date(2026, 11, 3)
JAN, JUL = date(2026, 1, 1), date(2026, 7, 1)


def _doc(*prices: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = example_document(TODAY)
    doc["selling_prices"] = list(prices)
    return doc


def _price(valid_from: date, price: str, product: str = "BR-100") -> dict[str, Any]:
    return {"product": product, "price": price, "valid_from": valid_from.isoformat()}


def test_prices_are_written_once_with_the_loads_version() -> None:
    uow = FakeUnitOfWork(worked_example_master())
    summary = load_master_data(LoadMasterData(_doc(_price(JAN, "12.00"), _price(JUL, "14.25")), "eng"), uow)
    assert summary.sections["selling_prices"] == {"created": 2, "updated": 0, "unchanged": 0}
    assert uow.selling_prices.all("BR-100") == [SellingPrice("BR-100", Decimal("12.00"), JAN, None),
                                                SellingPrice("BR-100", Decimal("14.25"), JUL, None)]
    assert set(uow.selling_prices.stamps.values()) == {(summary.version, "eng", NOW)}
    again = load_master_data(LoadMasterData(_doc(_price(JAN, "12.00"), _price(JUL, "14.25")), "eng"), uow)
    assert again.sections["selling_prices"] == {"created": 0, "updated": 0, "unchanged": 2}
    assert set(uow.selling_prices.stamps.values()) == {(summary.version, "eng", NOW)}


def test_a_changed_price_is_replaced_and_a_price_the_file_omits_stays() -> None:
    uow = FakeUnitOfWork(worked_example_master())
    first = load_master_data(LoadMasterData(_doc(_price(JAN, "12.00"), _price(JUL, "14.25")), "eng"), uow)
    second = load_master_data(LoadMasterData(_doc(_price(JUL, "15.00")), "ctl"), uow)
    assert second.sections["selling_prices"] == {"created": 0, "updated": 1, "unchanged": 0}
    assert [p.price for p in uow.selling_prices.all()] == [Decimal("12.00"), Decimal("15.00")]
    assert uow.selling_prices.stamps[("BR-100", JAN)][0] == first.version
    assert uow.selling_prices.stamps[("BR-100", JUL)][:2] == (second.version, "ctl")


def test_a_price_of_an_unknown_product_is_refused_and_nothing_is_written() -> None:
    uow = FakeUnitOfWork(worked_example_master())
    with pytest.raises(MasterDataError) as refused:
        load_master_data(LoadMasterData(_doc(_price(JAN, "12.00"), _price(JAN, "3.00", "NOPE")), "eng"), uow)
    assert any(e.key_path.startswith("selling_prices[1]") for e in refused.value.errors), refused.value.errors
    assert uow.selling_prices.rows == {} and uow.commits == 0
