"""Simulated plant -> edge -> broker -> central: the ledger's good and scrap quantities equal the truth log.

The whole system runs as ``sfsync demo`` does (separate processes on free ports: broker, central
with the demo master data, the simulated OPC UA and Modbus PLCs, the edge behind the fault proxy)
and one work order per machine is dispatched through the API. Production stops after
``RUN_FOR_S`` of simulated time (the PLCs keep serving their last values), and once central has
caught up:

* per machine, the ledger's good and scrap quantities (the work orders' ``good_qty`` /
  ``scrap_qty`` plus the count/scrap events waiting in ``/unassigned``, which arrived before the
  dispatch) equal the simulator's truth log exactly. Units counted before the edge's first read
  of a counter are not the edge's to count: its ``baseline`` event names that counter value;
* nothing is held as suspect;
* finished goods = good qty x the standard cost of a good unit, computed here independently from
  ``central/demo_master.yaml``, to the cent per order (journal lines) and per item (valuation);
* every journal entry balances, and so does the trial balance.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from support.demo import all_items, baselines, truth_totals

from sfsync.demo_configs import MACHINES, master_data_path
from sfsync.demo_procs import DemoError, wait_ready
from sfsync.demo_run import Demo, DemoOptions

pytestmark = [pytest.mark.slow]

RUN_FOR_S = 30.0
CENT = Decimal("0.01")
MICRO = Decimal("0.000001")


@pytest.fixture
def plant(tmp_path: Path) -> Iterator[Demo]:
    demo = Demo(
        DemoOptions(data_dir=tmp_path / "plant", mode="fresh", broker="amqtt", sim_run_for_s=RUN_FOR_S,
                    master_data=True, order_qty=1000),
        io.StringIO(),
    )
    try:
        demo.start()
        yield demo
    finally:
        problems = demo.stop()
        assert problems == [], problems


def _unit(value: Decimal) -> Decimal:
    return value.quantize(MICRO, rounding=ROUND_HALF_UP)


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def good_unit_costs(path: Path) -> dict[str, Decimal]:
    """Standard cost of a good unit per manufactured item, from the master-data file (ACCOUNTING.md):
    (materials + labour hours x rate + machine hours x (VOH + FOH budget / normal hours)) x (1 + spoilage)."""
    doc: dict[str, Any] = yaml.safe_load(path.read_text())
    price = {i["id"]: Decimal(str(i["standard_cost"])) for i in doc["items"] if i.get("standard_cost") is not None}
    centres = {w["id"]: w for w in doc["work_centers"]}
    boms = {b["item"]: b["components"] for b in doc["boms"]}
    out: dict[str, Decimal] = {}
    for r in doc["routings"]:
        wc = centres[r["work_center"]]
        foh_rate = _unit(Decimal(str(wc["foh_budget"])) / Decimal(str(wc["normal_hours"])))
        materials = sum((_unit(Decimal(str(c["qty"])) * price[c["item"]]) for c in boms.get(r["item"], [])),
                        Decimal(0))
        labour = _unit(Decimal(str(r["labor_hours"])) * Decimal(str(wc["labor_rate"])))
        mh = Decimal(str(r["machine_hours"]))
        overhead = _unit(mh * Decimal(str(wc["voh_rate"]))) + _unit(mh * foh_rate)
        per_unit = materials + labour + overhead
        out[r["item"]] = _unit(per_unit * (1 + Decimal(str(r.get("normal_spoilage", "0")))))
    return out


def ledger_quantities(http: httpx.Client) -> tuple[dict[tuple[str, str], int], list[dict[str, Any]]]:
    """Per ``(machine, kind)``: the orders' good/scrap quantities plus what waits in ``/unassigned``."""
    orders = http.get("/work-orders", params={"limit": "1000"}).json()["work_orders"]
    totals: dict[tuple[str, str], int] = defaultdict(int)
    detail = []
    for listed in orders:
        order = http.get(f"/work-orders/{listed['id']}").json()
        detail.append(order)
        totals[(order["machine"], "count")] += int(Decimal(order["good_qty"]))
        totals[(order["machine"], "scrap")] += int(Decimal(order["scrap_qty"]))
    offset = 0
    while True:
        page = http.get("/unassigned", params={"limit": "1000", "offset": str(offset)}).json()["events"]
        for ev in page:
            totals[(ev["machine"], ev["kind"])] += int(ev["qty"])
        if len(page) < 1000:
            break
        offset += len(page)
    return {k: v for k, v in totals.items() if v}, detail


def journal_entries(http: httpx.Client) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        body = http.get("/journal", params={"limit": "1000", "offset": str(len(out))}).json()
        out.extend(body["entries"])
        if len(out) >= int(body["total"]) or not body["entries"]:
            return out


@pytest.mark.timeout(240)
def test_ledger_quantities_and_values_equal_the_truth_log(plant: Demo) -> None:
    http = httpx.Client(base_url=f"{plant.api}/api/v1", headers={"Authorization": f"Bearer {plant.token}"},
                        timeout=30.0)
    children = list(plant.children.values())
    truth_path = plant.paths.truth
    wait_ready("production ends", lambda: truth_totals(truth_path)[1], 150, children)

    got: dict[tuple[str, str], int] = {}
    truth: dict[tuple[str, str], int] = {}
    orders: list[dict[str, Any]] = []

    def caught_up() -> bool:
        nonlocal got, truth, orders
        got, orders = ledger_quantities(http)
        truth = truth_totals(truth_path, baselines(all_items(http, "/events", "events")))[0]
        return got == truth

    try:
        wait_ready("the ledger's quantities equal the truth log", caught_up, 90, children)
    except DemoError:
        pytest.fail(f"ledger {sorted(got.items())} != truth {sorted(truth.items())}")
    assert got == truth
    assert {m for m, _ in truth} == set(MACHINES), truth  # every machine produced
    assert sum(v for (_, kind), v in truth.items() if kind == "scrap") > 0, truth
    assert http.get("/suspect-events").json()["events"] == []
    assert len(orders) == len(MACHINES) and {o["machine"] for o in orders} == set(MACHINES)
    assert sum(int(Decimal(o["good_qty"])) for o in orders) > 0  # most units posted to orders

    # finished goods at the standard cost of a good unit, to the cent: per order and per item
    unit = good_unit_costs(master_data_path())
    entries = journal_entries(http)
    fg_by_order: dict[str, Decimal] = defaultdict(Decimal)
    for entry in entries:
        debit = sum((Decimal(line["debit"]) for line in entry["lines"]), Decimal(0))
        credit = sum((Decimal(line["credit"]) for line in entry["lines"]), Decimal(0))
        assert debit == credit == Decimal(entry["total_debit"]) == Decimal(entry["total_credit"]), entry
        for line in entry["lines"]:
            if line["role"] == "finished_goods":
                fg_by_order[line["work_order"]] += Decimal(line["debit"]) - Decimal(line["credit"])
    expected_by_item: dict[str, Decimal] = defaultdict(Decimal)
    for order in orders:
        expected = _cents(Decimal(order["good_qty"]) * unit[order["item"]])
        assert fg_by_order.get(order["id"], Decimal(0)) == expected, (order, unit[order["item"]])
        cost = http.get(f"/work-orders/{order['id']}/cost").json()
        assert Decimal(cost["good_unit_cost"]) == unit[order["item"]], cost
        expected_by_item[order["item"]] += expected
    # the ledger holds each order's rounded cumulative amount (ACCOUNTING.md); the valuation's
    # ``value`` rounds the item's whole quantity once, so with several orders of one item the two
    # may differ by a cent per order, shown as ``difference``
    qty_by_item: dict[str, Decimal] = defaultdict(Decimal)
    for order in orders:
        qty_by_item[order["item"]] += Decimal(order["good_qty"])
    valuation = http.get("/reports/inventory-valuation").json()["rows"]
    fg = {r["item"]: r for r in valuation if r["role"] == "finished_goods"}
    fg_ledger = {item: Decimal(r["ledger"]) for item, r in fg.items()}
    assert fg_ledger == {item: v for item, v in expected_by_item.items() if v}, (fg_ledger, expected_by_item)
    for item, r in fg.items():
        assert Decimal(r["qty"]) == qty_by_item[item], (r, qty_by_item)
        assert Decimal(r["value"]) == _cents(qty_by_item[item] * unit[item]), (r, unit[item])
        assert Decimal(r["difference"]) == Decimal(r["value"]) - Decimal(r["ledger"]), r

    tb = http.get("/trial-balance").json()
    assert tb["balanced"] is True and Decimal(tb["total_debit"]) == Decimal(tb["total_credit"]) > 0, tb
    lines = tb["lines"]
    assert sum((Decimal(x["debit"]) for x in lines), Decimal(0)) == Decimal(tb["total_debit"])
    assert sum((Decimal(x["credit"]) for x in lines), Decimal(0)) == Decimal(tb["total_credit"])
