"""The executive summary (service_layer/costing/executive.py and ``GET /reports/executive-summary``)
on the margin scenario: each figure against the report it must agree with, the day windows
against the events the scenario sent, roles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from support.api import err, ok, token
from support.central import PLANT
from support.costing import period_id, timeline
from support.margin import GOOD, SCRAP, run_scenario

from central.bootstrap import Container
from central.domain.money import to_cents
from central.service_layer.costing import reports
from central.service_layer.costing.executive import ExecutiveSummary, executive_summary
from central.service_layer.costing.master_data import snapshot

API = "/api/v1"
D = Decimal


def summary_at(central: Container, now: datetime) -> tuple[ExecutiveSummary, Any]:
    with central.read_sessions() as s:
        summary = executive_summary(s, clock=lambda: now)
        w = reports.window(s, snapshot(s), period_id(), None, None, clock=lambda: now)
        oee = reports.oee(s, w, "PRESS-2", clock=lambda: now)
    return summary, oee


def test_the_summary_agrees_with_the_reports(central: Container, client: TestClient, admin: dict[str, str]) -> None:
    t0 = run_scenario(central, client, admin)
    now = datetime.now(UTC).replace(microsecond=0)
    summary, oee = summary_at(central, now)
    assert summary.this_period == period_id() and summary.last_period is None
    plant = next(s for s in summary.scopes if s.kind == "plant" and s.id == PLANT)
    entity = next(s for s in summary.scopes if s.kind == "entity" and s.id == "E1")
    assert (plant.currency, plant.entity) == ("EUR", "E1")
    p = {"period": period_id()}
    this = plant.this_period
    assert this is not None and (this.good, this.scrap) == (D(GOOD), D(SCRAP))
    variances = ok(client.get(f"{API}/reports/variances", params=p, headers=admin))
    assert this.variances == D(variances["total"]) != 0
    coq = ok(client.get(f"{API}/reports/cost-of-quality", params=p, headers=admin))
    assert this.cost_of_quality == D(coq["total"])
    assert this.oee is not None
    assert {k: str(v) for k, v in this.oee.rounded().items()} == {
        k: oee[k] for k in ("availability", "performance", "quality", "oee")}
    # margin: good units at (price in force - standard cost of a good unit), less what leaked
    assert this.margin == to_cents(D(GOOD) * (D("14.25") - D("10.30"))) - this.variances
    # working capital: the order is closed (WIP 0), its good units sit in finished goods
    tb = ok(client.get(f"{API}/trial-balance", headers=admin))
    fg = next(line for line in tb["lines"] if line["role"] == "finished_goods")
    assert plant.working_capital.wip == 0 and plant.working_capital.finished_goods == D(fg["debit"]) - D(fg["credit"])
    # one plant: the entity's figures are the plant's
    assert (entity.today, entity.yesterday, entity.this_period, entity.working_capital) == (
        plant.today, plant.yesterday, plant.this_period, plant.working_capital)
    # the day windows count the events the scenario sent in them
    events = timeline(t0, good=GOOD, scrap=SCRAP)
    for fig in (plant.today, plant.yesterday):
        sent = [e for e in events if fig.start <= e["ts"] < fig.end]
        assert fig.good == sum(D(e["qty"]) for e in sent if e["kind"] == "count")
        assert fig.scrap == sum(D(e["qty"]) for e in sent if e["kind"] == "scrap")
    # a day later the day windows move on; the period's figures stay
    later, _ = summary_at(central, now + timedelta(days=1))
    moved = next(s for s in later.scopes if s.kind == "plant")
    assert moved.yesterday.good == plant.today.good
    assert moved.this_period is not None and moved.this_period.good == D(GOOD)


def test_the_summary_route_and_its_roles(central: Container, client: TestClient, admin: dict[str, str]) -> None:
    run_scenario(central, client, admin)
    body = ok(client.get(f"{API}/reports/executive-summary", headers=token(central, "eve", "executive")))
    assert body["this_period"] == period_id()
    plant = next(s for s in body["scopes"] if s["kind"] == "plant")
    assert plant["this_period"]["good"] == str(GOOD) and plant["working_capital"]["wip"] == "0.00"
    assert plant["last_period"] is None and plant["this_period"]["oee"] is not None
    for role in ("planner", "controller", "auditor"):
        ok(client.get(f"{API}/reports/executive-summary", headers=token(central, f"{role}-1", role)))
    for role in ("operator", "engineer"):
        err(client.get(f"{API}/reports/executive-summary", headers=token(central, f"{role}-1", role)), 403)
