"""The quantity ledger through the API: stock moves from receipts, issues and returns, backflush
and finished goods; on-hand quantities in the inventory valuation (value at standard beside the
ledger, with the difference after a standard-cost change); the negative-inventory alert on real
quantities; reversals; and move totals that do not depend on batching or re-attribution."""

from __future__ import annotations

import copy
import shutil
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from support.api import api_client, ok, token
from support.costing import (
    MACHINE,
    costing_container,
    ingest,
    period_id,
    timeline,
    window_start,
    wire_events,
    worked_example_master,
)

from central.adapters.db.models_costing import ItemStockRow
from central.bootstrap import Container
from central.service_layer.costing import stock

API = "/api/v1"
D = Decimal


def backflush_master() -> dict[str, Any]:
    """The worked example with fasteners (F) backflushed instead of issued by hand."""
    doc = worked_example_master()
    doc["items"][1]["issue"] = "backflush"
    return dict(doc)


def valuation(client: TestClient, h: dict[str, str]) -> dict[str, dict[str, str]]:
    body = ok(client.get(f"{API}/reports/inventory-valuation", headers=h))
    rows = {r["item"]: r for r in body["rows"]}
    assert len(rows) == len(body["rows"]), "one row per item"
    for r in body["rows"]:
        assert D(r["value"]) == (D(r["qty"]) * D(r["unit_cost"])).quantize(D("0.01"), rounding=ROUND_HALF_UP)
        assert D(r["difference"]) == D(r["value"]) - D(r["ledger"])
    assert D(body["total"]) == sum((D(r["value"]) for r in body["rows"]), D(0))
    assert D(body["ledger"]) == sum((D(r["ledger"]) for r in body["rows"]), D(0))
    return rows


def on_hand(client: TestClient, h: dict[str, str]) -> dict[str, Decimal]:
    return {item: D(r["qty"]) for item, r in valuation(client, h).items() if D(r["qty"]) != 0}


def moves(client: TestClient, h: dict[str, str], **query: str) -> list[dict[str, Any]]:
    """Every move matching ``query``, paging by ``after``."""
    out: list[dict[str, Any]] = []
    after: int | None = None
    while True:
        params: dict[str, Any] = {**query, "limit": 50}
        if after is not None:
            params["after"] = after
        page = ok(client.get(f"{API}/stock-moves", params=params, headers=h))
        out.extend(page["stock_moves"])
        if page["next"] is None:
            return out
        after = page["next"]


def role_balance(client: TestClient, h: dict[str, str], role: str) -> str:
    tb = ok(client.get(f"{API}/trial-balance", headers=h))
    return next((x["balance"] for x in tb["lines"] if x["role"] == role), "0.00")


def units(t0: datetime, good: int, scrap: int, first_seq: int = 1) -> list[dict[str, Any]]:
    kinds = ["count"] * good + ["scrap"] * scrap
    return list(wire_events([{"kind": k, "ts": t0 + timedelta(minutes=i), "qty": 1,
                              "reason": "BURR" if k == "scrap" else None,
                              "raw": {"tag": k, "value": first_seq + i, "prev": first_seq + i - 1}}
                             for i, k in enumerate(kinds)], first_seq=first_seq))


def receive(client: TestClient, h: dict[str, str], item: str, qty: str, price: str, ref: str = "PO") -> Any:
    return ok(client.post(f"{API}/goods-receipts", json={"item": item, "qty": qty, "unit_price": price, "ref": ref},
                          headers=h), 201)


def issue(client: TestClient, h: dict[str, str], order: str, item: str, qty: str) -> Any:
    return ok(client.post(f"{API}/work-orders/{order}/material-issues", json={"item": item, "qty": qty},
                          headers=h), 201)


def new_order(client: TestClient, h: dict[str, str], order: str = "WO-1", qty: str = "100") -> None:
    ok(client.post(f"{API}/work-orders", json={"id": order, "item": "BR-100", "qty": qty}, headers=h), 201)
    ok(client.post(f"{API}/work-orders/{order}/release", headers=h))


def negative_alerts(client: TestClient, h: dict[str, str]) -> list[dict[str, Any]]:
    return list(ok(client.get(f"{API}/alerts", params={"kind": "negative_inventory"}, headers=h))["alerts"])


def test_receipts_issues_returns_backflush_and_finished_goods_give_on_hand(
    central: Container, client: TestClient, admin: dict[str, str]
) -> None:
    ok(client.post(f"{API}/master-data", json=backflush_master(), headers=admin))
    receipt = receive(client, admin, "S", "100", "3.90", "PO-S")
    receive(client, admin, "F", "500.5", "0.25", "PO-F")
    new_order(client, admin)
    t0 = (datetime.now(UTC) - timedelta(hours=3)).replace(microsecond=0)
    ok(client.post(f"{API}/work-orders/WO-1/start", json={"machine": MACHINE, "at": t0.isoformat()}, headers=admin))
    ingest(central, units(t0 + timedelta(minutes=1), 10, 2), 5)
    issue(client, admin, "WO-1", "S", "20")
    issue(client, admin, "WO-1", "S", "-2.25")  # a return
    # S: 100 - 20 + 2.25; F: 500.5 - 12 processed x 4 backflushed; BR-100: 10 good
    assert on_hand(client, admin) == {"S": D("82.25"), "F": D("452.5"), "BR-100": D(10)}
    rows = valuation(client, admin)
    assert (rows["S"]["value"], rows["S"]["ledger"], rows["S"]["difference"]) == ("329.00", "329.00", "0.00")
    assert (rows["F"]["value"], rows["F"]["ledger"]) == ("113.13", "113.13")  # 452.5 x 0.25 = 113.125
    assert (rows["BR-100"]["role"], rows["BR-100"]["value"], rows["BR-100"]["ledger"]) == (
        "finished_goods", "103.00", "103.00")
    assert rows["S"]["role"] == rows["F"]["role"] == "raw_materials"

    s_moves = moves(client, admin, item="S")
    assert [(m["kind"], m["qty"]) for m in s_moves] == [
        ("goods_receipt", "100"), ("material_issue", "-20"), ("material_issue", "2.25")]
    first = s_moves[0]
    assert (first["record"], first["entry"], first["user"], first["work_order"]) == (
        receipt["id"], receipt["entry"], "boss", None)
    assert s_moves[1]["work_order"] == "WO-1" and s_moves[1]["entry"] is not None
    backflush = moves(client, admin, item="F", work_order="WO-1")
    assert backflush and {m["kind"] for m in backflush} == {"backflush"}
    assert sum((D(m["qty"]) for m in backflush), D(0)) == D(-48)
    events = sorted(e for m in backflush for e in m["events"])
    assert len(events) == 12 and all(m["machine"] == MACHINE and m["record"] for m in backflush)
    fg = moves(client, admin, item="BR-100")
    assert {m["kind"] for m in fg} == {"finished_goods"} and sum((D(m["qty"]) for m in fg), D(0)) == 10
    entry = ok(client.get(f"{API}/journal/{fg[0]['entry']}", headers=admin))  # lineage to the raw values
    assert entry["kind"] == "finished_goods" and entry["lineage"]["events"]
    # paging by id, filters
    page = ok(client.get(f"{API}/stock-moves", params={"limit": 2}, headers=admin))
    assert len(page["stock_moves"]) == 2 and page["next"] == page["stock_moves"][-1]["id"]
    rest = ok(client.get(f"{API}/stock-moves", params={"limit": 1000, "after": page["next"]}, headers=admin))
    assert rest["next"] is None and all(m["id"] > page["next"] for m in rest["stock_moves"])
    assert len(page["stock_moves"]) + len(rest["stock_moves"]) == len(moves(client, admin))
    assert ok(client.get(f"{API}/stock-moves", params={"item": "NOPE"}, headers=admin))["stock_moves"] == []
    assert client.get(f"{API}/stock-moves", params={"limit": 0}, headers=admin).status_code == 422
    assert client.get(f"{API}/stock-moves").status_code == 401
    operator = token(central, "otto", "operator")
    assert ok(client.get(f"{API}/stock-moves", headers=operator))["stock_moves"]
    assert negative_alerts(client, admin) == []
    # the running figures kept per item for the alert checks agree with the moves and the ledger
    with central.read_sessions() as s:
        summed = stock.on_hand_by_item(s)
        assert summed == {"S": D("82.25"), "F": D("452.5"), "BR-100": D(10)}
        assert {item: stock.on_hand(s, item) for item in summed} == summed
        assert {r.item: r.value for r in s.scalars(select(ItemStockRow))} == {
            item: D(r["ledger"]) for item, r in valuation(client, admin).items()}


def test_worked_example_raw_materials_on_hand(central: Container, client: TestClient, admin: dict[str, str]) -> None:
    ok(client.post(f"{API}/master-data", json=worked_example_master(), headers=admin))
    receive(client, admin, "S", "1300", "3.90")
    receive(client, admin, "F", "3400", "0.26")
    new_order(client, admin, qty="800")
    t0 = window_start()
    ok(client.post(f"{API}/work-orders/WO-1/start", json={"machine": MACHINE, "at": t0.isoformat()}, headers=admin))
    ingest(central, wire_events(timeline(t0)), 100)
    issue(client, admin, "WO-1", "S", "1260")
    issue(client, admin, "WO-1", "F", "3330")
    ok(client.post(f"{API}/work-orders/WO-1/complete", json={"at": (t0 + timedelta(hours=40)).isoformat()},
                   headers=admin))
    ok(client.post(f"{API}/work-orders/WO-1/close", headers=admin))
    ok(client.post(f"{API}/labor-bookings", json={"work_center": "WC-PRESS", "period": period_id(), "hours": "39",
                                                 "amount": "1014.00"}, headers=admin), 201)
    for kind, amount in (("variable", "560.00"), ("fixed", "1380.00")):
        ok(client.post(f"{API}/overhead-actuals", json={"work_center": "WC-PRESS", "period": period_id(),
                                                       "kind": kind, "amount": amount}, headers=admin), 201)
    ok(client.post(f"{API}/periods/{period_id()}/close", headers=admin))
    rows = valuation(client, admin)
    assert {k: (r["qty"], r["value"], r["ledger"], r["difference"]) for k, r in rows.items()} == {
        "S": ("40", "160.00", "160.00", "0.00"),  # 1,300 - 1,260 kg at 4.00
        "F": ("70", "17.50", "17.50", "0.00"),  # 3,400 - 3,330 pcs at 0.25
        "BR-100": ("800", "8240.00", "8240.00", "0.00"),  # 800 good at 10.30
    }
    raw = sum((D(r["value"]) for r in rows.values() if r["role"] == "raw_materials"), D(0))
    assert raw == D("177.50") == D(role_balance(client, admin, "raw_materials"))
    assert negative_alerts(client, admin) == []


def test_issuing_more_than_on_hand_goes_negative_with_one_alert(
    central: Container, client: TestClient, admin: dict[str, str]
) -> None:
    ok(client.post(f"{API}/master-data", json=worked_example_master(), headers=admin))
    receive(client, admin, "S", "10", "4.00")
    new_order(client, admin)
    issue(client, admin, "WO-1", "S", "8")
    assert negative_alerts(client, admin) == []  # 2 kg left
    issue(client, admin, "WO-1", "S", "7")
    assert on_hand(client, admin) == {"S": D(-5)}
    row = valuation(client, admin)["S"]
    assert (row["value"], row["ledger"]) == ("-20.00", "-20.00")
    alerts = negative_alerts(client, admin)
    assert len(alerts) == 1 and alerts[0]["key"] == "negative_inventory:S" and alerts[0]["count"] == 1
    assert alerts[0]["detail"]["on_hand"] == "-5" and alerts[0]["detail"]["work_order"] == "WO-1"
    issue(client, admin, "WO-1", "S", "-1")  # a return does not alert
    issue(client, admin, "WO-1", "S", "1")  # still below zero: the same open alert, counted
    alerts = negative_alerts(client, admin)
    assert len(alerts) == 1 and alerts[0]["count"] == 2


def test_a_reversal_restores_on_hand_and_links_the_moves(
    central: Container, client: TestClient, admin: dict[str, str]
) -> None:
    ok(client.post(f"{API}/master-data", json=worked_example_master(), headers=admin))
    receive(client, admin, "S", "50", "4.10")
    wrong = receive(client, admin, "S", "30", "3.95", "PO-typo")
    new_order(client, admin)
    issued = issue(client, admin, "WO-1", "S", "12.5")
    assert on_hand(client, admin) == {"S": D("67.5")}
    issue_entry = ok(client.get(f"{API}/journal", params={"kind": "material_issue"}, headers=admin))["entries"][0]
    assert issue_entry["record"] == issued["id"]
    ok(client.post(f"{API}/journal/{issue_entry['id']}/reverse", json={"reason": "wrong order"}, headers=admin), 201)
    assert on_hand(client, admin) == {"S": D(80)}
    ok(client.post(f"{API}/journal/{wrong['entry']}/reverse", json={"reason": "typo"}, headers=admin), 201)
    assert on_hand(client, admin) == {"S": D(50)}
    row = valuation(client, admin)["S"]
    assert (row["value"], row["ledger"], row["difference"]) == ("200.00", "200.00", "0.00")
    assert row["ledger"] == role_balance(client, admin, "raw_materials")
    history = moves(client, admin, item="S")
    reversals = [m for m in history if m["reverses"] is not None]
    originals = {m["id"]: m for m in history if m["reverses"] is None}
    assert len(reversals) == 2
    for m in reversals:
        back = originals[m["reverses"]]
        assert D(m["qty"]) == -D(back["qty"]) and m["record"] == back["record"] and m["kind"] == back["kind"]
        assert m["entry"] != back["entry"] and "reversal" in m["memo"]
    # reversing the remaining receipt after stock was issued takes on-hand below zero: alert
    issue(client, admin, "WO-1", "S", "20")
    first = next(m for m in history if m["kind"] == "goods_receipt" and m["qty"] == "50")
    ok(client.post(f"{API}/journal/{first['entry']}/reverse", json={"reason": "returned"}, headers=admin), 201)
    assert on_hand(client, admin) == {"S": D(-20)}
    assert [a["key"] for a in negative_alerts(client, admin)] == ["negative_inventory:S"]


def test_a_standard_cost_change_shows_as_difference(
    central: Container, client: TestClient, admin: dict[str, str]
) -> None:
    doc = worked_example_master()
    ok(client.post(f"{API}/master-data", json=doc, headers=admin))
    receive(client, admin, "S", "100", "4.00")
    changed = copy.deepcopy(doc)
    changed["items"][0]["standard_cost"] = "4.20"
    pending = ok(client.post(f"{API}/master-data", json=changed, headers=admin))["pending_approval"]
    assert valuation(client, admin)["S"]["difference"] == "0.00"  # nothing changes before the approval
    ok(client.post(f"{API}/approvals/{pending['id']}/approve", headers=token(central, "carl", "controller")))
    row = valuation(client, admin)["S"]
    assert (row["qty"], row["unit_cost"], row["value"], row["ledger"], row["difference"]) == (
        "100", "4.200000", "420.00", "400.00", "20.00")  # the stock on hand was not revalued
    receive(client, admin, "S", "10", "4.20")  # new postings at the new standard
    row = valuation(client, admin)["S"]
    assert (row["qty"], row["value"], row["ledger"], row["difference"]) == ("110", "462.00", "442.00",
                                                                             "20.00")
    body = ok(client.get(f"{API}/reports/inventory-valuation", headers=admin))
    assert (body["total"], body["ledger"], body["difference"]) == ("462.00", "442.00", "20.00")
    # the controller revalues the stock on hand by a manual entry (approved by another controller)
    lines = [{"account": "1300", "debit": "20.00", "item": "S", "memo": "revaluation to 4.20"},
             {"account": "5200", "credit": "20.00", "item": "S"}]
    carl, dora = token(central, "carl", "controller"), token(central, "dora", "controller")
    proposed = ok(client.post(f"{API}/journal", json={"memo": "revalue S", "lines": lines}, headers=carl), 202)
    ok(client.post(f"{API}/approvals/{proposed['approval']['id']}/approve", headers=dora))
    row = valuation(client, admin)["S"]
    assert (row["qty"], row["value"], row["ledger"], row["difference"]) == ("110", "462.00", "462.00",
                                                                             "0.00")
    assert len(moves(client, admin, item="S")) == 2, "money only: a revaluation moves no quantity"


def _clone(template: Path, tmp_path: Path, name: str) -> str:
    dst = tmp_path / f"{name}.db"
    shutil.copyfile(template, dst)
    return f"sqlite:///{dst}"


def _run(url: str, size: int, docs: list[dict[str, Any]], t0: datetime) -> dict[str, Any]:
    """Backflush example, events in batches of ``size``, then a stop with a past ``at`` (events
    after it leave the order) and a new dispatch from that time (they come back)."""
    c = costing_container(url)
    try:
        client = api_client(c)
        h = token(c, "boss", "admin")
        ok(client.post(f"{API}/master-data", json=backflush_master(), headers=h))
        receive(client, h, "F", "1000", "0.25")
        new_order(client, h, qty="500")
        ok(client.post(f"{API}/work-orders/WO-1/start", json={"machine": MACHINE, "at": t0.isoformat()}, headers=h))
        ingest(c, docs, size, stream=f"s-{size}")

        def totals() -> dict[tuple[str, str, str], Decimal]:
            out: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
            for m in moves(client, h, work_order="WO-1"):
                out[(m["work_order"], m["item"], m["kind"])] += D(m["qty"])
            return dict(out)

        full, hand = totals(), on_hand(client, h)
        cut = t0 + timedelta(hours=20)
        ok(client.post(f"{API}/work-orders/WO-1/stop", json={"at": cut.isoformat()}, headers=h))
        order = ok(client.get(f"{API}/work-orders/WO-1", headers=h))
        after_stop, processed = totals(), D(order["good_qty"]) + D(order["scrap_qty"])
        ok(client.post(f"{API}/work-orders/WO-1/start", json={"machine": MACHINE, "at": cut.isoformat()}, headers=h))
        return {"full": full, "on_hand": hand, "after_stop": after_stop, "good_after_stop": D(order["good_qty"]),
                "processed_after_stop": processed, "again": totals(), "on_hand_again": on_hand(client, h),
                "count": len(moves(client, h, work_order="WO-1"))}
    finally:
        c.dispose()


@pytest.mark.timeout(300)
def test_batching_and_re_attribution_do_not_change_move_totals(
    central_sqlite_template: Path, tmp_path: Path
) -> None:
    t0 = window_start()
    events = timeline(t0, good=97, scrap=9)
    for n, e in enumerate(events):  # uneven quantities
        if e["kind"] == "count":
            e["qty"] = 1 + n % 3
    good = sum(e["qty"] for e in events if e["kind"] == "count")
    scrap = sum(e["qty"] for e in events if e["kind"] == "scrap")
    docs = wire_events(events)
    one, many = (_run(_clone(central_sqlite_template, tmp_path, f"b{size}"), size, docs, t0) for size in (1, 500))
    expected = {("WO-1", "F", "backflush"): D(-4 * (good + scrap)), ("WO-1", "BR-100", "finished_goods"): D(good)}
    assert one["full"] == many["full"] == expected
    assert one["on_hand"] == many["on_hand"] == {"F": 1000 - 4 * D(good + scrap), "BR-100": D(good)}
    assert one["count"] > many["count"], "batching changes the number of moves, not their totals"
    # after the stop with a past `at` the order holds exactly the events before it: no double count
    for run in (one, many):
        assert 0 < run["processed_after_stop"] < good + scrap
        assert run["after_stop"] == {("WO-1", "F", "backflush"): -4 * run["processed_after_stop"],
                                     ("WO-1", "BR-100", "finished_goods"): run["good_after_stop"]}
    assert one["after_stop"] == many["after_stop"]
    assert one["again"] == many["again"] == expected
    assert one["on_hand_again"] == many["on_hand_again"] == one["on_hand"]
