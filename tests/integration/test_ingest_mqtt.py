"""End to end through a real broker: batches in, retained acks out, status online/offline,
and ``sfsync central serve`` as a process (token and API address parsed from its output)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from support.central import (
    EDGE,
    PLANT,
    STREAM,
    FakeEdge,
    ServeProcess,
    batches,
    make_container,
    register,
    start_ingest,
)

from central.adapters.db.models_ingest import EdgeRow, EventRow
from central.bootstrap import Container
from sfsync.broker import BrokerProcess
from shared.contract import Status, encode_status
from shared.topics import status_topic
from shared.waiting import wait_until


@pytest.fixture
def central(central_sqlite_url: str) -> Iterator[Container]:
    c = make_container(central_sqlite_url)
    register(c)
    yield c
    c.dispose()


@pytest.mark.timeout(120)
def test_batches_are_stored_and_acked_through_the_broker(central: Container, broker: BrokerProcess) -> None:
    ingest = start_ingest(central, broker.host, broker.port, "central-test")
    edge = FakeEdge(broker.host, broker.port)
    try:
        for seqs in batches(1, 100, 20):
            edge.publish(seqs)
        edge.wait_ack(STREAM, 100)
        for seqs in batches(1, 100, 20):  # a reconnecting edge re-sends everything unacked
            edge.publish(seqs)
        wait_until("duplicates counted", lambda: central.metrics.duplicates.value() == 100, 60)
        with central.read_sessions() as s:
            assert s.scalar(select(func.count()).select_from(EventRow)) == 100
        edge.client.publish(status_topic(PLANT, EDGE), encode_status(Status(state="online", edge=EDGE,
                                                                            version="1.2")), qos=1, retain=True)

        def online() -> bool:
            with central.read_sessions() as s:
                row = s.get(EdgeRow, EDGE)
                return row is not None and row.online is True and row.version == "1.2"

        wait_until("edge online from the status topic", online, 30)
        edge.publish([], raw=b"\x00not json")
        wait_until("quarantine", lambda: central.metrics.quarantined.value("unreadable") == 1, 30)
        edge.publish([101])  # ingest keeps going after garbage
        edge.wait_ack(STREAM, 101)
    finally:
        edge.close()
        ingest.stop()


@pytest.mark.timeout(180)
def test_serve_process_prints_token_and_api_and_ingests(tmp_path: Path, broker: BrokerProcess) -> None:
    url = f"sqlite:///{tmp_path / 'central.db'}"
    env = {"SFSYNC_CENTRAL_DATABASE__URL": url, "SFSYNC_CENTRAL_MQTT__PORT": str(broker.port),
           "SFSYNC_CENTRAL_MQTT__CLIENT_ID": "central-serve-test"}
    serve = ServeProcess(tmp_path / "serve", env).start()
    edge = FakeEdge(broker.host, broker.port)
    try:
        api = serve.wait_ready()
        assert serve.token and serve.token.startswith("sfs_")
        hdr = {"Authorization": f"Bearer {serve.token}"}
        resp = httpx.post(f"{api}/api/v1/edges", json={"id": EDGE, "plant": PLANT}, headers=hdr)
        assert resp.status_code == 201, resp.text
        c = make_container(url)
        register(c)  # the machine (master data would do this)
        c.dispose()
        edge.publish([1, 2, 3])
        edge.wait_ack(STREAM, 3)
        streams = httpx.get(f"{api}/api/v1/streams", headers=hdr).json()["streams"]
        assert streams[0]["acked_through"] == 3
        assert httpx.get(f"{api}/health").json()["ingest"]["connected"] is True
    finally:
        edge.close()
        serve.stop()
    second = ServeProcess(tmp_path / "serve2", env).start()
    try:
        second.wait_ready()
        assert second.token is None  # the admin token is shown on the first start only
    finally:
        second.stop()
