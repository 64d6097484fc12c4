"""``GET /reports/margin`` and the ``selling_prices`` master-data section, through the API, on a
scenario with other numbers than ACCOUNTING.md's worked example: the leakage ties to the variance
report, each closed order's actual cost of a good unit is standard plus its order variances per
good unit, the cost of quality matches ``/reports/cost-of-quality``, roles and bad input."""

from __future__ import annotations

import copy
from decimal import Decimal

from fastapi.testclient import TestClient
from support.api import err, ok, token
from support.central import PLANT
from support.costing import period_id
from support.margin import priced_master, run_scenario

from central.bootstrap import Container
from central.domain.margin import CAUSE_OF_VARIANCE, ORDER_VARIANCE_TYPES
from central.domain.money import to_unit
from central.domain.roles import VarianceType

API = "/api/v1"
D = Decimal
ORDER_TYPES = {kind.value for kind in ORDER_VARIANCE_TYPES}


def test_margin_ties_to_the_variance_report_and_the_orders_variances(
    central: Container, client: TestClient, admin: dict[str, str]
) -> None:
    run_scenario(central, client, admin)
    p = {"period": period_id()}
    variances = ok(client.get(f"{API}/reports/variances", params=p, headers=admin))
    report = ok(client.get(f"{API}/reports/margin", params=p, headers=admin))
    assert report["period"] == period_id()

    # leakage: every cause is the sum of its variance types; the total is the variance report's
    (leak,) = report["periods"]
    by_type: dict[str, Decimal] = {}
    for row in variances["variances"]:
        by_type[row["type"]] = by_type.get(row["type"], D(0)) + D(row["amount"])
    assert {k: D(v) for k, v in leak["variances"].items() if D(v)} == {k: v for k, v in by_type.items() if v}
    for cause in leak["causes"]:
        expected = sum((by_type.get(t, D(0)) for t in cause["variance_types"]), D(0))
        assert D(cause["amount"]) == expected, cause
        assert all(CAUSE_OF_VARIANCE[VarianceType(t)].value == cause["cause"] for t in cause["variance_types"])
    assert leak["total"] == variances["total"] != "0.00"
    assert sum((D(c["amount"]) for c in leak["causes"]), D(0)) == D(variances["total"])

    # cost of quality beside the causes: the period's /reports/cost-of-quality
    coq = ok(client.get(f"{API}/reports/cost-of-quality", params=p, headers=admin))
    assert leak["cost_of_quality"] == {"normal": coq["normal"], "abnormal": coq["abnormal"], "total": coq["total"]}
    assert D(coq["normal"]) > 0

    # the product at the price in force on the period's last day
    (product,) = report["products"]
    assert (product["product"], product["currency"], product["price"]) == ("BR-100", "EUR", "14.250000")
    assert product["standard_cost"] == "10.300000" and product["standard_margin"] == "3.950000"

    # the order: (good x standard cost of a good unit + its four order variances) / good
    (order,) = report["orders"]
    sheet = ok(client.get(f"{API}/reports/variances", params={"work_order": "WO-7"}, headers=admin))
    own = sum((D(v["amount"]) for v in sheet["variances"] if v["type"] in ORDER_TYPES), D(0))
    assert own != 0 and D(order["variance_total"]) == own
    assert order["good_qty"] == "500" and order["period"] == period_id()
    actual = to_unit((D(500) * D("10.30") + own) / D(500))
    assert D(order["actual_unit_cost"]) == actual
    assert D(order["actual_margin"]) == D("14.25") - actual
    assert D(order["actual_margin_total"]) == D(500) * D("14.25") - (D(500) * D("10.30") + own)

    # filters: one plant (every line attributable: the entity has one plant) and one product
    plant = ok(client.get(f"{API}/reports/margin", params={**p, "plant": PLANT}, headers=admin))
    assert plant["periods"][0]["total"] == variances["total"]
    only = ok(client.get(f"{API}/reports/margin", params={**p, "product": "BR-100"}, headers=admin))
    order_leak = sum((D(v) for k, v in only["periods"][0]["variances"].items()), D(0))
    in_period = sum((D(v["amount"]) for v in variances["variances"] if v["type"] in ORDER_TYPES), D(0))
    assert order_leak == in_period
    assert all(D(v) == 0 for k, v in only["periods"][0]["variances"].items() if k not in ORDER_TYPES)


def test_margin_roles_and_bad_input(central: Container, client: TestClient, admin: dict[str, str]) -> None:
    ok(client.post(f"{API}/master-data", json=priced_master(), headers=admin))
    for role in ("planner", "controller", "auditor", "executive"):
        body = ok(client.get(f"{API}/reports/margin", headers=token(central, f"{role}-1", role)))
        assert body["orders"] == [] and body["products"][0]["price"] == "14.250000"
    for role in ("operator", "engineer"):
        err(client.get(f"{API}/reports/margin", headers=token(central, f"{role}-1", role)), 403)
    err(client.get(f"{API}/reports/margin", params={"period": "NOPE"}, headers=admin), 400)
    err(client.get(f"{API}/reports/margin", params={"plant": "NOPE"}, headers=admin), 400)
    err(client.get(f"{API}/reports/margin", params={"product": "S"}, headers=admin), 400)


def test_selling_prices_load_idempotently_and_are_refused_with_key_paths(
    client: TestClient, admin: dict[str, str]
) -> None:
    first = ok(client.post(f"{API}/master-data", json=priced_master(), headers=admin))
    assert first["sections"]["selling_prices"] == {"created": 2, "updated": 0, "unchanged": 0}
    again = ok(client.post(f"{API}/master-data", json=priced_master(), headers=admin))
    assert not again["changed"] and again["sections"]["selling_prices"]["unchanged"] == 2
    change = priced_master()
    change["selling_prices"][1]["price"] = "14.50"  # a price change needs no approval
    assert ok(client.post(f"{API}/master-data", json=change, headers=admin))["changed"]
    assert ok(client.get(f"{API}/reports/margin", headers=admin))["products"][0]["price"] == "14.500000"
    for field, value, words in (("price", "14.1234567", "decimal places"), ("price", 14.5, "float"),
                                ("product", "NOPE", "unknown item"), ("price", "0", "more than zero"),
                                ("currency", "USD", "currency")):
        bad = copy.deepcopy(priced_master())
        bad["selling_prices"][0][field] = value
        body = err(client.post(f"{API}/master-data", json=bad, headers=admin), 422)
        paths = {d["key_path"]: d["message"] for d in body["detail"]}
        assert f"selling_prices[0].{field}" in paths, paths
        assert words in paths[f"selling_prices[0].{field}"], paths
