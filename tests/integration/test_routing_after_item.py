"""A plant engineer creates a manufactured item first (``POST /items``) and its routing next
(``POST /routings``). Until the routing exists, whatever needs it (a work order, its release or
start, the item's standard cost) refuses naming the missing routing; nothing else breaks. A
master-data file stays strict: a manufactured item in it needs its routing in the merged set."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from support.api import ok
from support.costing import MACHINE, worked_example_master

from central.bootstrap import Container
from central.domain.costing import missing_routings, roll_up, standard_cost
from central.domain.errors import MasterDataError
from central.service_layer.costing.master_data import snapshot

API = "/api/v1"
ROUTING = {"item": "BR-300", "work_center": "WC-PRESS", "labor_hours": "0.05", "machine_hours": "0.05"}


def refused(resp: Any, status: int, code: str, *names: str) -> str:
    assert resp.status_code == status, resp.text
    body = resp.json()["error"]
    assert body["code"] == code, body
    text = str(body["message"]) + repr(body.get("detail"))
    for name in names:
        assert repr(name) in text and "routing" in text, text
    return text


def receipt(client: TestClient, h: dict[str, str], ref: str) -> None:
    today = datetime.now(UTC).date().isoformat()
    ok(client.post(f"{API}/goods-receipts", json={"item": "S", "qty": "10", "unit_price": "4.00", "ref": ref,
                                                   "posting_date": today}, headers=h), 201)


def test_item_first_then_routing_and_work_orders_wait_for_it(
    central: Container, client: TestClient, admin: dict[str, str]
) -> None:
    ok(client.post(f"{API}/master-data", json=worked_example_master(), headers=admin))
    ok(client.post(f"{API}/items", json={"id": "BR-300", "class": "finished", "unit": "pcs"}, headers=admin), 201)
    assert ok(client.get(f"{API}/items/BR-300", headers=admin))["class"] == "finished"
    refused(client.post(f"{API}/work-orders", json={"id": "WO-3", "item": "BR-300", "qty": "5"}, headers=admin),
            409, "routing_missing", "BR-300")
    receipt(client, admin, "GR-1")  # postings of other items go on: the roll-up leaves BR-300 out
    with central.read_sessions() as s:
        master = snapshot(s).master
    assert "BR-300" not in roll_up(master) and "BR-100" in roll_up(master)
    with pytest.raises(MasterDataError, match=r"BR-300.*routing"):
        standard_cost(master, "BR-300")
    ok(client.post(f"{API}/routings", json=ROUTING, headers=admin), 201)
    ok(client.post(f"{API}/work-orders", json={"id": "WO-3", "item": "BR-300", "qty": "5"}, headers=admin), 201)
    ok(client.post(f"{API}/work-orders/WO-3/release", headers=admin))
    ok(client.post(f"{API}/work-orders/WO-3/start", json={"machine": MACHINE}, headers=admin))
    assert ok(client.get(f"{API}/work-orders/WO-3/cost", headers=admin))


def test_a_component_without_routing_holds_release_start_and_cost(
    central: Container, client: TestClient, admin: dict[str, str]
) -> None:
    ok(client.post(f"{API}/master-data", json=worked_example_master(), headers=admin))
    ok(client.post(f"{API}/items", json={"id": "BR-300", "class": "finished", "unit": "pcs"}, headers=admin), 201)
    ok(client.post(f"{API}/routings", json=ROUTING, headers=admin), 201)
    ok(client.post(f"{API}/work-orders", json={"id": "WO-A", "item": "BR-300", "qty": "5"}, headers=admin), 201)
    ok(client.post(f"{API}/work-orders", json={"id": "WO-B", "item": "BR-300", "qty": "5"}, headers=admin), 201)
    ok(client.post(f"{API}/work-orders/WO-B/release", headers=admin))
    # a semi-finished component comes in before its routing, into a new BOM of BR-300
    ok(client.post(f"{API}/items", json={"id": "SEMI-1", "class": "semi", "unit": "pcs"}, headers=admin), 201)
    ok(client.post(f"{API}/boms", json={"item": "BR-300", "components": [{"item": "SEMI-1", "qty": "1"}]},
                   headers=admin), 201)
    refused(client.post(f"{API}/work-orders/WO-A/release", headers=admin), 409, "routing_missing", "SEMI-1")
    refused(client.post(f"{API}/work-orders/WO-B/start", json={"machine": MACHINE}, headers=admin),
            409, "routing_missing", "SEMI-1")
    refused(client.get(f"{API}/work-orders/WO-B/cost", headers=admin), 422, "invalid_master_data", "SEMI-1")
    receipt(client, admin, "GR-2")
    with central.read_sessions() as s:
        master = snapshot(s).master
    assert missing_routings(master, "BR-300") == ("SEMI-1",)
    with pytest.raises(MasterDataError, match="SEMI-1"):
        standard_cost(master, "BR-300")
    ok(client.post(f"{API}/routings", json={**ROUTING, "item": "SEMI-1"}, headers=admin), 201)
    ok(client.post(f"{API}/work-orders/WO-A/release", headers=admin))
    ok(client.post(f"{API}/work-orders/WO-B/start", json={"machine": MACHINE}, headers=admin))


def test_a_file_stays_strict_and_a_pending_item_does_not_block_other_files(
    client: TestClient, admin: dict[str, str]
) -> None:
    doc = worked_example_master()
    doc["items"].append({"id": "BR-300", "class": "finished", "unit": "pcs"})
    resp = client.post(f"{API}/master-data", json=doc, headers=admin)
    assert resp.status_code == 422, resp.text
    details = {d["key_path"]: d["message"] for d in resp.json()["error"]["detail"]}
    assert details == {f"items[{len(doc['items']) - 1}]": "manufactured item 'BR-300' has no routing"}
    ok(client.post(f"{API}/master-data", json=worked_example_master(), headers=admin))
    later = {"items": [{"id": "BR-400", "class": "finished", "unit": "pcs"}]}
    resp = client.post(f"{API}/master-data", json=later, headers=admin)
    assert resp.status_code == 422 and "BR-400" in resp.text, resp.text
    ok(client.post(f"{API}/items", json={"id": "BR-300", "class": "finished", "unit": "pcs"}, headers=admin), 201)
    again = ok(client.post(f"{API}/master-data", json=worked_example_master(), headers=admin))
    assert not again["changed"]
    ok(client.post(f"{API}/master-data", json={"routings": [ROUTING]}, headers=admin))
