"""Decision support (issue 14) from real events and inputs: events through the real ingest
(costing posts them), material issues through the API, the detector run with an explicit
``now`` (``central.service_layer.recommendations.evaluate``). Steady windows stay quiet; an
injected slower cycle, extra material and extra scrap each open a recommendation with its
baseline, value, threshold and evidence; people acknowledge (any role), dismiss (controller, the
reason moves the baseline or not) and escalate (controller: an alert); every change audited;
the risk score reads and never posts or reschedules."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from support.api import err, ok, token
from support.central import register
from support.costing import MACHINE, ingest, wire_events, worked_example_master

from central.adapters.db.models_costing import DispatchRow, JournalLineRow, WorkOrderRow
from central.adapters.db.models_ingest import AlertRow
from central.adapters.db.models_recommendations import AnomalyPointRow
from central.bootstrap import Container
from central.domain.anomaly import DEFAULT_CONFIG
from central.service_layer.recommendations import DetectionSettings, RecommendationEvaluator, evaluate

API = "/api/v1"


class Line:
    """One machine's events, in time order, with running raw counters."""

    def __init__(self, c: Container) -> None:
        self.c, self.sent, self.count, self.scrap = c, 0, 0, 0

    def send(self, events: list[dict[str, Any]]) -> None:
        docs = wire_events(events, first_seq=self.sent + 1)
        self.sent += len(docs)
        ingest(self.c, docs, 50)

    def state(self, ts: datetime, state: str) -> None:
        self.send([{"kind": "state", "state": state, "ts": ts, "raw": {"tag": "state", "value": state, "prev": None}}])

    def window(self, start: datetime, good: int, scrap: int, spacing: timedelta) -> datetime:
        """``good + scrap`` units at ``spacing``, the scrap ones spread through the window."""
        events = []
        total = good + scrap
        at = {int((k + 0.5) * total / scrap) + 1 for k in range(scrap)}
        for i in range(1, total + 1):
            if i in at:
                self.scrap += 1
                events.append({"kind": "scrap", "qty": 1, "reason": "BURR", "ts": start + spacing * i,
                               "raw": {"tag": "scrap", "value": self.scrap, "prev": self.scrap - 1}})
            else:
                self.count += 1
                events.append({"kind": "count", "qty": 1, "ts": start + spacing * i,
                               "raw": {"tag": "count", "value": self.count, "prev": self.count - 1}})
        self.send(events)
        return start + spacing * total


@pytest.fixture
def plant(central: Container, client: TestClient, admin: dict[str, str]) -> Iterator[tuple[Container, TestClient,
                                                                                        dict[str, str]]]:
    ok(client.post(f"{API}/master-data", json=worked_example_master(), headers=admin))
    register(central)
    yield central, client, admin


# one baseline across shifts here (the windows cross shift changes); by shift: tests/unit/test_domain_anomaly.py
SETTINGS = DetectionSettings(configs={m: replace(cfg, by_shift=False) for m, cfg in DEFAULT_CONFIG.items()})


def run(c: Container, now: datetime) -> dict[str, int]:
    with c.write_sessions() as s, s.begin():
        return evaluate(s, now, SETTINGS)


def recs(client: TestClient, h: dict[str, str], query: str = "") -> list[dict[str, Any]]:
    return list(ok(client.get(f"{API}/recommendations{query}", headers=h))["recommendations"])


def books(c: Container) -> tuple[int, list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """What the decision support must never touch: the ledger and the schedule."""
    with c.read_sessions() as s:
        lines = s.scalar(select(func.count()).select_from(JournalLineRow)) or 0
        orders = [(o.id, o.status, o.due, o.machine, o.qty, o.started_at) for o in
                  s.scalars(select(WorkOrderRow).order_by(WorkOrderRow.id))]
        dispatches = [(d.id, d.work_order, d.machine, d.start, d.end) for d in
                      s.scalars(select(DispatchRow).order_by(DispatchRow.id))]
    return lines, orders, dispatches


def test_detectors_recommend_people_decide_and_nothing_is_posted(
        plant: tuple[Container, TestClient, dict[str, str]]) -> None:
    c, client, admin = plant
    operator, controller = token(c, "otto", "operator"), token(c, "carl", "controller")
    t0 = (datetime.now(UTC) - timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    ok(client.post(f"{API}/work-orders", json={"id": "WO-1", "item": "BR-100", "qty": "100000"}, headers=admin), 201)
    ok(client.post(f"{API}/work-orders/WO-1/release", headers=admin))
    ok(client.post(f"{API}/work-orders/WO-1/start", json={"machine": MACHINE, "at": t0.isoformat()}, headers=admin))
    line = Line(c)
    line.state(t0, "running")
    now = t0

    def feed(cycle_s: float, scrap: int = 1, kg: str = "30", n: int = 20) -> None:
        nonlocal now
        now = line.window(now, n - scrap, scrap, timedelta(seconds=cycle_s))
        ok(client.post(f"{API}/work-orders/WO-1/material-issues", json={"item": "S", "qty": kg}, headers=admin), 201)

    def window(cycle_s: float, scrap: int = 1, kg: str = "30", n: int = 20) -> dict[str, int]:
        feed(cycle_s, scrap, kg, n)
        return run(c, now)

    # 12 steady windows of 20 units: cycle 144 s +- 2 %, 1 scrap in 20, 30 kg of S (1.5 per unit)
    for i in range(12):
        window(144 * (1 + (i % 5 - 2) / 100), kg=("29.7", "30", "30.3")[i % 3])
    assert recs(client, operator) == []
    with c.read_sessions() as s:
        assert s.scalar(select(func.count()).select_from(AnomalyPointRow)) == 12 * 4

    # just below: cycle 8 % slower, material 4 % over: quiet (thresholds hold a relative floor)
    # (this run through the periodic job, its clock injected: simulated time drives it)
    feed(144 * 1.08, kg="31.2")
    job = RecommendationEvaluator(c.write_sessions, interval=60, clock=lambda: now, settings=SETTINGS)
    counts = job.run_once() or {}
    assert job.state.runs == 1 and counts == {"normal": 4}
    assert recs(client, operator) == []

    # injected: cycle +25 %, material 15 % over, scrap 6 in 20 (6x: in a window of 20 units, 3 would
    # be within the binomial noise of a 5 % rate): four recommendations
    feed(144 * 1.25, scrap=6, kg="34.5")
    before = books(c)
    counts = run(c, now)
    assert counts["opened"] == 4, counts
    open_ = {r["metric"]: r for r in recs(client, operator, "?status=open")}
    assert set(open_) == {"cycle_time", "labour_per_unit", "material_per_unit", "scrap_rate"}
    cyc = open_["cycle_time"]
    assert cyc["machine"] == MACHINE and cyc["item"] == "BR-100" and cyc["work_order"] == "WO-1"
    assert float(cyc["value"]) == pytest.approx(180, rel=0.01)
    assert float(cyc["baseline"]["median"]) == pytest.approx(144, rel=0.03) and cyc["baseline"]["n"] >= 8
    assert float(cyc["value"]) > float(cyc["threshold"]) > float(cyc["baseline"]["median"])
    assert cyc["evidence"]["window"]["good"] == "14" and cyc["evidence"]["points"]
    assert open_["material_per_unit"]["component"] == "S"
    assert float(open_["material_per_unit"]["value"]) == pytest.approx(1.725)
    assert recs(client, operator, "?metric=scrap_rate")[0]["id"] == open_["scrap_rate"]["id"]
    assert books(c) == before  # detection posts nothing and moves no order

    # risk: any role reads; nothing changes
    risk = ok(client.get(f"{API}/work-orders/WO-1/risk", headers=operator))
    assert risk["work_order"] == "WO-1" and 0 <= risk["score"] <= 100 and risk["projected_finish"]
    assert all(r["needs_approval"] for r in risk["reasons"])
    report = ok(client.get(f"{API}/reports/order-risk", headers=operator))
    assert [o["work_order"] for o in report["orders"]] == ["WO-1"]
    err(client.get(f"{API}/work-orders/NOPE/risk", headers=operator), 404)
    assert books(c) == before

    # roles: any role acknowledges; dismiss and escalate are the controller's
    rid = cyc["id"]
    got = ok(client.post(f"{API}/recommendations/{rid}/ack", json={"comment": "looking"}, headers=operator))
    assert got["recommendation"]["status"] == "acknowledged" and got["recommendation"]["decided_by"] == "otto"
    err(client.post(f"{API}/recommendations/{rid}/ack", headers=operator), 409)
    err(client.post(f"{API}/recommendations/{rid}/dismiss", json={"reason": "normal"}, headers=operator), 403)
    err(client.post(f"{API}/recommendations/{rid}/escalate", headers=operator), 403)
    err(client.post(f"{API}/recommendations/{rid}/dismiss", json={"reason": "because"}, headers=controller), 422)
    err(client.get(f"{API}/recommendations/999999", headers=operator), 404)

    # dismissed as normal: its point joins the baseline; material as a one-off: stays out
    ok(client.post(f"{API}/recommendations/{rid}/dismiss", json={"reason": "normal", "comment": "new die"},
                   headers=controller))
    mat = open_["material_per_unit"]["id"]
    ok(client.post(f"{API}/recommendations/{mat}/dismiss", json={"reason": "one_off"}, headers=controller))
    with c.read_sessions() as s:
        st = {p.metric: p.status for p in s.scalars(select(AnomalyPointRow).where(
            AnomalyPointRow.recommendation_id.in_([rid, mat])))}
    assert st == {"cycle_time": "dismissed_normal", "material_per_unit": "excluded"}
    n_before = cyc["baseline"]["n"]
    window(144 * 1.25, kg="34.5")
    again = {r["metric"]: r for r in recs(client, operator, "?status=open")}
    assert again["cycle_time"]["id"] != rid
    assert again["cycle_time"]["baseline"]["n"] == n_before + 1  # the dismissed point counts now
    assert again["material_per_unit"]["baseline"]["n"] == open_["material_per_unit"]["baseline"]["n"]  # excluded

    # escalate scrap: an anomaly alert with the evidence
    sid = open_["scrap_rate"]["id"]
    esc = ok(client.post(f"{API}/recommendations/{sid}/escalate", json={"comment": "see it"}, headers=controller))
    alert_id = esc["recommendation"]["alert_id"]
    assert esc["recommendation"]["status"] == "escalated" and alert_id
    alert = ok(client.get(f"{API}/alerts/{alert_id}", headers=operator))["alert"]
    assert alert["kind"] == "anomaly" and alert["detail"]["recommendation"] == sid
    err(client.post(f"{API}/recommendations/{sid}/dismiss", json={"reason": "normal"}, headers=controller), 409)

    trail = ok(client.get(f"{API}/audit?action=recommendation.*&limit=100", headers=admin))["records"]
    actions = sorted(r["action"] for r in trail)
    assert actions.count("recommendation.open") == 6  # four, then cycle_time and material again
    assert {"recommendation.acknowledged", "recommendation.dismissed", "recommendation.escalated"} <= set(actions)
    assert actions.count("recommendation.dismissed") == 2
    with c.read_sessions() as s:
        assert s.scalar(select(func.count()).select_from(AlertRow).where(AlertRow.kind == "anomaly")) == 1
