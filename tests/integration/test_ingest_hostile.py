"""Hostile input on the wire, through a real broker to a real central ingest (SQLite and
PostgreSQL): three edges interleave valid batches with every hostile event class and with
unreadable payloads. Every valid event is posted and acked; every hostile event is rejected
with its code (or held as suspect for ``qty_over_limit``); every unreadable payload is
quarantined with its code; the worker stays alive with a fresh heartbeat and /health ok
throughout; nothing else is held."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from support.api import ok
from support.central import PLANT, T0, FakeEdge, event, start_ingest
from support.costing import costing_container, load, worked_example_master

from central.adapters.db.models_costing import EventPostingRow
from central.adapters.db.models_ingest import EventRow, GapRow, QuarantineRow, RejectedEventRow
from central.bootstrap import Container
from central.entrypoints.consumer import MqttIngest
from sfsync.broker import BrokerProcess
from shared.contract import MAX_BATCH_BYTES, QUARANTINE_CODES, REJECTION_CODES
from shared.topics import events_topic

API = "/api/v1"
EDGES = {"edge-1": "PRESS-2", "edge-2": "PRESS-3", "edge-3": "PRESS-4"}
LIMITS = {"PRESS-2": None, "PRESS-3": 500, "PRESS-4": None}  # None: the default, 1,000,000
ROUNDS = 2


def master() -> dict[str, Any]:
    doc: dict[str, Any] = worked_example_master(today=T0.date())  # the events' period: T0 is a fixed day
    doc["machines"] = [{"id": m, "work_center": "WC-PRESS", "edge": e,
                        **({"max_event_qty": LIMITS[m]} if LIMITS[m] else {})} for e, m in EDGES.items()]
    return doc


def body(payload_events: list[dict[str, Any]], edge: str, stream: str, **header: Any) -> bytes:
    """A batch as bytes; the stdlib encoder writes integers of any size (orjson stops at 2**64)."""
    doc = {"schema": "sfsync.batch/1", "plant": PLANT, "edge": edge, "stream": stream, "events": payload_events,
           **header}
    return json.dumps(doc).encode()


def hostile_events(machine: str, other: str) -> list[tuple[str, dict[str, Any], str]]:
    """(what, event overrides, expected rejection code) of every hostile event class."""
    return [
        ("ts year 1 at +01:00", {"ts": "0001-01-01T00:00:00+01:00"}, "ts_out_of_range"),
        ("ts year 9999 at -01:00", {"ts": "9999-12-31T23:59:59-01:00"}, "ts_out_of_range"),
        ("rx year 1 at +01:00", {"rx": "0001-01-01T00:00:00+01:00"}, "ts_out_of_range"),
        ("ts before 2000", {"ts": "1970-01-01T00:00:00Z"}, "ts_out_of_range"),
        ("qty 2**63", {"qty": 2**63}, "out_of_range"),
        ("qty 2**64", {"qty": 2**64}, "out_of_range"),
        ("qty 10**30", {"qty": 10**30}, "out_of_range"),
        ("qty -1", {"qty": -1}, "out_of_range"),
        ("raw value 2**70", {"raw": {"tag": "good", "value": 2**70, "prev": 1}}, "out_of_range"),
        ("raw value 2**63", {"raw": {"tag": "good", "value": 2**63, "prev": 1}}, "out_of_range"),
        ("raw prev below int64", {"raw": {"tag": "good", "value": 1, "prev": -(2**63) - 1}}, "out_of_range"),
        ("qty as a string", {"qty": "5"}, "wrong_type"),
        ("qty 'NaN'", {"qty": "NaN"}, "wrong_type"),
        ("qty 'Infinity'", {"qty": "Infinity"}, "wrong_type"),
        ("qty a float", {"qty": 1.5}, "wrong_type"),
        ("qty a boolean", {"qty": True}, "wrong_type"),
        ("ts 'NaN'", {"ts": "NaN"}, "bad_timestamp"),
        ("ts a number", {"ts": 1_764_000_000}, "bad_timestamp"),
        ("ts without a zone", {"ts": "2026-11-25T08:00:00"}, "bad_timestamp"),
        ("machine a number", {"machine": 7}, "wrong_type"),
        ("kind unknown", {"kind": "explosion"}, "invalid_value"),
        ("flags a string", {"flags": "suspect"}, "wrong_type"),
        ("raw a list", {"raw": [1, 2]}, "wrong_type"),
        ("raw value a list", {"raw": {"tag": "good", "value": [1], "prev": 0}}, "wrong_type"),
        ("unknown machine", {"machine": "GHOST-1"}, "unknown_machine"),
        ("another edge's machine", {"machine": other}, "wrong_edge"),
        ("huge machine string", {"machine": "M" * 200_000}, "invalid_value"),
        ("huge reason", {"kind": "scrap", "reason": "R" * 100_000}, "too_long"),
        ("huge raw string", {"raw": {"tag": "good", "value": "v" * 50_000, "prev": None}}, "too_long"),
        ("unknown field", {"colour": "red"}, "unknown_field"),
        ("missing ts", {"ts": None}, "missing_field"),
        ("state with a qty", {"kind": "state", "state": "running"}, "invalid_value"),
    ]


def unreadable(edge: str, stream: str) -> list[tuple[str, bytes, str]]:
    """(what, payload, expected quarantine code) of payloads that cannot be read whole."""
    good = event(1, machine=EDGES[edge])
    return [
        ("not JSON", b"\x00not json " + edge.encode(), "not_json"),
        ("a 1e400 literal", body([good], edge, stream).replace(b'"qty": 1', b'"qty": 1e400'), "not_json"),
        ("a NaN literal", body([good], edge, stream).replace(b'"qty": 1', b'"qty": NaN'), "not_json"),
        ("seq 2**63", body([{**good, "seq": 2**63}], edge, stream), "seq_out_of_range"),
        ("seq 2**64", body([{**good, "seq": 2**64}], edge, stream), "seq_out_of_range"),
        ("seq 'NaN'", body([{**good, "seq": "NaN"}], edge, stream), "bad_seq"),
        ("huge plant id", body([good], edge, stream, plant="P" * 300_000), "bad_header"),
        ("wrong schema", body([good], edge, stream, schema="sfsync.batch/9"), "bad_header"),
        ("events not a list", json.dumps({"schema": "sfsync.batch/1", "plant": PLANT, "edge": edge, "stream": stream,
                                          "events": {"x": 1}}).encode(), "bad_header"),
        ("another edge's batch", body([good], "edge-x", stream), "topic_mismatch"),
        ("over 1 MiB", body([{**good, "raw": {"tag": "t", "value": "x" * MAX_BATCH_BYTES}}], edge, stream),
         "too_large"),
    ]


class Plan:
    """What one edge sent: the seqs that must post, be held as suspect, or be rejected (with the code)."""

    def __init__(self, edge: str) -> None:
        self.edge, self.machine, self.stream = edge, EDGES[edge], f"s-{edge}"
        self.seq = 0
        self.valid: dict[int, int] = {}  # seq -> qty
        self.suspect: set[int] = set()
        self.rejected: dict[int, str] = {}
        self.quarantined: dict[str, str] = {}  # what -> code

    def next(self, **over: Any) -> dict[str, Any]:
        self.seq += 1
        doc = event(self.seq, machine=self.machine, ts=T0 + timedelta(seconds=self.seq))
        doc.update(over)
        return {k: v for k, v in doc.items() if v is not None}

    def valid_event(self, qty: int = 1) -> dict[str, Any]:
        doc = self.next(qty=qty)
        self.valid[doc["seq"]] = qty
        return doc


@pytest.fixture
def central(central_db_url: str) -> Iterator[Container]:
    c = costing_container(central_db_url)
    load(c, master())
    yield c
    c.dispose()


def assert_alive(ingest: MqttIngest, central: Container, client: TestClient) -> None:
    health = client.get("/health")
    assert health.status_code == 200, health.text
    view = health.json()
    assert view["status"] == "ok" and view["ingest"]["worker"] == "running", view
    assert view["ingest"]["heartbeat_age_seconds"] < central.settings.ingest.heartbeat_stale_seconds
    assert ok(client.get("/ready"))["ready"] is True
    assert ingest._worker is not None and ingest._worker.is_alive()
    assert central.metrics.worker_errors.value() == 0 and central.metrics.worker_restarts.value() == 0


@pytest.mark.timeout(600)
def test_hostile_events_from_several_edges_never_stop_ingest(
    central: Container, client: TestClient, admin: dict[str, str], broker: BrokerProcess
) -> None:
    for n, machine in enumerate(EDGES.values(), start=1):
        ok(client.post(f"{API}/work-orders", json={"id": f"WO-{n}", "item": "BR-100", "qty": "100000"},
                       headers=admin), 201)
        ok(client.post(f"{API}/work-orders/WO-{n}/release", headers=admin))
        ok(client.post(f"{API}/work-orders/WO-{n}/start",
                       json={"machine": machine, "at": (T0 - timedelta(hours=1)).isoformat()}, headers=admin))
    ingest = start_ingest(central, broker.host, broker.port, "central-hostile")
    edges = {e: FakeEdge(broker.host, broker.port, edge=e) for e in EDGES}
    plans = {e: Plan(e) for e in EDGES}
    try:
        assert_alive(ingest, central, client)
        others = list(EDGES.values())
        for rnd in range(ROUNDS):
            for e, plan in plans.items():  # edges interleave batch by batch
                fake = edges[e]
                fake.publish([], raw=body([plan.valid_event(q) for q in (1, 2, 3)], e, plan.stream))
                other = others[(others.index(plan.machine) + 1) % len(others)]
                mixed: list[dict[str, Any]] = []
                for what, over, code in hostile_events(plan.machine, other):  # each between valid ones
                    mixed.append(plan.valid_event())
                    doc = plan.next(**copy.deepcopy(over))
                    plan.rejected[doc["seq"]] = code
                    assert code in REJECTION_CODES, what
                    mixed.append(doc)
                limit = LIMITS[plan.machine] or 1_000_000
                at_limit = plan.valid_event(limit)  # the bound itself posts
                over_limit = plan.next(qty=limit + 1)
                int64_max = plan.next(qty=2**63 - 1)
                plan.suspect |= {over_limit["seq"], int64_max["seq"]}
                mixed += [at_limit, over_limit, int64_max, plan.valid_event()]
                fake.publish([], raw=body(mixed, e, plan.stream))
                if rnd == 0:
                    for what, raw, code in unreadable(e, plan.stream):
                        assert code in QUARANTINE_CODES, what
                        plan.quarantined[what] = code
                        fake.publish([], raw=raw)
            for e, plan in plans.items():
                edges[e].wait_ack(plan.stream, plan.seq, timeout=180)
            assert_alive(ingest, central, client)
        for e, plan in plans.items():  # a last valid batch from every edge, after all the garbage
            edges[e].publish([], raw=body([plan.valid_event(4)], e, plan.stream))
            edges[e].wait_ack(plan.stream, plan.seq, timeout=120)
        assert_alive(ingest, central, client)
        check_outcome(central, client, admin, plans)
        assert central.metrics.fallbacks.value() == 0  # every hostile value was caught where it enters
    finally:
        for fake in edges.values():
            fake.close()
        ingest.stop()


def check_outcome(central: Container, client: TestClient, admin: dict[str, str], plans: dict[str, Plan]) -> None:
    with central.read_sessions() as s:
        for plan in plans.values():
            events = {r.seq: r for r in s.scalars(select(EventRow).where(EventRow.stream == plan.stream))}
            assert sorted(events) == list(range(1, plan.seq + 1)), plan.stream
            postings = {p.event_id: p for p in s.scalars(select(EventPostingRow).where(
                EventPostingRow.event_id.in_([r.id for r in events.values()])))}
            for seq, qty in plan.valid.items():
                row = events[seq]
                assert row.status == "accepted" and row.qty == qty, (plan.stream, seq)
                assert postings[row.id].status == "posted", (plan.stream, seq, postings[row.id].status)
            for seq in plan.suspect:
                row = events[seq]
                assert row.status == "accepted" and "qty_over_limit" in row.flags
                assert postings[row.id].status == "suspect" and postings[row.id].hold_reason == "qty_over_limit"
                assert postings[row.id].record_id is None  # never posted
            rejected = {r.seq: r for r in s.scalars(select(RejectedEventRow).where(
                RejectedEventRow.stream == plan.stream))}
            assert {q: r.code for q, r in rejected.items()} == plan.rejected, plan.stream
            for r in rejected.values():
                assert r.status == "open" and r.body and r.body["seq"] == r.seq  # stored, replayable
                assert "\n" not in r.reason and len(r.reason) <= 300, r.reason
                assert not any(word in r.reason.upper() for word in ("SELECT", "INSERT", "SQLALCHEMY", "PSYCOPG"))
                assert events[r.seq].status == "rejected" and events[r.seq].id not in postings
            posted_qty = s.scalar(select(func.coalesce(func.sum(EventPostingRow.qty), 0)).where(
                EventPostingRow.status == "posted", EventPostingRow.machine == plan.machine))
            assert posted_qty == sum(plan.valid.values())
            quarantined = {r.code for r in s.scalars(select(QuarantineRow).where(
                QuarantineRow.topic == events_topic(PLANT, plan.edge)))}
            assert quarantined == set(plan.quarantined.values()), plan.edge
        assert s.scalar(select(func.count()).select_from(EventRow).where(EventRow.status == "pending")) == 0
        assert s.scalar(select(func.count()).select_from(GapRow).where(GapRow.closed.is_(None))) == 0
        quarantine_rows = list(s.scalars(select(QuarantineRow)))
        assert all(len(q.reason) <= 300 and "\n" not in q.reason for q in quarantine_rows)
    held = ok(client.get(f"{API}/suspect-events?limit=1000", headers=admin))["events"]
    expected = [(p.machine, q) for p in plans.values() for q in ((LIMITS[p.machine] or 1_000_000) + 1, 2**63 - 1)]
    assert sorted((h["machine"], int(h["qty"])) for h in held) == sorted(expected * ROUNDS)
    assert all(h["hold_reason"] == "qty_over_limit" for h in held)
    assert ok(client.get(f"{API}/unassigned", headers=admin))["events"] == []
    listed = ok(client.get(f"{API}/rejected-events?limit=1000", headers=admin))["rejected_events"]
    assert all(r["code"] in REJECTION_CODES and r["reason"] for r in listed)
    assert len(listed) == sum(len(p.rejected) for p in plans.values())
    tb = ok(client.get(f"{API}/trial-balance", headers=admin))
    assert tb["total_debit"] == tb["total_credit"]
