"""The rule-based alerts (issue 14) from real events and inputs: each rule fires, is quiet just
below its threshold, and resolves (after ``clear_runs`` clear evaluations) when the condition
clears. Events go through the real ingest (costing posts them); inputs through the API; the
evaluator runs with an explicit ``now`` (``central.service_layer.alert_rules.evaluate``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from support.api import ok
from support.central import EDGE, PLANT, register
from support.costing import MACHINE, ingest, wire_events, worked_example_master

from central.adapters.db.models_costing import WorkOrderRow
from central.adapters.db.models_ingest import AlertRow
from central.adapters.master_snapshot import snapshot
from central.bootstrap import Container
from central.domain.accruals import FINISHED_GOODS, VARIANCE, OrderAccruals
from central.domain.money import divide
from central.service_layer.alert_rules import Layers, closes, evaluate, period_variances
from shared.topics import status_topic

API = "/api/v1"


def run(c: Container, now: datetime) -> dict[str, int]:
    with c.write_sessions() as s, s.begin():
        return evaluate(s, now)


def alerts(c: Container, kind: str) -> list[AlertRow]:
    with c.read_sessions() as s:
        return list(s.scalars(select(AlertRow).where(AlertRow.kind == kind).order_by(AlertRow.id)))


def statuses(c: Container, kind: str) -> list[str]:
    return [a.status for a in alerts(c, kind)]


class Line:
    """A machine's events in time order with running raw counters (the wire's seqs assigned on send)."""

    def __init__(self, c: Container) -> None:
        self.c, self.sent, self.count = c, 0, 0

    def send(self, events: list[dict[str, Any]]) -> None:
        docs = wire_events(events, first_seq=self.sent + 1)
        self.sent += len(docs)
        ingest(self.c, docs, 50)

    def state(self, ts: datetime, state: str) -> None:
        self.send([{"kind": "state", "state": state, "ts": ts, "raw": {"tag": "state", "value": state, "prev": None}}])

    def counts(self, start: datetime, n: int, spacing: timedelta) -> datetime:
        events = []
        for i in range(1, n + 1):
            self.count += 1
            events.append({"kind": "count", "qty": 1, "ts": start + spacing * i,
                           "raw": {"tag": "count", "value": self.count, "prev": self.count - 1}})
        self.send(events)
        return start + spacing * n


@pytest.fixture
def setup(central: Container, client: TestClient, admin: dict[str, str]) -> Iterator[tuple[Container, TestClient,
                                                                                              dict[str, str]]]:
    ok(client.post(f"{API}/master-data", json=worked_example_master(), headers=admin))
    register(central)
    yield central, client, admin


def test_running_order_hours_and_material_fire_hold_and_resolve(
        setup: tuple[Container, TestClient, dict[str, str]]) -> None:
    c, client, h = setup
    t0 = (datetime.now(UTC) - timedelta(hours=6)).replace(second=0, microsecond=0)
    ok(client.post(f"{API}/work-orders", json={"id": "WO-1", "item": "BR-100", "qty": "100"}, headers=h), 201)
    ok(client.post(f"{API}/work-orders/WO-1/release", headers=h))
    ok(client.post(f"{API}/work-orders/WO-1/start", json={"machine": MACHINE, "at": t0.isoformat()}, headers=h))
    line = Line(c)
    line.state(t0, "running")

    # 30 units 9 % slower than the routing's 0.04 h; 47 kg of S for 45 at standard (4.4 % over): both quiet
    now = line.counts(t0, 30, timedelta(minutes=2.4 * 1.09))
    ok(client.post(f"{API}/work-orders/WO-1/material-issues", json={"item": "S", "qty": "47"}, headers=h), 201)
    run(c, now)
    for kind in ("run_hours_overrun", "labour_hours_overrun", "material_overuse"):
        assert alerts(c, kind) == [], kind

    # 10 more units 50 % slower: 19 % over; 17 more kg: 64 for 60 (6.7 % over): all fire
    now = line.counts(now, 10, timedelta(minutes=3.6))
    ok(client.post(f"{API}/work-orders/WO-1/material-issues", json={"item": "S", "qty": "17"}, headers=h), 201)
    assert run(c, now)["opened"] == 3
    hours = alerts(c, "run_hours_overrun")[0]
    assert hours.status == "open" and hours.plant == PLANT and hours.entity == "E1"
    assert hours.detail["work_order"] == "WO-1" and hours.detail["standard_hours"] == "1.60"
    assert hours.detail["over"] == "0.1925" and hours.detail["dispatches"] and hours.detail["window"]["to"]
    assert alerts(c, "labour_hours_overrun")[0].detail["over"] == "0.1925"
    material = alerts(c, "material_overuse")[0]
    assert (material.detail["issued_qty"], material.detail["standard_qty"]) == ("64", "60.0")
    assert len(material.detail["records"]) == 2
    assert run(c, now).get("opened", 0) == 0  # still firing: refreshed, not opened again

    # 60 units at 2 min (faster than standard): 2.3 % under; 64 kg for 150: clear -> resolved after 2 runs
    now = line.counts(now, 60, timedelta(minutes=2))
    first = run(c, now)
    assert first.get("clearing") == 3 and statuses(c, "run_hours_overrun") == ["open"]
    run(c, now)
    for kind in ("run_hours_overrun", "labour_hours_overrun", "material_overuse"):
        assert statuses(c, kind) == ["resolved"], kind
    ids = {f"alert/{a.id}" for k in ("run_hours_overrun", "labour_hours_overrun", "material_overuse")
           for a in alerts(c, k)}
    trail = ok(client.get(f"{API}/audit?action=alert.*&limit=100", headers=h))["records"]
    assert sorted(r["action"] for r in trail if r["target"] in ids) == ["alert.open"] * 3 + ["alert.resolved"] * 3
    assert {r["actor"] for r in trail if r["target"] in ids} == {"system"}

    # order close with a material usage variance of 34 % of its output at standard: raised once
    ok(client.post(f"{API}/work-orders/WO-1/stop", headers=h))
    ok(client.post(f"{API}/work-orders/WO-1/complete", headers=h))
    ok(client.post(f"{API}/work-orders/WO-1/close", json={}, headers=h))
    run(c, datetime.now(UTC))
    run(c, datetime.now(UTC))
    closed = alerts(c, "order_variance")
    assert len(closed) == 1 and closed[0].detail["order"] == "WO-1"
    assert any(v["variance"].startswith("material_usage") for v in closed[0].detail["variances"])

    # the period close: FOH budget 1400 with no actual overhead booked is a variance over 500
    ok(client.post(f"{API}/periods/P-TEST/close", headers=h))
    run(c, datetime.now(UTC))
    run(c, datetime.now(UTC))
    period = alerts(c, "period_variance")
    assert len(period) == 1 and period[0].detail["period"] == "P-TEST" and period[0].entity is None
    foh = [v for v in period[0].detail["variances"] if v["variance"] == "foh_budget_variance"]
    assert foh and foh[0]["amount"] == "-1400.00"


def test_po_line_late_fires_a_day_late_and_resolves_when_received(
        setup: tuple[Container, TestClient, dict[str, str]]) -> None:
    c, client, h = setup
    today = datetime.now(UTC).date()
    for po, due in (("PO-LATE", today - timedelta(days=1)), ("PO-TODAY", today)):
        ok(client.post(f"{API}/purchase-orders", headers=h, json={
            "id": po, "supplier": "Steel Co", "plant": PLANT,
            "lines": [{"item": "S", "qty": "10", "unit_price": "4", "due": due.isoformat()}]}), 201)
    now = datetime.now(UTC)
    run(c, now)
    late = alerts(c, "po_line_late")
    assert len(late) == 1 and late[0].detail["purchase_order"] == "PO-LATE" and late[0].detail["days_late"] == 1
    assert late[0].detail["open_qty"] == "10"
    line = ok(client.get(f"{API}/purchase-orders/PO-LATE", headers=h))["lines"][0]["id"]
    ok(client.post(f"{API}/goods-receipts", headers=h, json={"item": "S", "qty": "6", "unit_price": "4",
                                                            "purchase_order_line": line}), 201)
    run(c, now)
    assert statuses(c, "po_line_late") == ["open"]  # partly received: still late
    assert alerts(c, "po_line_late")[0].detail["open_qty"] == "4"
    ok(client.post(f"{API}/goods-receipts", headers=h, json={"item": "S", "qty": "4", "unit_price": "4",
                                                            "purchase_order_line": line}), 201)
    run(c, now)
    assert statuses(c, "po_line_late") == ["open"]  # one clear run of two
    run(c, now)
    assert statuses(c, "po_line_late") == ["resolved"]


def test_material_shortage_ahead(setup: tuple[Container, TestClient, dict[str, str]]) -> None:
    c, client, h = setup
    today = datetime.now(UTC).date()
    ok(client.post(f"{API}/work-orders", json={"id": "WO-2", "item": "BR-100", "qty": "10"}, headers=h), 201)
    ok(client.post(f"{API}/work-orders/WO-2/release", headers=h))  # needs 15 S and 40 F
    # S: 14 on hand + 1 on order within the horizon = 15: quiet; F: 39 on hand, 10 on order after it: short
    ok(client.post(f"{API}/goods-receipts", headers=h, json={"item": "S", "qty": "14", "unit_price": "4"}), 201)
    ok(client.post(f"{API}/goods-receipts", headers=h, json={"item": "F", "qty": "39", "unit_price": "0.25"}), 201)
    ok(client.post(f"{API}/purchase-orders", headers=h, json={"id": "PO-1", "supplier": "X", "lines": [
        {"item": "S", "qty": "1", "unit_price": "4", "due": (today + timedelta(days=2)).isoformat()},
        {"item": "F", "qty": "10", "unit_price": "0.25", "due": (today + timedelta(days=30)).isoformat()}]}), 201)
    now = datetime.now(UTC)
    run(c, now)
    short = alerts(c, "material_shortage")
    assert [a.detail["item"] for a in short] == ["F"]
    assert (short[0].detail["required"], short[0].detail["on_hand"], short[0].detail["short_qty"]) == ("40", "39", "1")
    assert short[0].detail["orders"] == [{"work_order": "WO-2", "qty": "40"}]
    ok(client.post(f"{API}/goods-receipts", headers=h, json={"item": "F", "qty": "1", "unit_price": "0.25"}), 201)
    run(c, now)
    run(c, now)
    assert statuses(c, "material_shortage") == ["resolved"]


def _status(c: Container, state: str, **extra: Any) -> None:
    body = {"state": state, "edge": EDGE, "backlog": 0, **extra}
    assert c.ingest.handle_status(status_topic(PLANT, EDGE), orjson.dumps(body))


def test_edge_offline_and_unacked_while_its_machines_are_scheduled(
        setup: tuple[Container, TestClient, dict[str, str]]) -> None:
    c, client, h = setup
    t = datetime.now(UTC)
    ok(client.post(f"{API}/work-orders", json={"id": "WO-1", "item": "BR-100", "qty": "100"}, headers=h), 201)
    ok(client.post(f"{API}/work-orders/WO-1/release", headers=h))
    _status(c, "offline")
    run(c, t + timedelta(minutes=9))
    assert alerts(c, "edge_offline") == []  # offline, but not yet for 10 minutes; nothing scheduled either
    run(c, t + timedelta(minutes=11))
    assert alerts(c, "edge_offline") == []  # long enough, but no machine of it is scheduled
    ok(client.post(f"{API}/work-orders/WO-1/start", json={"machine": MACHINE}, headers=h))
    run(c, t + timedelta(minutes=11))
    off = alerts(c, "edge_offline")
    assert len(off) == 1 and off[0].severity == "critical" and off[0].detail["scheduled_machines"] == [MACHINE]
    _status(c, "online", backlog=5, oldest_unacked_ts=(t - timedelta(minutes=14)).isoformat())
    run(c, t)
    assert alerts(c, "edge_unacked") == []  # 14 min < 15
    run(c, t)
    assert statuses(c, "edge_offline") == ["resolved"]
    _status(c, "online", backlog=5, oldest_unacked_ts=(t - timedelta(minutes=16)).isoformat())
    run(c, t)
    unacked = alerts(c, "edge_unacked")
    assert len(unacked) == 1 and unacked[0].detail["oldest_unacked_ts"]
    _status(c, "online", backlog=0)  # drained: no oldest unacked event
    run(c, t)
    run(c, t)
    assert statuses(c, "edge_unacked") == ["resolved"]


def test_stream_silent_while_the_machine_reports_running(
        setup: tuple[Container, TestClient, dict[str, str]]) -> None:
    c, _client, _h = setup
    t0 = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    line = Line(c)
    line.state(t0, "running")
    last = line.counts(t0, 3, timedelta(minutes=1))
    run(c, last + timedelta(minutes=9))
    assert alerts(c, "stream_silent") == []
    run(c, last + timedelta(minutes=11))
    silent = alerts(c, "stream_silent")
    assert len(silent) == 1 and silent[0].detail["machine"] == MACHINE and silent[0].detail["last_state"] == "running"
    later = line.counts(last + timedelta(minutes=10), 1, timedelta(minutes=1))
    run(c, later + timedelta(minutes=1))
    run(c, later + timedelta(minutes=1))
    assert statuses(c, "stream_silent") == ["resolved"]
    line.state(later + timedelta(minutes=2), "down")
    run(c, later + timedelta(minutes=30))  # stopped machines are expected to be quiet
    assert statuses(c, "stream_silent") == ["resolved"]


def test_work_centre_labour_booked_over_standard_for_the_periods_output(
        setup: tuple[Container, TestClient, dict[str, str]]) -> None:
    c, client, h = setup
    t0 = (datetime.now(UTC) - timedelta(hours=4)).replace(second=0, microsecond=0)
    ok(client.post(f"{API}/work-orders", json={"id": "WO-1", "item": "BR-100", "qty": "100"}, headers=h), 201)
    ok(client.post(f"{API}/work-orders/WO-1/release", headers=h))
    ok(client.post(f"{API}/work-orders/WO-1/start", json={"machine": MACHINE, "at": t0.isoformat()}, headers=h))
    line = Line(c)
    line.state(t0, "running")
    last = line.counts(t0, 50, timedelta(minutes=2))  # 50 units: 2.0 standard labour hours

    def book(hours: str) -> None:
        ok(client.post(f"{API}/labor-bookings", headers=h, json={
            "work_center": "WC-PRESS", "period": "P-TEST", "hours": hours, "amount": "10.00"}), 201)

    book("2.15")  # 7.5 % over: quiet
    run(c, last)
    assert alerts(c, "centre_labour_overrun") == []
    book("0.15")  # 2.30: 15 % over
    run(c, last)
    over = alerts(c, "centre_labour_overrun")
    assert len(over) == 1 and over[0].detail["booked_hours"] == "2.30" and over[0].detail["standard_hours"] == "2.00"
    assert len(over[0].detail["records"]) == 2 and over[0].detail["period"] == "P-TEST"
    last = line.counts(last, 10, timedelta(minutes=2))  # 60 units: 2.4 h standard, 4 % under
    run(c, last)
    run(c, last)
    assert statuses(c, "centre_labour_overrun") == ["resolved"]


def test_one_evaluator_at_a_time_on_postgresql(central: Container) -> None:
    with central.write_sessions() as first, first.begin():
        if first.get_bind().dialect.name != "postgresql":
            pytest.skip("SQLite runs one writer at a time anyway")
        assert "skipped" not in evaluate(first, datetime.now(UTC))  # holds the lock until it commits
        assert run(central, datetime.now(UTC)) == {"skipped": 1}
    assert "skipped" not in run(central, datetime.now(UTC))


def _close_findings(c: Container, now: datetime) -> dict[str, Any]:
    with c.read_sessions() as s:
        return {f.kind: f for f, _runs in closes(s, Layers(snapshot(s)), now)}


def test_close_variances_by_amount_and_by_percentage_at_order_and_period_close(
        setup: tuple[Container, TestClient, dict[str, str]]) -> None:
    """Real postings (events, a material issue over standard, order close, period close); then the
    plant's ``variance_amount`` and ``variance_percent`` are set around the real figures: at the
    figure each is quiet, a hair below it fires, each threshold on its own (the other out of reach),
    for the order (base: its finished goods at standard) and the period (base: its output at standard)."""
    c, client, h = setup
    t0 = (datetime.now(UTC) - timedelta(hours=3)).replace(second=0, microsecond=0)
    ok(client.post(f"{API}/work-orders", json={"id": "WO-1", "item": "BR-100", "qty": "40"}, headers=h), 201)
    ok(client.post(f"{API}/work-orders/WO-1/release", headers=h))
    ok(client.post(f"{API}/work-orders/WO-1/start", json={"machine": MACHINE, "at": t0.isoformat()}, headers=h))
    line = Line(c)
    line.state(t0, "running")
    line.counts(t0, 40, timedelta(minutes=2.4))
    ok(client.post(f"{API}/work-orders/WO-1/material-issues", json={"item": "S", "qty": "66"}, headers=h), 201)
    for step in ("stop", "complete"):
        ok(client.post(f"{API}/work-orders/WO-1/{step}", headers=h))
    ok(client.post(f"{API}/work-orders/WO-1/close", json={}, headers=h))
    ok(client.post(f"{API}/periods/P-TEST/close", headers=h))
    now = datetime.now(UTC)

    with c.read_sessions() as s:
        order = s.get(WorkOrderRow, "WO-1")
        assert order is not None
        acc = OrderAccruals.from_data(order.accruals)
        order_base = abs(acc.amount(FINISHED_GOODS))
        order_amounts = [abs(v) for k, v in acc.posted.items() if k.startswith(VARIANCE + ":") and v]
        period_lines, period_base = period_variances(s, "P-TEST")
    period_amounts = [abs(v.amount) for v in period_lines]
    assert order_amounts and period_lines and order_base > 0 and period_base >= order_base
    figures = {"order_variance": (max(order_amounts), divide(max(order_amounts), order_base)),
               "period_variance": (max(period_amounts), divide(max(period_amounts), period_base))}
    assert all(v.base == period_base for v in period_lines)  # the period's lines carry a base now

    def thresholds(amount: Decimal, percent: Decimal) -> dict[str, Any]:
        master = worked_example_master()
        master["plants"][0]["alert_thresholds"] = {"variance_amount": str(amount), "variance_percent": str(percent)}
        ok(client.post(f"{API}/master-data", json=master, headers=h))
        return _close_findings(c, now)

    far_amount, far_percent = Decimal("1000000"), Decimal(10)
    hair_amount, micro = Decimal("0.01"), Decimal("0.000001")  # thresholds have at most 6 decimals
    for kind, (amount, pct) in figures.items():
        assert kind not in thresholds(amount, far_percent), kind  # the amount at its threshold: quiet
        by_amount = thresholds(amount - hair_amount, far_percent)[kind]  # just over it: fires
        assert by_amount.detail["amount_threshold"] == str(amount - hair_amount)
        assert any(abs(Decimal(v["amount"])) == amount for v in by_amount.detail["variances"])
        at_or_above = pct.quantize(micro, rounding=ROUND_CEILING)  # the percentage at (or < 1e-6 above) it
        below = pct.quantize(micro, rounding=ROUND_FLOOR)
        below = below - micro if below == pct else below  # strictly below it, by < 1e-6 (or exactly 1e-6)
        assert kind not in thresholds(far_amount, at_or_above), kind  # quiet
        by_percent = thresholds(far_amount, below)[kind]
        assert any(abs(Decimal(v["amount"])) == amount and v["percent"] for v in by_percent.detail["variances"])
    assert _close_findings(c, now)["period_variance"].detail["output_at_standard"] == str(period_base)

    # through the evaluator (both over the amount): raised once each (facts, not conditions), not again
    thresholds(hair_amount, far_percent)
    run(c, now)
    run(c, now)
    assert statuses(c, "order_variance") == ["open"] and statuses(c, "period_variance") == ["open"]
