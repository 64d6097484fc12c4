"""Purchase orders (issue 14) through the API: create and read by role, goods receipts against a
line (partial, over tolerance -> 409 with nothing written, other item -> 400), open quantity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from support.api import err, ok, token
from support.costing import worked_example_master

from central.bootstrap import Container

API = "/api/v1"


def _po(po_id: str = "PO-1", qty: str = "100", due: str | None = None) -> dict[str, object]:
    due = due or (datetime.now(UTC).date() + timedelta(days=3)).isoformat()
    return {"id": po_id, "supplier": "Steel Co", "plant": "P1",
            "lines": [{"item": "S", "qty": qty, "unit_price": "4.10", "due": due},
                      {"item": "F", "qty": "400", "unit_price": "0.25", "due": due}]}


def test_create_and_read_purchase_orders_by_role(central: Container, client: TestClient,
                                                 admin: dict[str, str]) -> None:
    ok(client.post(f"{API}/master-data", json=worked_example_master(), headers=admin))
    planner, controller = token(central, "pia", "planner"), token(central, "carl", "controller")
    operator = token(central, "otto", "operator")
    err(client.post(f"{API}/purchase-orders", json=_po(), headers=operator), 403)
    po = ok(client.post(f"{API}/purchase-orders", json=_po(), headers=planner), 201)
    assert po["status"] == "open" and po["entity"] == "E1" and po["created_by"] == "pia"
    assert [(ln["line_no"], ln["item"], ln["qty"], ln["open_qty"]) for ln in po["lines"]] == [
        (1, "S", "100", "100"), (2, "F", "400", "400")]
    ok(client.post(f"{API}/purchase-orders", json=_po("PO-2"), headers=controller), 201)
    err(client.post(f"{API}/purchase-orders", json=_po("PO-2"), headers=controller), 409, "conflict")
    listed = ok(client.get(f"{API}/purchase-orders?item=F", headers=operator))["purchase_orders"]
    assert [p["id"] for p in listed] == ["PO-1", "PO-2"]
    assert ok(client.get(f"{API}/purchase-orders/PO-1", headers=operator))["lines"][0]["unit_price"] == "4.100000"
    err(client.get(f"{API}/purchase-orders/PO-9", headers=operator), 404, "not_found")


def test_bad_purchase_orders_are_4xx_and_write_nothing(client: TestClient, admin: dict[str, str]) -> None:
    ok(client.post(f"{API}/master-data", json=worked_example_master(), headers=admin))
    bad_item = _po()
    bad_item["lines"][0]["item"] = "NOPE"  # type: ignore[index]
    err(client.post(f"{API}/purchase-orders", json=bad_item, headers=admin), 400, "bad_input")
    err(client.post(f"{API}/purchase-orders", json=_po(qty="0"), headers=admin), 400, "bad_input")
    err(client.post(f"{API}/purchase-orders", json=_po(qty="-5"), headers=admin), 400)
    err(client.post(f"{API}/purchase-orders", json={**_po(), "lines": []}, headers=admin), 422)
    err(client.post(f"{API}/purchase-orders", json=_po(due="9999-01-01"), headers=admin), 422)
    err(client.post(f"{API}/purchase-orders", json={**_po(), "plant": "P9"}, headers=admin), 400)
    assert ok(client.get(f"{API}/purchase-orders", headers=admin))["purchase_orders"] == []


def test_receipts_against_a_line_partial_then_over_tolerance_refused(client: TestClient,
                                                                      admin: dict[str, str]) -> None:
    ok(client.post(f"{API}/master-data", json=worked_example_master(), headers=admin))
    po = ok(client.post(f"{API}/purchase-orders", json=_po(), headers=admin), 201)
    line = po["lines"][0]["id"]

    def receive(qty: str, item: str = "S", price: str = "4.20") -> object:
        return client.post(f"{API}/goods-receipts", headers=admin, json={
            "item": item, "qty": qty, "unit_price": price, "ref": "GRN", "purchase_order_line": line})

    first = ok(receive("60"), 201)
    assert first["unit_price"] == "4.200000"  # the actual price, not the PO's 4.10
    assert first["data"]["purchase_order_line"]["open_qty"] == "40"
    ok(receive("44"), 201)  # 104 of 100: within the 5 % tolerance
    before = len(ok(client.get(f"{API}/goods-receipts", headers=admin))["goods_receipts"])
    body = err(receive("2"), 409, "over_receipt")  # 106 > 105
    assert body["detail"]["limit"] == "105.00"
    err(receive("1", item="F"), 400, "bad_input")
    assert len(ok(client.get(f"{API}/goods-receipts", headers=admin))["goods_receipts"]) == before
    got = ok(client.get(f"{API}/purchase-orders/PO-1", headers=admin))["lines"][0]
    assert (got["received_qty"], got["open_qty"], len(got["receipts"])) == ("104", "0", 2)
    err(client.post(f"{API}/goods-receipts", headers=admin, json={
        "item": "S", "qty": "1", "unit_price": "4", "purchase_order_line": 99999}), 404)
    # a receipt without a PO line keeps working
    ok(client.post(f"{API}/goods-receipts", headers=admin, json={"item": "S", "qty": "1", "unit_price": "4"}), 201)
    assert [p["id"] for p in ok(client.get(f"{API}/purchase-orders?open=true", headers=admin))["purchase_orders"]] \
        == ["PO-1"]  # line 2 (F) is still open


def test_over_receipt_tolerance_from_master_data_at_and_just_over(client: TestClient,
                                                                  admin: dict[str, str]) -> None:
    """The plant's ``alert_thresholds.over_receipt_tolerance`` (12 % here; default 5 %): exactly at the
    limit is accepted, 0.01 more is a 409 that writes nothing; a PO without a plant keeps the default."""
    master = worked_example_master()
    plant = next(p for p in master["plants"] if p["id"] == "P1")
    plant["alert_thresholds"] = {**plant.get("alert_thresholds", {}), "over_receipt_tolerance": "0.12"}
    ok(client.post(f"{API}/master-data", json=master, headers=admin))
    po = ok(client.post(f"{API}/purchase-orders", json=_po(), headers=admin), 201)
    no_plant = ok(client.post(f"{API}/purchase-orders", json={**_po("PO-NP"), "plant": None}, headers=admin), 201)

    def receive(line: int, qty: str) -> object:
        return client.post(f"{API}/goods-receipts", headers=admin, json={
            "item": "S", "qty": qty, "unit_price": "4.10", "purchase_order_line": line})

    line, default_line = po["lines"][0]["id"], no_plant["lines"][0]["id"]
    ok(receive(line, "100"), 201)
    body = err(receive(line, "12.01"), 409, "over_receipt")  # 112.01 > 112
    assert body["detail"]["limit"] == "112.00"
    ok(receive(line, "12"), 201)  # exactly 112: at the tolerance
    assert ok(client.get(f"{API}/purchase-orders/PO-1", headers=admin))["lines"][0]["received_qty"] == "112"
    ok(receive(default_line, "105"), 201)  # the default 5 %: at the limit
    err(receive(default_line, "0.01"), 409, "over_receipt")

    bad = worked_example_master()
    next(p for p in bad["plants"] if p["id"] == "P1")["alert_thresholds"] = {"over_receipt_tolerance": "1.5"}
    body = err(client.post(f"{API}/master-data", json=bad, headers=admin), 422)
    assert "over_receipt_tolerance" in str(body)
