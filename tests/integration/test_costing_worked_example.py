"""ACCOUNTING.md's worked example through the API, to the cent: master data from YAML, receipts,
issues, bookings and actuals by API, the machine timeline as real event batches through a real
broker into the ingest, dispatch after the fact, complete, close order, close period, and every
figure read back from the report endpoints."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from support.api import api_client, ok, token
from support.central import FakeEdge, start_ingest
from support.costing import (
    MACHINE,
    chunks,
    period_id,
    timeline,
    window_start,
    wire_events,
    worked_example_master,
)

from central.adapters.db.models_ingest import StreamRow
from central.bootstrap import Container
from central.service_layer.costing.master_data import load_file
from sfsync.broker import BrokerProcess
from shared.waiting import wait_until

API = "/api/v1"
STREAM = "s-worked"


def headers(c: Container, role: str) -> dict[str, str]:
    return token(c, role + "-user", role)


def acked(c: Container, stream: str) -> int:
    with c.read_sessions() as s:
        row = s.get(StreamRow, stream)
        return row.acked_through if row else 0


@pytest.mark.timeout(300)
def test_worked_example_to_the_cent_through_broker_and_api(
    central: Container, broker: BrokerProcess, tmp_path: Path
) -> None:
    master = tmp_path / "master.yaml"
    master.write_text(yaml.safe_dump(worked_example_master(), sort_keys=False))
    with central.write_sessions() as s, s.begin():
        assert load_file(s, master, "engineer")["changed"]
    with central.write_sessions() as s, s.begin():
        assert not load_file(s, master, "engineer")["changed"]  # idempotent
    client = api_client(central)
    op, planner, ctl = headers(central, "operator"), headers(central, "planner"), headers(central, "controller")
    ok(client.post(f"{API}/goods-receipts", json={"item": "S", "qty": "1300", "unit_price": "3.90", "ref": "PO-1"},
                   headers=op), 201)
    ok(client.post(f"{API}/goods-receipts", json={"item": "F", "qty": "3400", "unit_price": "0.26", "ref": "PO-2"},
                   headers=op), 201)
    ok(client.post(f"{API}/work-orders", json={"id": "WO-1", "item": "BR-100", "qty": "800"}, headers=planner), 201)
    ok(client.post(f"{API}/work-orders/WO-1/release", headers=planner))

    t0 = window_start()
    docs = wire_events(timeline(t0))
    ingest = start_ingest(central, broker.host, broker.port, "central-costing")
    edge = FakeEdge(broker.host, broker.port)
    try:
        half = len(docs) // 2
        for part in chunks(docs[:half], 50):  # before the dispatch: these wait unassigned
            edge.publish(part, stream=STREAM)
        edge.wait_ack(STREAM, half, timeout=120)
        assert len(ok(client.get(f"{API}/unassigned?limit=1000", headers=ctl))["events"]) > 0
        ok(client.post(f"{API}/work-orders/WO-1/start", json={"machine": MACHINE, "at": t0.isoformat()},
                       headers=planner))  # dispatch after the fact: the waiting events post
        assert ok(client.get(f"{API}/unassigned", headers=ctl))["events"] == []
        for part in chunks(docs[half:], 50):
            edge.publish(part, stream=STREAM)
        edge.wait_ack(STREAM, len(docs), timeout=120)
        wait_until("all events stored", lambda: acked(central, STREAM) == len(docs), 30)
    finally:
        edge.close()
        ingest.stop()

    for item, qty in (("S", "1260"), ("F", "3330")):
        ok(client.post(f"{API}/work-orders/WO-1/material-issues", json={"item": item, "qty": qty}, headers=op), 201)
    ok(client.post(f"{API}/labor-bookings", json={"work_center": "WC-PRESS", "period": period_id(), "hours": "39",
                                                 "amount": "1014.00"}, headers=ctl), 201)
    for kind, amount in (("variable", "560.00"), ("fixed", "1380.00")):
        ok(client.post(f"{API}/overhead-actuals", json={"work_center": "WC-PRESS", "period": period_id(),
                                                       "kind": kind, "amount": amount}, headers=ctl), 201)
    end = t0 + timedelta(hours=40)
    wo = ok(client.post(f"{API}/work-orders/WO-1/complete", json={"at": end.isoformat()}, headers=planner))
    assert (wo["good_qty"], wo["scrap_qty"], wo["status"]) == ("800", "30", "completed")
    ok(client.post(f"{API}/work-orders/WO-1/close", headers=ctl))
    ok(client.post(f"{API}/periods/{period_id()}/close", headers=ctl))

    tb = ok(client.get(f"{API}/trial-balance", headers=ctl))
    sides = {line["role"]: (line["debit"], line["credit"]) for line in tb["lines"]}
    assert sides["raw_materials"] == ("177.50", "0.00")
    assert sides["finished_goods"] == ("8240.00", "0.00")
    assert sides["abnormal_spoilage"] == ("60.00", "0.00")
    assert sides["material_price_variance"] == ("0.00", "96.00")
    assert sides["material_usage_variance"] == ("62.50", "0.00")
    assert sides["labor_rate_variance"] == ("39.00", "0.00")
    assert sides["labor_idle_variance"] == ("100.00", "0.00")
    assert sides["labor_efficiency_variance"] == ("45.00", "0.00")
    assert sides["voh_spending_variance"] == ("35.00", "0.00")
    assert sides["voh_efficiency_variance"] == ("27.00", "0.00")
    assert sides["foh_budget_variance"] == ("0.00", "20.00")
    assert sides["foh_volume_variance"] == ("238.00", "0.00")
    assert sides["accounts_payable"] == ("0.00", "5954.00")
    assert sides["wages_payable"] == ("0.00", "1014.00")
    assert sides["overhead_payable"] == ("0.00", "1940.00")
    for role in ("wip", "labor_control", "voh_control", "foh_control"):
        assert sides.get(role, ("0.00", "0.00")) == ("0.00", "0.00"), role
    assert sides.get("rounding", ("0.00", "0.00")) == ("0.00", "0.00")
    assert tb["total_debit"] == tb["total_credit"] == "9024.00"

    var = ok(client.get(f"{API}/reports/variances", headers=ctl))
    by_type: dict[tuple[str, str | None], str] = {(v["type"], v.get("item") or v.get("reason")): v["amount"]
                                                  for v in var["variances"]}
    assert by_type[("material_price", "S")] == "-130.00" and by_type[("material_price", "F")] == "34.00"
    assert by_type[("material_usage", "S")] == "60.00" and by_type[("material_usage", "F")] == "2.50"
    assert by_type[("labor_idle", "EQ_FAIL")] == "75.00" and by_type[("labor_idle", "MATERIAL")] == "25.00"
    assert by_type[("labor_rate", None)] == "39.00"
    assert by_type[("labor_efficiency", "BR-100")] == "45.00"
    assert by_type[("voh_spending", None)] == "35.00" and by_type[("voh_efficiency", "BR-100")] == "27.00"
    assert by_type[("foh_budget", None)] == "-20.00" and by_type[("foh_volume", None)] == "238.00"
    assert by_type[("abnormal_spoilage", "BR-100")] == "60.00"
    assert var["total"] == "490.50"

    window = {"from": t0.isoformat(), "to": end.isoformat()}
    coq = ok(client.get(f"{API}/reports/cost-of-quality", params=window, headers=ctl))
    assert (coq["total"], coq["normal"], coq["abnormal"]) == ("300.00", "240.00", "60.00")
    down = ok(client.get(f"{API}/reports/downtime", params={**window, "machine": MACHINE}, headers=ctl))
    assert down["total_cost"] == "240.00"
    assert {r["reason"]: r["cost"] for r in down["rows"]} == {"EQ_FAIL": "180.00", "MATERIAL": "60.00"}
    assert {r["reason"]: r["category"] for r in down["rows"]} == {"EQ_FAIL": "equipment", "MATERIAL": "material"}
    oee = ok(client.get(f"{API}/reports/oee", params={**window, "machine": MACHINE}, headers=ctl))
    assert (oee["availability"], oee["performance"], oee["quality"], oee["oee"]) == (
        "0.8974", "0.9486", "0.9639", "0.8205")
    assert (oee["good"], oee["scrap"], oee["planned_time_h"], oee["run_time_h"]) == ("800", "30", "39.0000", "35.0000")

    sheet = ok(client.get(f"{API}/work-orders/WO-1/cost", headers=ctl))
    assert (sheet["standard_unit_cost"], sheet["good_unit_cost"]) == ("10.000000", "10.300000")
    assert (sheet["run_hours"], sheet["standard_hours"]) == ("35.0000", "33.2000")
    wip = ok(client.get(f"{API}/reports/wip", headers=ctl))
    assert wip["total"] == "0.00"
    valuation = ok(client.get(f"{API}/reports/inventory-valuation", headers=ctl))
    values = {(r["role"], r["item"]): r["value"] for r in valuation["rows"]}
    assert values[("raw_materials", "S")] == "160.00" and values[("raw_materials", "F")] == "17.50"
    assert values[("finished_goods", "BR-100")] == "8240.00"

    # lineage of a finished-goods line reaches the raw counter values
    fg = ok(client.get(f"{API}/journal", params={"kind": "finished_goods", "limit": 1000}, headers=ctl))["entries"]
    assert fg
    entry = ok(client.get(f"{API}/journal/{fg[-1]['id']}", headers=ctl))
    events = entry["lineage"]["events"]
    assert events and all(e["kind"] in ("count", "scrap") and e["raw"]["tag"] in ("count", "scrap") for e in events)
    assert all(e["raw"]["value"] == e["raw"]["prev"] + 1 for e in events)
    assert entry["lineage"]["record"]["work_order"] == "WO-1"
