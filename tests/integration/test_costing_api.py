"""The costing API on a real SQLite database: master data (idempotent, key paths), bad input
(4xx with the JSON error shape, nothing half-written), dispatch after the fact and
re-attribution, suspect events, late events for closed orders and periods."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from support.api import err, ok, token
from support.costing import MACHINE, ingest, period_id, wire_events, worked_example_master

from central.bootstrap import Container
from central.service_layer.costing.master_data import load_file

API = "/api/v1"
ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "central" / "demo_master.yaml"
EXAMPLE = ROOT / "deploy" / "examples" / "master-data.yaml"


def journal_size(client: TestClient, h: dict[str, str]) -> int:
    return int(ok(client.get(f"{API}/journal?limit=1", headers=h))["total"])


def setup_example(client: TestClient, h: dict[str, str], doc: dict[str, Any] | None = None) -> None:
    ok(client.post(f"{API}/master-data", json=doc or worked_example_master(), headers=h))
    ok(client.post(f"{API}/work-orders", json={"id": "WO-1", "item": "BR-100", "qty": "100"}, headers=h), 201)
    ok(client.post(f"{API}/work-orders/WO-1/release", headers=h))


def test_master_data_is_idempotent_and_refuses_unknown_keys_and_dangling_references(
    central: Container, client: TestClient, admin: dict[str, str]
) -> None:
    doc = worked_example_master()
    first = ok(client.post(f"{API}/master-data", json=doc, headers=admin))
    assert first["changed"] and first["sections"]["accounts"]["created"] == 20
    again = ok(client.post(f"{API}/master-data", json=doc, headers=admin))
    assert not again["changed"] and again["version"] == first["version"]
    bad = copy.deepcopy(doc)
    bad["items"][0]["colour"] = "blue"
    body = err(client.post(f"{API}/master-data", json=bad, headers=admin), 422, "invalid_master_data")
    assert {"key_path": "items[0].colour", "message": "unknown key"} in body["detail"]
    bad = copy.deepcopy(doc)
    bad["routings"][0]["work_center"] = "WC-NOPE"
    body = err(client.post(f"{API}/master-data", json=bad, headers=admin), 422)
    assert any(d["key_path"] == "routings[0].work_center" for d in body["detail"])
    bad = copy.deepcopy(doc)
    bad["items"][0]["standard_cost"] = 4.0  # a JSON float
    body = err(client.post(f"{API}/master-data", json=bad, headers=admin), 422)
    assert body["detail"][0]["key_path"] == "items[0].standard_cost"
    change = copy.deepcopy(doc)
    change["items"][0]["standard_cost"] = "4.10"  # a standard cost change after the first load waits
    pending = ok(client.post(f"{API}/master-data", json=change, headers=admin))["pending_approval"]
    assert pending["key_paths"] == ["items[0]"]
    items = ok(client.get(f"{API}/items", headers=admin))["items"]
    assert next(i for i in items if i["id"] == "S")["standard_cost"] == "4.00"
    err(client.post(f"{API}/approvals/{pending['id']}/approve", json={}, headers=admin), 403)  # not the requester
    other = token(central, "carla", "controller")
    ok(client.post(f"{API}/approvals/{pending['id']}/approve", json={}, headers=other))
    items = ok(client.get(f"{API}/items", headers=admin))["items"]
    assert next(i for i in items if i["id"] == "S")["standard_cost"] == "4.10"
    # CRUD: a new item, a duplicate refused, a change to a harmless field
    ok(client.post(f"{API}/items", json={"id": "G", "class": "raw", "standard_cost": "1.50"}, headers=admin), 201)
    err(client.post(f"{API}/items", json={"id": "G", "class": "raw", "standard_cost": "1.50"}, headers=admin), 409)
    ok(client.put(f"{API}/items/G", json={"id": "G", "class": "raw", "standard_cost": "1.50", "unit": "kg"},
                  headers=admin))
    assert ok(client.get(f"{API}/items/G", headers=admin))["unit"] == "kg"
    err(client.get(f"{API}/items/NOPE", headers=admin), 404)


def test_example_master_data_file_loads(central: Container) -> None:
    with central.write_sessions() as s, s.begin():
        summary = load_file(s, EXAMPLE, "engineer")
    assert summary["changed"] and summary["sections"]["accounts"]["created"] == 20


def test_demo_master_data_loads_and_registers_machines(central: Container) -> None:
    with central.write_sessions() as s, s.begin():
        summary = load_file(s, DEMO, "engineer")
    assert summary["sections"]["machines"]["created"] == 4 and summary["sections"]["work_centers"]["created"] == 2
    from central.adapters.db.models_ingest import EdgeRow, MachineRow

    with central.read_sessions() as s:
        assert s.get(EdgeRow, "edge-1") is not None
        assert {m.id: m.work_center for m in s.query(MachineRow)} == {
            "PRESS-1": "WC-PRESS", "PRESS-2": "WC-PRESS", "CNC-1": "WC-CNC", "CNC-2": "WC-CNC"}


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/goods-receipts", {"item": "NOPE", "qty": "1", "unit_price": "1.00"}, 400),
        ("/goods-receipts", {"item": "S", "qty": "0", "unit_price": "1.00"}, 400),
        ("/goods-receipts", {"item": "S", "qty": "-5", "unit_price": "1.00"}, 400),
        ("/goods-receipts", {"item": "S", "qty": "5", "unit_price": 3.9}, 422),
        ("/goods-receipts", {"item": "S", "qty": "5", "unit_price": "3.1234567"}, 422),
        ("/labor-bookings", {"work_center": "WC-PRESS", "period": "P-TEST", "hours": "1", "amount": "10.123"}, 422),
        ("/labor-bookings", {"work_center": "WC-PRESS", "period": "P-TEST", "hours": "1", "amount": 10.5}, 422),
        ("/labor-bookings", {"work_center": "WC-NOPE", "period": "P-TEST", "hours": "1", "amount": "10.00"}, 400),
        ("/overhead-actuals", {"work_center": "WC-PRESS", "period": "P-TEST", "kind": "odd", "amount": "1.00"}, 422),
        ("/work-orders", {"item": "NOPE", "qty": "10"}, 400),
        ("/work-orders", {"item": "BR-100", "qty": "0"}, 400),
        ("/work-orders", {"item": "S", "qty": "10"}, 400),
        ("/work-orders/WO-1/material-issues", {"item": "S", "qty": "0"}, 400),
        ("/work-orders/WO-1/material-issues", {"item": "NOPE", "qty": "1"}, 400),
        ("/work-orders/WO-1/start", {"machine": "NOPE"}, 400),
        ("/work-orders/WO-1/close", {}, 409),
        ("/work-orders/WO-9/close", {}, 404),
    ],
)
def test_bad_input_is_refused_with_the_error_shape_and_nothing_written(
    client: TestClient, admin: dict[str, str], path: str, body: dict[str, Any], status: int
) -> None:
    setup_example(client, admin)
    before = journal_size(client, admin)
    err(client.post(f"{API}{path}", json=body, headers=admin), status)
    assert journal_size(client, admin) == before
    assert ok(client.get(f"{API}/goods-receipts", headers=admin))["goods_receipts"] == []


def test_inputs_into_a_closed_period_are_refused(client: TestClient, admin: dict[str, str]) -> None:
    doc = worked_example_master()
    today = datetime.now(UTC).date()
    doc["periods"].append({"id": "P-OLD", "start": (today - timedelta(days=60)).isoformat(),
                           "end": (today - timedelta(days=31)).isoformat()})
    setup_example(client, admin, doc)
    ok(client.post(f"{API}/periods/P-OLD/close", headers=admin))
    err(client.post(f"{API}/periods/P-OLD/close", headers=admin), 409)
    before = journal_size(client, admin)
    old_day = (today - timedelta(days=40)).isoformat()
    err(client.post(f"{API}/goods-receipts", json={"item": "S", "qty": "1", "unit_price": "4.00",
                                                   "posting_date": old_day}, headers=admin), 409, "period_closed")
    err(client.post(f"{API}/labor-bookings", json={"work_center": "WC-PRESS", "period": "P-OLD", "hours": "1",
                                                   "amount": "25.00"}, headers=admin), 409, "period_closed")
    err(client.post(f"{API}/work-orders/WO-1/material-issues", json={"item": "S", "qty": "1",
                                                                     "posting_date": old_day}, headers=admin), 409)
    assert journal_size(client, admin) == before
    periods = {p["id"]: p["status"] for p in ok(client.get(f"{API}/periods", headers=admin))["periods"]}
    assert periods == {"P-OLD": "closed", "P-TEST": "open"}


def _units(t0: datetime, n: int, first_seq: int, kind: str = "count", flags: list[str] | None = None) -> list[Any]:
    return wire_events([{"kind": kind, "ts": t0 + timedelta(minutes=i), "qty": 1, "flags": flags or [],
                         "reason": "BURR" if kind == "scrap" else None,
                         "raw": {"tag": kind, "value": first_seq + i, "prev": first_seq + i - 1}}
                        for i in range(n)], first_seq=first_seq)


def _fg(client: TestClient, h: dict[str, str]) -> str:
    tb = ok(client.get(f"{API}/trial-balance", headers=h))
    return next((x["balance"] for x in tb["lines"] if x["role"] == "finished_goods"), "0.00")


def test_dispatch_after_the_fact_stop_in_the_past_and_assignment(
    central: Container, client: TestClient, admin: dict[str, str]
) -> None:
    setup_example(client, admin)
    t0 = (datetime.now(UTC) - timedelta(hours=5)).replace(microsecond=0)
    ingest(central, [*wire_events([{"kind": "state", "ts": t0, "state": "running",
                                    "raw": {"tag": "state", "value": 1, "prev": 0}}]),
                     *_units(t0 + timedelta(minutes=1), 20, 2)], 7)
    assert len(ok(client.get(f"{API}/unassigned?limit=100", headers=admin))["events"]) == 20
    assert _fg(client, admin) == "0.00"
    ok(client.post(f"{API}/work-orders/WO-1/start", json={"machine": MACHINE, "at": t0.isoformat()}, headers=admin))
    assert ok(client.get(f"{API}/unassigned", headers=admin))["events"] == []
    assert _fg(client, admin) == "206.00"  # 20 x 10.30
    # the order really stopped after 10 units: the other 10 go back to the queue, by reversal
    stop_at = t0 + timedelta(minutes=10, seconds=30)
    ok(client.post(f"{API}/work-orders/WO-1/stop", json={"at": stop_at.isoformat()}, headers=admin))
    waiting = ok(client.get(f"{API}/unassigned?limit=100", headers=admin))["events"]
    assert len(waiting) == 10 and _fg(client, admin) == "103.00"
    assert ok(client.get(f"{API}/work-orders/WO-1", headers=admin))["good_qty"] == "10"
    ok(client.post(f"{API}/unassigned/{waiting[0]['id']}/assign", json={"work_order": "WO-1"}, headers=admin))
    assert _fg(client, admin) == "113.30"
    err(client.post(f"{API}/unassigned/{waiting[0]['id']}/assign", json={"work_order": "WO-1"}, headers=admin), 404)
    tb = ok(client.get(f"{API}/trial-balance", headers=admin))
    assert tb["total_debit"] == tb["total_credit"]


def test_suspect_events_are_held_until_a_controller_decides(
    central: Container, client: TestClient, admin: dict[str, str]
) -> None:
    setup_example(client, admin)
    t0 = (datetime.now(UTC) - timedelta(hours=3)).replace(microsecond=0)
    ok(client.post(f"{API}/work-orders/WO-1/start", json={"machine": MACHINE, "at": t0.isoformat()}, headers=admin))
    ingest(central, [*_units(t0 + timedelta(minutes=1), 2, 1, flags=["suspect"]),
                     *_units(t0 + timedelta(minutes=5), 1, 3)], 10)
    held = ok(client.get(f"{API}/suspect-events", headers=admin))["events"]
    assert len(held) == 2 and _fg(client, admin) == "10.30"
    ok(client.post(f"{API}/suspect-events/{held[0]['id']}/accept", headers=admin))
    ok(client.post(f"{API}/suspect-events/{held[1]['id']}/reject", headers=admin))
    assert _fg(client, admin) == "20.60"
    assert ok(client.get(f"{API}/suspect-events", headers=admin))["events"] == []
    err(client.post(f"{API}/suspect-events/{held[1]['id']}/accept", headers=admin), 404)


def test_late_events_for_a_closed_order_and_a_closed_period(
    central: Container, client: TestClient, admin: dict[str, str]
) -> None:
    doc = worked_example_master()
    today = datetime.now(UTC).date()
    doc["periods"].append({"id": "P-OLD", "start": (today - timedelta(days=60)).isoformat(),
                           "end": (today - timedelta(days=31)).isoformat()})
    setup_example(client, admin, doc)
    t0 = datetime.combine(today - timedelta(days=40), datetime.min.time(), tzinfo=UTC).replace(hour=8)
    ok(client.post(f"{API}/work-orders/WO-1/start", json={"machine": MACHINE, "at": t0.isoformat()}, headers=admin))
    running = wire_events([{"kind": "state", "ts": t0, "state": "running", "raw": {"tag": "s", "value": 1,
                                                                                      "prev": 0}}])
    ingest(central, [*running, *_units(t0 + timedelta(minutes=1), 10, 2)], 50)
    ok(client.post(f"{API}/work-orders/WO-1/complete", json={"at": (t0 + timedelta(hours=2)).isoformat()},
                   headers=admin))
    ok(client.post(f"{API}/work-orders/WO-1/close", headers=admin))
    ok(client.post(f"{API}/periods/P-OLD/close", headers=admin))
    # an event dated in the closed period, for the closed order, arrives late
    seen = journal_size(client, admin)
    ingest(central, _units(t0 + timedelta(minutes=30), 1, 12, kind="scrap"), 1)
    late = ok(client.get(f"{API}/journal", params={"offset": seen, "limit": 100}, headers=admin))["entries"]
    assert all(e["period"] == period_id() for e in late)
    assert late and all(e["late"] and e["original_date"] == t0.date().isoformat() for e in late)
    kinds = {e["kind"] for e in late}
    assert "conversion_applied" in kinds and "work_order_close" in kinds  # the close was recomputed
    wip = ok(client.get(f"{API}/reports/wip", headers=admin))
    assert wip["total"] == "0.00"
    alerts = ok(client.get(f"{API}/alerts", headers=admin))
    assert "late_event:WO-1" in str(alerts)
    old = ok(client.get(f"{API}/journal", params={"period": "P-OLD", "limit": 100}, headers=admin))["entries"]
    assert old and not any(e["late"] for e in old)


def test_backflush_below_zero_posts_and_raises_a_negative_inventory_alert(
    central: Container, client: TestClient, admin: dict[str, str]
) -> None:
    with central.write_sessions() as s, s.begin():
        load_file(s, DEMO, "engineer")  # monthly periods; PL-200 backflushes washers (W)
    ok(client.post(f"{API}/work-orders", json={"id": "WO-W", "item": "PL-200", "qty": "10"}, headers=admin), 201)
    ok(client.post(f"{API}/work-orders/WO-W/release", headers=admin))
    t0 = (datetime.now(UTC) - timedelta(hours=2)).replace(microsecond=0)
    ok(client.post(f"{API}/work-orders/WO-W/start", json={"machine": "PRESS-1", "at": t0.isoformat()},
                   headers=admin))
    docs = _units(t0 + timedelta(minutes=1), 3, 1)
    for d in docs:
        d["machine"] = "PRESS-1"
    ingest(central, docs, 10)
    values = {(r["role"], r["item"]): r["value"]
              for r in ok(client.get(f"{API}/reports/inventory-valuation", headers=admin))["rows"]}
    assert values[("raw_materials", "W")] == "-0.30"  # 3 units x 2 washers x 0.05
    assert "negative_inventory:W" in str(ok(client.get(f"{API}/alerts", headers=admin)))


def test_period_close_takes_efficiency_to_date_and_the_order_close_the_rest(
    central: Container, client: TestClient, admin: dict[str, str]
) -> None:
    doc = worked_example_master()
    today = datetime.now(UTC).date()
    doc["periods"].append({"id": "P-OLD", "start": (today - timedelta(days=60)).isoformat(),
                           "end": (today - timedelta(days=31)).isoformat()})
    setup_example(client, admin, doc)
    t0 = datetime.combine(today - timedelta(days=40), datetime.min.time(), tzinfo=UTC).replace(hour=8)
    t1 = (datetime.now(UTC) - timedelta(days=2)).replace(microsecond=0)

    def shift(start: datetime, first_seq: int) -> list[Any]:
        states = wire_events([{"kind": "state", "ts": start, "state": "running", "raw": {"tag": "s", "value": 1,
                                                                                           "prev": 0}}],
                             first_seq=first_seq)
        units = _units(start + timedelta(seconds=30), 10, first_seq + 1)
        stop = wire_events([{"kind": "state", "ts": start + timedelta(minutes=11), "state": "planned_stop",
                             "reason": "BREAK", "raw": {"tag": "s", "value": 0, "prev": 1}}], first_seq=first_seq + 11)
        return [*states, *units, *stop]

    ok(client.post(f"{API}/work-orders/WO-1/start", json={"machine": MACHINE, "at": t0.isoformat()}, headers=admin))
    ingest(central, shift(t0, 1), 50)
    ok(client.post(f"{API}/periods/P-OLD/close", headers=admin))  # the order is still open
    old = ok(client.get(f"{API}/reports/variances", params={"period": "P-OLD"}, headers=admin))["variances"]
    eff_old = {v["type"]: v["amount"] for v in old if v["type"].endswith("efficiency")}
    assert eff_old == {"labor_efficiency": "-5.42", "voh_efficiency": "-3.25"}  # (11 min - 24 min) x rate
    tb_old = ok(client.get(f"{API}/trial-balance", params={"period": "P-OLD"}, headers=admin))
    assert all(x["balance"] == "0.00" for x in tb_old["lines"] if x["role"].endswith("_control"))
    ingest(central, shift(t1, 13), 50)
    ok(client.post(f"{API}/work-orders/WO-1/complete", json={"at": (t1 + timedelta(hours=1)).isoformat()},
                   headers=admin))
    ok(client.post(f"{API}/work-orders/WO-1/close", headers=admin))
    new = ok(client.get(f"{API}/reports/variances", params={"period": period_id()}, headers=admin))["variances"]
    eff_new = {v["type"]: v["amount"] for v in new if v["type"].endswith("efficiency")}
    assert eff_new == {"labor_efficiency": "-5.41", "voh_efficiency": "-3.25"}  # the rest: totals -10.83, -6.50
    assert ok(client.get(f"{API}/reports/wip", headers=admin))["total"] == "0.00"
