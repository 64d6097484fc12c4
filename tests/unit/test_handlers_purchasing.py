"""Purchase-order handlers on a fake unit of work (no database): an order is validated against
master data in full before anything is stored, its lines are numbered and start unreceived, a
duplicate id is refused; a receipt against a line locks it, keeps to the over-receipt tolerance
(5 % by default, exactly at it passes, a hair past it is refused) and is linked to its record."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from central.adapters.db.models_purchasing import PurchaseOrderRow
from central.domain.errors import InputError
from central.domain.purchasing import OverReceiptError
from central.errors import Conflict, NotFound
from central.service_layer.purchasing import (
    CreatePurchaseOrder,
    PoLineIn,
    create_purchase_order,
    receive_against_line,
)
from tests.support.domain import worked_example_master
from tests.support.fake_uow import NOW, FakeUnitOfWork

D = Decimal
DUE = date(2026, 11, 20)


def _uow() -> FakeUnitOfWork:
    return FakeUnitOfWork(worked_example_master())


def _po(uow: FakeUnitOfWork, po_id: str = "PO-1", *lines: PoLineIn, plant: str | None = "P1") -> dict[str, Any]:
    return create_purchase_order(CreatePurchaseOrder(po_id, "ACME", lines or (PoLineIn("S", D("100"), D("4.00"), DUE),
                                                                              PoLineIn("BR-100", D("3"), D("0"), DUE)),
                                                     "buyer", plant, "ref-1"), uow)


def test_an_order_is_stored_with_numbered_unreceived_lines_and_the_plants_entity() -> None:
    uow = _uow()
    view = _po(uow)
    po = uow.purchase_orders.orders["PO-1"]
    assert (po.supplier, po.plant, po.entity, po.status, po.created, po.created_by) == (
        "ACME", "P1", "E1", "open", NOW, "buyer")
    assert [(ln.line_no, ln.item, ln.qty, ln.received_qty) for ln in uow.purchase_orders.lines("PO-1")] == [
        (1, "S", D("100"), D(0)), (2, "BR-100", D("3"), D(0))]
    assert view["status"] == "open" and [ln["open_qty"] for ln in view["lines"]] == ["100", "3"]
    assert uow.commits == 1


@pytest.mark.parametrize(("lines", "supplier", "plant", "message"), [
    ((), "ACME", None, "at least one line"),
    ((PoLineIn("S", D("1"), D("1"), DUE),), " ", None, "supplier"),
    ((PoLineIn("S", D("1"), D("1"), DUE),), "ACME", "P9", "unknown plant"),
    ((PoLineIn("S", D("1"), D("1"), DUE), PoLineIn("NOPE", D("1"), D("1"), DUE)), "ACME", None, r"lines\[1\]"),
    ((PoLineIn("S", D("0"), D("1"), DUE),), "ACME", None, "positive quantity"),
    ((PoLineIn("S", D("1"), D("-1"), DUE),), "ACME", None, "cannot be negative"),
])
def test_a_bad_order_is_refused_whole(lines: tuple[PoLineIn, ...], supplier: str, plant: str | None,
                                      message: str) -> None:
    uow = _uow()
    with pytest.raises(InputError, match=message):
        create_purchase_order(CreatePurchaseOrder("PO-X", supplier, lines, "buyer", plant), uow)
    assert uow.purchase_orders.orders == {} and uow.purchase_orders.lines_ == {} and uow.commits == 0


def test_a_duplicate_order_id_is_a_conflict() -> None:
    uow = _uow()
    _po(uow)
    with pytest.raises(Conflict, match="exists already"):
        _po(uow)
    assert len(uow.purchase_orders.lines_) == 2 and uow.commits == 1


def test_receipts_keep_to_the_default_tolerance_and_are_linked_to_their_records() -> None:
    uow = _uow()
    _po(uow)
    line = uow.purchase_orders.lines("PO-1")[0]
    out = receive_against_line(uow, line.id, "S", D("60"), 7, NOW)
    assert out == {"purchase_order": "PO-1", "line_no": 1, "line_id": line.id, "received_qty": "60", "open_qty": "40"}
    with pytest.raises(OverReceiptError):
        receive_against_line(uow, line.id, "S", D("45.000001"), 8, NOW)  # 105.000001 > 100 x 1.05
    assert receive_against_line(uow, line.id, "S", D("45"), 9, NOW)["open_qty"] == "0"  # exactly at 5 %
    assert [(r.record_id, r.qty, r.received_at) for r in uow.purchase_orders.receipts([line.id])] == [
        (7, D("60"), NOW), (9, D("45"), NOW)]


def test_a_receipt_of_another_item_an_unknown_line_or_a_cancelled_order_is_refused() -> None:
    uow = _uow()
    _po(uow)
    line = uow.purchase_orders.lines("PO-1")[0]
    with pytest.raises(InputError, match="orders S, not F"):
        receive_against_line(uow, line.id, "F", D("1"), 1, NOW)
    with pytest.raises(NotFound):
        receive_against_line(uow, 999, "S", D("1"), 1, NOW)
    po: PurchaseOrderRow = uow.purchase_orders.orders["PO-1"]
    po.status = "cancelled"
    with pytest.raises(Conflict, match="cancelled"):
        receive_against_line(uow, line.id, "S", D("1"), 1, NOW)
    assert line.received_qty == 0 and uow.purchase_orders.receipts_ == []


def test_an_explicit_tolerance_overrides_the_plants() -> None:
    uow = _uow()
    _po(uow)
    line = uow.purchase_orders.lines("PO-1")[0]
    with pytest.raises(OverReceiptError):
        receive_against_line(uow, line.id, "S", D("100.01"), 1, NOW, tolerance=D(0))
    assert receive_against_line(uow, line.id, "S", D("100"), 1, NOW, tolerance=D(0))["open_qty"] == "0"
