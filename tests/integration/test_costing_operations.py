"""Operational records past a threshold, through the ingest and the API (SQLite; PostgreSQL when
SFSYNC_TEST_PG_URL is set): a scrap burst raises exactly one quality exception, a long EQ_FAIL stop
one maintenance request, a short one and planned stops none; thresholds come from master data."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from support.api import ok, token
from support.central import payload, topic
from support.costing import MACHINE, chunks, window_start, wire_events, worked_example_master

from central.bootstrap import Container

API = "/api/v1"


@pytest.fixture
def operator(central: Container) -> dict[str, str]:
    return token(central, "otto", "operator")


def master(wc: dict[str, Any] | None = None, machine: dict[str, Any] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = worked_example_master()
    if wc is not None:
        doc["work_centers"][0]["thresholds"] = wc
    if machine is not None:
        doc["machines"][0]["thresholds"] = machine
    return doc


def units(t0: datetime, pattern: str, step_s: float = 30.0) -> list[dict[str, Any]]:
    """One event per character of ``pattern`` (``g`` good, ``s`` scrap), ``step_s`` apart, with counters."""
    out, counters = [], {"count": 0, "scrap": 0}
    for n, ch in enumerate(pattern):
        kind = "scrap" if ch == "s" else "count"
        counters[kind] += 1
        out.append({"ts": t0 + timedelta(seconds=step_s * (n + 1)), "kind": kind, "qty": 1,
                    "reason": "BURR" if kind == "scrap" else None,
                    "raw": {"tag": kind, "value": counters[kind], "prev": counters[kind] - 1}})
    return out


def states(t0: datetime, timeline: list[tuple[float, str, str | None]]) -> list[dict[str, Any]]:
    """State events at ``t0 + minutes``."""
    return [{"ts": t0 + timedelta(minutes=m), "kind": "state", "state": st, "reason": reason,
             "raw": {"tag": "state", "value": st, "prev": None}} for m, st, reason in timeline]


def deliver(central: Container, events: list[dict[str, Any]], size: int, stream: str = "s-ops",
            redeliver: bool = False) -> None:
    docs = wire_events(sorted(events, key=lambda e: e["ts"]))
    parts = list(chunks(docs, size))
    for part in parts + (parts if redeliver else []):  # a re-delivered batch is a duplicate: a no-op
        assert central.ingest.handle_events(topic(), payload(part, stream=stream)) is not None


BURST = "g" * 60 + "s" * 20 + "g" * 100 + "gsggggggggggggggggggg" * 5  # burst, recovery, then a steady 5 %


@pytest.mark.parametrize("size", [1, 37])
def test_a_scrap_burst_raises_exactly_one_quality_exception_and_it_clears(
    central: Container, client: TestClient, admin: dict[str, str], operator: dict[str, str], size: int
) -> None:
    ok(client.post(f"{API}/master-data", json=master(wc={"scrap_rate": "0.2", "scrap_window_units": 50}),
                   headers=admin))
    t0 = window_start()
    deliver(central, units(t0, BURST), size, redeliver=True)

    found = ok(client.get(f"{API}/quality-exceptions", headers=operator))["quality_exceptions"]
    assert len(found) == 1, found
    qe = found[0]
    # window of 50 units: the 10th scrap in a row makes 10/50 = 0.2 (event 70 of the pattern)
    assert qe["machine"] == MACHINE and qe["work_center"] == "WC-PRESS" and qe["status"] == "cleared"
    assert qe["rate"] == "0.2000" and qe["threshold"] == "0.2000" and qe["window_units"] == 50
    assert qe["scrap_qty"] == 10 and qe["reasons"] == {"BURR": 10}
    assert qe["opened_at"] == (t0 + timedelta(seconds=30 * 70)).isoformat()
    assert qe["peak_rate"] == "0.4000"  # 20 scrap in the last 50 units
    # clear rate 0.1 (half the threshold): cleared when only 4 of the burst's scrap remain in the window
    assert qe["clear_rate"] == "0.1000" and qe["cleared_rate"] == "0.0800"
    assert qe["cleared_at"] == (t0 + timedelta(seconds=30 * (80 + 46))).isoformat()
    alerts = ok(client.get(f"{API}/alerts", params={"kind": "quality_exception"}, headers=operator))["alerts"]
    assert len(alerts) == 1 and f"quality exception {qe['id']}" in alerts[0]["message"], alerts
    assert ok(client.get(f"{API}/quality-exceptions", params={"status": "open"}, headers=operator)) == {
        "quality_exceptions": []}


def test_defaults_and_machine_override(central: Container, client: TestClient, admin: dict[str, str]) -> None:
    """Default: 10 % over 100 units. A machine override (5 % over 20 units) beats its work centre's."""
    ok(client.post(f"{API}/master-data", json=master(wc={"scrap_rate": "0.5"}), headers=admin))
    t0 = window_start()
    deliver(central, units(t0, "g" * 95 + "s" * 9 + "g" * 30), 25)  # at most 9 in 100: under 50 %
    assert ok(client.get(f"{API}/quality-exceptions", headers=admin))["quality_exceptions"] == []

    ok(client.put(f"{API}/machines/{MACHINE}", json={**master()["machines"][0], "thresholds": {
        "scrap_rate": "0.05", "scrap_window_units": 20}}, headers=admin))
    deliver(central, units(t0 + timedelta(hours=2), "g" * 19 + "s"), 25, stream="s-ops-2")
    found = ok(client.get(f"{API}/quality-exceptions", headers=admin))["quality_exceptions"]
    assert [(q["status"], q["rate"], q["window_units"]) for q in found] == [("open", "0.0500", 20)]


EQ_LONG, EQ_SHORT, EQ_REPEATED = 60.0, 200.0, 300.0
TIMELINE = [
    (0, "running", None),
    (EQ_LONG, "down", "EQ_FAIL"), (EQ_LONG + 45, "running", None),          # 45 min: a request
    (EQ_SHORT, "down", "EQ_FAIL"), (EQ_SHORT + 10, "running", None),        # 10 min: none
    (EQ_REPEATED, "down", "EQ_FAIL"), (EQ_REPEATED + 20, "down", "EQ_FAIL"),  # one stop of 40 min (state re-read)
    (EQ_REPEATED + 40, "running", None),
    (400, "planned_stop", "BREAK"), (400 + 120, "running", None),          # planned: never
    (600, "down", "BREAK"), (600 + 120, "running", None),                  # a planned reason: never
    (800, "idle", "MATERIAL"), (800 + 120, "running", None),               # material: not maintenance
    (1000, "down", "EQ_FAIL"), (1000 + 25, "idle", "MATERIAL"), (1000 + 90, "running", None),  # 25 min EQ_FAIL
    (1200, "down", "EQ_FAIL"),                                             # still down: not measured yet
]


@pytest.mark.parametrize("size", [1, 4, 100])
def test_a_long_unplanned_equipment_stop_raises_one_maintenance_request(
    central: Container, client: TestClient, admin: dict[str, str], operator: dict[str, str], size: int
) -> None:
    ok(client.post(f"{API}/master-data", json=master(), headers=admin))
    t0 = window_start()
    deliver(central, states(t0, TIMELINE), size, redeliver=True)

    found = ok(client.get(f"{API}/maintenance-requests", headers=operator))["maintenance_requests"]
    got = [(r["stop_start"], r["stop_end"], r["minutes"], r["reason"], r["category"], r["state"]) for r in found]

    def at(minutes: float) -> str:
        return str((t0 + timedelta(minutes=minutes)).isoformat())

    assert got == [
        (at(EQ_LONG), at(EQ_LONG + 45), "45.00", "EQ_FAIL", "equipment", "down"),
        (at(EQ_REPEATED), at(EQ_REPEATED + 40), "40.00", "EQ_FAIL", "equipment", "down"),
    ], got
    assert all(r["threshold_minutes"] == "30.00" and r["status"] == "open" and r["machine"] == MACHINE
               for r in found)
    alerts = ok(client.get(f"{API}/alerts", params={"kind": "maintenance_request"}, headers=operator))["alerts"]
    assert sorted(a["detail"]["maintenance_request"] for a in alerts) == sorted(r["id"] for r in found)

    # the still-open stop ends 45 min after it began: one more request, and nothing twice
    deliver(central, states(t0, [(1245, "running", None)]), 1, stream="s-ops-end")
    found = ok(client.get(f"{API}/maintenance-requests", headers=operator))["maintenance_requests"]
    assert [r["stop_start"] for r in found] == [at(EQ_LONG), at(EQ_REPEATED), at(1200)]


def test_categories_and_minutes_from_master_data(central: Container, client: TestClient,
                                                 admin: dict[str, str]) -> None:
    """A work centre that also wants material stops, after 20 min: the 25 min EQ_FAIL and the 2 h
    material stop qualify too; changing thresholds later needs no approval (they move no cost)."""
    ok(client.post(f"{API}/master-data", json=master(), headers=admin))
    doc = master(wc={"downtime_minutes": "20", "downtime_categories": ["equipment", "material"]})
    changed = ok(client.post(f"{API}/master-data", json=doc, headers=admin))
    assert changed["changed"] and "pending_approval" not in changed, changed
    t0 = window_start()
    deliver(central, states(t0, TIMELINE), 50)
    found = ok(client.get(f"{API}/maintenance-requests", headers=admin))["maintenance_requests"]
    assert [(r["reason"], r["minutes"]) for r in found] == [
        ("EQ_FAIL", "45.00"), ("EQ_FAIL", "40.00"), ("MATERIAL", "120.00"), ("EQ_FAIL", "25.00"),
        ("MATERIAL", "65.00")]
    assert {r["threshold_minutes"] for r in found} == {"20.00"}


def test_bad_thresholds_are_refused_with_key_paths(client: TestClient, admin: dict[str, str]) -> None:
    bad = master(wc={"scrap_rate": "1.5", "downtime_categories": ["tea"]}, machine={"scrap_window_units": 0})
    resp = client.post(f"{API}/master-data", json=bad, headers=admin)
    assert resp.status_code == 422, resp.text
    paths = {e["key_path"] for e in resp.json()["error"]["detail"]}
    assert {"work_centers[0].thresholds.scrap_rate", "machines[0].thresholds.scrap_window_units"} <= paths, paths
    assert any(p.startswith("work_centers[0].thresholds.downtime_categories") for p in paths), paths
    # valid per record, invalid together: the machine's clear rate above its work centre's scrap rate
    mixed = master(wc={"scrap_rate": "0.1"}, machine={"scrap_clear_rate": "0.2"})
    resp = client.post(f"{API}/master-data", json=copy.deepcopy(mixed), headers=admin)
    assert resp.status_code == 422, resp.text
    assert [e["key_path"] for e in resp.json()["error"]["detail"]] == ["machines[0].thresholds"]
    assert client.get(f"{API}/machines", headers=admin).json()["machines"] == []  # nothing written
