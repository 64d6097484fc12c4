"""Central's ingest fails closed, one event at a time (SQLite and PostgreSQL): an event whose
storing raises is rejected alone (``store_failed``, replayable) while the rest of its batch
posts; a database refusal while posting stores a reason without the driver's text; a machine's
``max_event_qty`` comes from master data (file and API) and holds larger events as suspect
until a controller decides."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, text
from support.api import api_client, ok
from support.central import (
    EDGE,
    MACHINE,
    STREAM,
    T0,
    FakeEdge,
    event,
    make_container,
    payload,
    register,
    start_ingest,
    topic,
)
from support.costing import costing_container, load, worked_example_master

from central.adapters.db.models_costing import EventPostingRow
from central.adapters.db.models_ingest import EventRow, MachineRow, RejectedEventRow
from central.bootstrap import Container, bootstrap
from central.config import CentralSettings, DatabaseSettings, IngestSettings
from central.service_layer.access import issue_token
from central.service_layer.ingest import store as ingest_store
from central.service_layer.ingest.operations import replay_rejected
from central.service_layer.ingest.seam import RecordingHandler
from sfsync.broker import BrokerProcess
from shared.waiting import wait_until

API = "/api/v1"


def test_an_event_that_cannot_be_stored_is_rejected_alone_and_replayable(
    central_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = make_container(central_db_url)
    register(c)
    real = ingest_store.event_values

    def poisoned(ev: Any, *args: Any, **kw: Any) -> dict[str, Any]:
        if ev.seq == 3:
            raise RuntimeError("an unforeseen bug with secret internals")
        return real(ev, *args, **kw)

    monkeypatch.setattr(ingest_store, "event_values", poisoned)
    try:
        result = c.ingest.handle_events(topic(), payload([1, 2, 3, 4, 5]))
        assert result.ack is not None and result.ack[3] == 5  # the rest of the batch is acked
        assert c.metrics.fallbacks.value() == 1
        with c.read_sessions() as s:
            status = dict(s.execute(select(EventRow.seq, EventRow.status)).tuples().all())
            assert status == {1: "accepted", 2: "accepted", 3: "rejected", 4: "accepted", 5: "accepted"}
            rej = s.scalars(select(RejectedEventRow)).one()
            assert (rej.seq, rej.code) == (3, "store_failed") and rej.body["seq"] == 3
            assert "secret" not in rej.reason and "central log" in rej.reason
        monkeypatch.setattr(ingest_store, "event_values", real)  # the fix
        with c.write_sessions() as s, s.begin():
            replayed = replay_rejected(s, rej.id, "controller", c.posting, T0)
            assert replayed.status == "accepted" and replayed.qty == 1
        with c.read_sessions() as s:
            assert set(s.scalars(select(EventRow.status))) == {"accepted"}
            assert s.get(RejectedEventRow, rej.id).status == "replayed"
    finally:
        c.dispose()


def test_a_database_refusal_while_posting_keeps_the_driver_text_in_the_log(
    central_db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    class DuplicateWriter:
        """A posting handler whose SQL the database refuses for one event (a unique key)."""

        name = "duplicate-writer"

        def __call__(self, session: Any, events: Any) -> None:
            for ev in events:
                if ev.seq == 2:
                    session.execute(text("INSERT INTO edges (id, plant, registered) VALUES (:i, :p, :r)"),
                                    {"i": EDGE, "p": "P1", "r": T0})

    c = make_container(central_db_url, posting=DuplicateWriter())
    register(c)
    try:
        result = c.ingest.handle_events(topic(), payload([1, 2, 3]))
        assert result.ack is not None and result.ack[3] == 3
        with c.read_sessions() as s:
            rej = s.scalars(select(RejectedEventRow)).one()
        assert (rej.seq, rej.code, rej.field) == (2, "posting_failed", "posting")
        assert "INSERT" not in rej.reason.upper() and "edges" not in rej.reason and EDGE not in rej.reason
        assert any("INSERT INTO edges" in (r.exc_text or "") for r in caplog.records)  # ... but logged
    finally:
        c.dispose()


@pytest.fixture
def costing(central_db_url: str) -> Iterator[Container]:
    c = costing_container(central_db_url)
    doc = worked_example_master(today=T0.date())  # the events' period: T0 is a fixed day, not today
    doc["machines"][0]["max_event_qty"] = 50
    load(c, doc)
    yield c
    c.dispose()


def test_max_event_qty_from_master_data_holds_larger_events_for_a_controller(costing: Container) -> None:
    client = api_client(costing)
    with costing.write_sessions() as s, s.begin():
        admin = {"Authorization": f"Bearer {issue_token(s, 'boss', 'admin').token}"}
    with costing.read_sessions() as s:
        assert s.get(MachineRow, MACHINE).max_event_qty == 50  # type: ignore[union-attr]
    assert ok(client.get(f"{API}/machines/{MACHINE}", headers=admin))["max_event_qty"] == 50
    ok(client.post(f"{API}/work-orders", json={"id": "WO-1", "item": "BR-100", "qty": "1000"}, headers=admin), 201)
    ok(client.post(f"{API}/work-orders/WO-1/release", headers=admin))
    ok(client.post(f"{API}/work-orders/WO-1/start", json={"machine": MACHINE, "at": T0.isoformat()}, headers=admin))
    costing.ingest.handle_events(topic(), payload([event(1, qty=50), event(2, qty=51), event(3, qty=70),
                                                   event(4, qty=1)]))
    held = ok(client.get(f"{API}/suspect-events", headers=admin))["events"]
    assert [(h["qty"], h["hold_reason"]) for h in held] == [(51, "qty_over_limit"), (70, "qty_over_limit")]
    order = ok(client.get(f"{API}/work-orders/WO-1", headers=admin))
    assert order["good_qty"] == "51"  # 50 + 1: the held ones are not posted
    ok(client.post(f"{API}/suspect-events/{held[0]['id']}/accept", headers=admin))
    ok(client.post(f"{API}/suspect-events/{held[1]['id']}/reject", headers=admin))
    assert ok(client.get(f"{API}/work-orders/WO-1", headers=admin))["good_qty"] == "102"
    # raise the bound by PUT: the next event of 70 posts; refused values name the key
    record = {"id": MACHINE, "work_center": "WC-PRESS", "edge": EDGE, "max_event_qty": 100}
    ok(client.put(f"{API}/machines/{MACHINE}", json=record, headers=admin))
    for bad in (0, -5, 2**63, "10", 1.5):
        resp = client.put(f"{API}/machines/{MACHINE}", json={**record, "max_event_qty": bad}, headers=admin)
        assert resp.status_code == 422 and "max_event_qty" in resp.text, (bad, resp.text)
    costing.ingest.handle_events(topic(), payload([event(5, qty=70)]))
    with costing.read_sessions() as s:
        row = s.scalars(select(EventPostingRow).join(EventRow, EventRow.id == EventPostingRow.event_id)
                        .where(EventRow.seq == 5)).one()
        assert row.status == "posted" and row.hold_reason is None


@pytest.mark.timeout(180)
def test_a_database_outage_is_retried_unacked_and_shows_on_health(central_sqlite_url: str,
                                                                   broker: BrokerProcess) -> None:
    """SQLite locked by another writer: the batch is not acked, the worker retries it with backoff
    and /health is degraded; once the lock is gone the same batch is stored and acked."""
    settings = CentralSettings(database=DatabaseSettings(url=central_sqlite_url, busy_timeout_ms=50),
                               ingest=IngestSettings(db_retries=1, gap_alert_after_seconds=0.0))
    c = bootstrap(settings, posting=RecordingHandler())
    register(c)
    client = api_client(c)
    ingest = start_ingest(c, broker.host, broker.port, "central-outage")
    edge = FakeEdge(broker.host, broker.port)
    blocker = sqlite3.connect(central_sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        edge.publish([1, 2])
        edge.wait_ack(STREAM, 2)
        blocker.execute("BEGIN IMMEDIATE")  # another writer holds the write lock
        edge.publish([3, 4])
        wait_until("the worker retrying", lambda: c.ingest_state.get("worker") == "retrying", 60)
        health = client.get("/health")
        assert health.status_code == 503 and health.json()["ingest"]["database"] == "unavailable"
        assert "ingest cannot store: database unavailable" in health.json()["problems"]
        assert client.get("/ready").json()["ready"] is False
        assert edge.acks[STREAM] == 2  # nothing acked while the database refuses
        blocker.execute("ROLLBACK")
        edge.wait_ack(STREAM, 4)
        wait_until("health back to ok", lambda: client.get("/health").status_code == 200, 30)
        assert c.ingest_state["worker"] == "running" and c.metrics.worker_restarts.value() == 0
        with c.read_sessions() as s:
            assert list(s.scalars(select(EventRow.seq).order_by(EventRow.seq))) == [1, 2, 3, 4]
    finally:
        blocker.close()
        edge.close()
        ingest.stop()
        c.dispose()
