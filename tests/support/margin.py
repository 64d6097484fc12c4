"""The margin scenario of the finance report tests: ACCOUNTING.md's worked-example master data
with selling prices, and other numbers than the worked example through the API (520 processed,
500 good and 20 scrap; other receipts, issues, bookings and actuals), order and period closed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from central.bootstrap import Container
from support.api import ok
from support.costing import ingest, period_id, timeline, window_start, wire_events, worked_example_master

API = "/api/v1"
GOOD, SCRAP = 500, 20


def priced_master() -> dict[str, Any]:
    doc: dict[str, Any] = worked_example_master()
    today = datetime.now(UTC).date()
    doc["selling_prices"] = [
        {"product": "BR-100", "price": "12.00", "valid_from": (today - timedelta(days=400)).isoformat()},
        {"product": "BR-100", "price": "14.25", "valid_from": (today - timedelta(days=60)).isoformat(),
         "currency": "EUR"},
    ]
    return doc


def run_scenario(central: Container, client: TestClient, h: dict[str, str]) -> datetime:
    """520 processed (500 good, 20 scrap) over the example's 40 h window; other receipts, issues,
    bookings and actuals than the worked example; order and period closed."""
    ok(client.post(f"{API}/master-data", json=priced_master(), headers=h))
    ok(client.post(f"{API}/goods-receipts", json={"item": "S", "qty": "1000", "unit_price": "4.10", "ref": "PO-7"},
                   headers=h), 201)
    ok(client.post(f"{API}/goods-receipts", json={"item": "F", "qty": "2500", "unit_price": "0.24", "ref": "PO-8"},
                   headers=h), 201)
    ok(client.post(f"{API}/work-orders", json={"id": "WO-7", "item": "BR-100", "qty": "500"}, headers=h), 201)
    ok(client.post(f"{API}/work-orders/WO-7/release", headers=h))
    t0 = window_start()
    ok(client.post(f"{API}/work-orders/WO-7/start", json={"machine": "PRESS-2", "at": t0.isoformat()}, headers=h))
    ingest(central, wire_events(timeline(t0, good=GOOD, scrap=SCRAP)), 100)
    for item, qty in (("S", "790"), ("F", "2075")):
        ok(client.post(f"{API}/work-orders/WO-7/material-issues", json={"item": item, "qty": qty}, headers=h), 201)
    ok(client.post(f"{API}/labor-bookings", json={"work_center": "WC-PRESS", "period": period_id(), "hours": "38",
                                                 "amount": "988.00"}, headers=h), 201)
    for kind, amount in (("variable", "540.00"), ("fixed", "1450.00")):
        ok(client.post(f"{API}/overhead-actuals", json={"work_center": "WC-PRESS", "period": period_id(),
                                                       "kind": kind, "amount": amount}, headers=h), 201)
    ok(client.post(f"{API}/work-orders/WO-7/complete", json={"at": (t0 + timedelta(hours=40)).isoformat()},
                   headers=h))
    ok(client.post(f"{API}/work-orders/WO-7/close", headers=h))
    ok(client.post(f"{API}/periods/{period_id()}/close", headers=h))
    return t0
