"""The API fails closed on hostile numbers and dates (API.md: decimals bounded and never rounded,
integers within int64, dates in range: 422 or 404, never a 500), writes numbers as API.md says
(money 2 places, prices 6, quantities plain), and its OpenAPI document tells the truth (bearer
scheme, error responses). SQLite, and PostgreSQL when SFSYNC_TEST_PG_URL is set."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from support.api import err, token
from support.costing import worked_example_master

from central.bootstrap import Container

API = "/api/v1"
BIG = 2**63
MAX = 2**63 - 1


@pytest.fixture
def admin(central: Container, client: TestClient) -> dict[str, str]:
    headers = token(central, "boss", "admin")
    resp = client.post(f"{API}/master-data", json=worked_example_master(), headers=headers)
    assert resp.status_code == 200, resp.text
    return headers


@pytest.mark.parametrize("query", [
    {"since": "0001-01-01T00:00:00+01:00"}, {"until": "9999-12-31T23:59:59-01:00"}, {"since": "1999-12-31T23:59:59Z"},
    {"after": str(BIG)}, {"after": "-1"}, {"limit": str(BIG)}, {"limit": "0"},
])
def test_event_and_audit_queries_out_of_range_are_422(client: TestClient, admin: dict[str, str],
                                                      query: dict[str, str]) -> None:
    for path in ("events", "audit"):
        body = err(client.get(f"{API}/{path}", params=query, headers=admin), 422)
        assert body["code"] == "validation_error"
        assert next(iter(query)) in body["message"]


@pytest.mark.parametrize("path", ["journal/{}", "approvals/{}", "journal/{}/reverse", "approvals/{}/approve",
                                  "alerts/{}/ack", "rejected-events/{}/replay", "suspect-events/{}/accept",
                                  "unassigned/{}/assign"])
def test_ids_beyond_int64_are_422_and_the_largest_is_404(client: TestClient, admin: dict[str, str],
                                                          path: str) -> None:
    method = "GET" if path.endswith("{}") else "POST"
    body = {"reverse": {"reason": "r"}, "assign": {"work_order": "X"}}.get(path.rsplit("/", 1)[-1])
    for value, status in ((BIG, 422), (10**30, 422), (MAX, 404)):
        err(client.request(method, f"{API}/{path.format(value)}", json=body, headers=admin), status)


@pytest.mark.parametrize("offset", [str(BIG), "-1"])
def test_offsets_beyond_int64_are_422(client: TestClient, admin: dict[str, str], offset: str) -> None:
    for path in ("journal", "work-orders", "goods-receipts", "unassigned"):
        err(client.get(f"{API}/{path}", params={"offset": offset}, headers=admin), 422)
    assert client.get(f"{API}/journal", params={"offset": str(MAX)}, headers=admin).json()["entries"] == []


@pytest.mark.parametrize("field, value", [
    ("qty", "1e400"), ("qty", "1E+3"), ("qty", "1000000000000000"), ("qty", "1.0000001"), ("qty", 1.5),
    ("unit_price", "4.1234567"), ("unit_price", "-1e-7"), ("unit_price", " 4"), ("unit_price", "4.1_0"),
    ("qty", str(BIG)), ("qty", BIG), ("posting_date", "0001-01-01"), ("posting_date", "9999-12-31"),
])
def test_goods_receipt_refuses_unbounded_decimals_and_dates(client: TestClient, admin: dict[str, str],
                                                             field: str, value: Any) -> None:
    body = {"item": "S", "qty": "10", "unit_price": "4.10", "ref": "GR", field: value}
    error = err(client.post(f"{API}/goods-receipts", json=body, headers=admin), 422)
    assert field in error["message"]
    assert client.get(f"{API}/goods-receipts", headers=admin).json()["goods_receipts"] == []  # nothing written


@pytest.mark.parametrize("path, body", [
    ("work-orders", {"item": "BR-100", "qty": "1e400"}),
    ("work-orders", {"item": "BR-100", "qty": "10", "due": "9999-12-31"}),
    ("labor-bookings", {"work_center": "WC-PRESS", "period": "P-TEST", "hours": "1E+2", "amount": "10.00"}),
    ("labor-bookings", {"work_center": "WC-PRESS", "period": "P-TEST", "hours": "8", "amount": "10.001"}),
    ("overhead-actuals", {"work_center": "WC-PRESS", "period": "P-TEST", "kind": "fixed", "amount": "1e400"}),
    ("journal", {"memo": "m", "posting_date": "0001-01-01",
                 "lines": [{"account": "5100", "debit": "1.00"}, {"account": "2100", "credit": "1.00"}]}),
    ("journal", {"memo": "m", "lines": [{"account": "5100", "debit": "1e3"}, {"account": "2100", "credit": "1e3"}]}),
    ("streams/s-x/accept-gap", {"through": BIG, "reason": "r"}),
])
def test_other_inputs_refuse_unbounded_values(client: TestClient, admin: dict[str, str], path: str,
                                              body: dict[str, Any]) -> None:
    err(client.post(f"{API}/{path}", json=body, headers=admin), 422)


def test_start_at_and_report_windows_out_of_range(client: TestClient, admin: dict[str, str]) -> None:
    assert client.post(f"{API}/work-orders", json={"id": "WO-1", "item": "BR-100", "qty": "10"},
                       headers=admin).status_code == 201
    assert client.post(f"{API}/work-orders/WO-1/release", headers=admin).status_code == 200
    for at in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
        err(client.post(f"{API}/work-orders/WO-1/start", json={"machine": "PRESS-2", "at": at}, headers=admin), 422)
        err(client.post(f"{API}/work-orders/WO-1/stop", json={"at": at}, headers=admin), 422)
    for window in ({"from": "0001-01-01"}, {"to": "9999-12-31"}, {"from": "0001-01-01T00:00:00+01:00"}):
        for report in ("downtime", "oee", "cost-of-quality"):
            error = err(client.get(f"{API}/reports/{report}", params=window, headers=admin), 422)
            assert error["code"] == "out_of_range"


def test_a_product_too_large_to_store_is_422_and_nothing_is_written(client: TestClient,
                                                                     admin: dict[str, str]) -> None:
    body = {"item": "S", "qty": "999999999999999", "unit_price": "999999999999999", "ref": "huge"}
    err(client.post(f"{API}/goods-receipts", json=body, headers=admin), 422)
    assert client.get(f"{API}/goods-receipts", headers=admin).json()["goods_receipts"] == []
    tb = client.get(f"{API}/trial-balance", headers=admin).json()
    assert tb["total_debit"] == tb["total_credit"] == "0.00"


def test_text_the_database_cannot_hold_is_not_a_500(client: TestClient, admin: dict[str, str]) -> None:
    for params in ({"machine": "a\x00b"}, {"stream": "\x00"}):
        assert client.get(f"{API}/events", params=params, headers=admin).status_code in (200, 422)
    for text in ("\x00", "\ud800"):  # a NUL byte (PostgreSQL text cannot hold it), a lone surrogate
        for path, body in (("goods-receipts", {"item": f"S{text}", "qty": "1", "unit_price": "1", "ref": text}),
                           ("work-orders", {"item": f"BR-100{text}", "qty": "1"}),
                           ("edges", {"id": f"e{text}", "plant": "P1"})):
            raw = json.dumps(body).encode()  # JSON escapes (\\u0000, \\ud800), as a client sends them
            resp = client.post(f"{API}/{path}", content=raw, headers={**admin, "Content-Type": "application/json"})
            assert 400 <= resp.status_code < 500, resp.text
        path_text = quote(text.encode("utf-8", "surrogatepass"))  # %00, or %ED%A0%80: not UTF-8 at all
        assert client.get(f"{API}/work-orders/x{path_text}", headers=admin).status_code in (404, 422)


def test_numbers_out_as_api_md_writes_them(client: TestClient, admin: dict[str, str]) -> None:
    body = {"item": "S", "qty": "1000", "unit_price": "4.1", "ref": "GR-1"}
    created = client.post(f"{API}/goods-receipts", json=body, headers=admin)
    assert created.status_code == 201, created.text
    for doc in (created.json(), client.get(f"{API}/goods-receipts", headers=admin).json()["goods_receipts"][0]):
        assert (doc["qty"], doc["unit_price"]) == ("1000", "4.100000")
    assert client.post(f"{API}/work-orders", json={"id": "WO-2", "item": "BR-100", "qty": "2100"},
                       headers=admin).status_code == 201
    order = client.get(f"{API}/work-orders/WO-2", headers=admin).json()
    assert (order["qty"], order["planned_qty"], order["good_qty"]) == ("2100", "2100", "0")
    assert client.post(f"{API}/work-orders", json={"id": "WO-3", "item": "BR-100", "qty": "2.500"},
                       headers=admin).status_code == 201
    assert client.get(f"{API}/work-orders/WO-3", headers=admin).json()["qty"] == "2.5"
    valuation = client.get(f"{API}/reports/inventory-valuation", headers=admin).json()["rows"]
    steel = next(r for r in valuation if r["item"] == "S")
    assert (steel["qty"], steel["unit_cost"], steel["value"]) == ("1000", "4.000000", "4000.00")
    moves = client.get(f"{API}/stock-moves", headers=admin).json()["stock_moves"]
    assert moves[0]["qty"] == "1000"


def test_openapi_declares_bearer_auth_and_error_responses(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": doc["components"]["securitySchemes"]["bearerAuth"][
            "description"]}
    error = doc["components"]["schemas"]["Error"]
    assert error["properties"]["error"]["required"] == ["code", "message", "detail"]
    open_paths = {"/health", "/metrics", f"{API}/health", f"{API}/metrics"}
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            responses = op["responses"]
            where = f"{method.upper()} {path}"
            if path in open_paths or path.startswith(("/health", f"{API}/health", "/ready", f"{API}/ready")):
                continue
            assert op.get("security") == [{"bearerAuth": []}], where
            assert "401" in responses, where
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, where
            if "{" in path:
                assert "404" in responses, where
            if op.get("parameters") or op.get("requestBody"):
                assert "422" in responses, where
            if method in ("post", "put"):
                assert {"403", "409"} <= set(responses), where
    assert "HTTPValidationError" not in doc["components"]["schemas"]


def test_decimal_fields_schema_states_the_bounds(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    receipt = schemas["GoodsReceiptIn"]["properties"]
    qty, price = receipt["qty"]["anyOf"], receipt["unit_price"]["anyOf"]
    assert qty[0]["pattern"] == r"^-?[0-9]{1,15}(\.[0-9]{1,6}0*)?$" and qty[1]["maximum"] == 10**15 - 1
    assert price[0]["pattern"] == qty[0]["pattern"]
    amount = schemas["LaborBookingIn"]["properties"]["amount"]["anyOf"][0]["pattern"]
    assert amount == r"^-?[0-9]{1,15}(\.[0-9]{1,2}0*)?$"
    assert datetime.now(UTC).year < 3000  # the accepted range (2000..3000) covers today
