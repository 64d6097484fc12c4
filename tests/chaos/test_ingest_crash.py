"""Central dies between the database commit and the ack publish (fault injection
``faults.crash_after_commit``): the re-sent batch is recognised as a duplicate and acked."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from support.central import STREAM, FakeEdge, ServeProcess, make_container, register

from central.adapters.db.engine import write_engine
from central.adapters.db.migrate import upgrade
from central.adapters.db.models_ingest import EventRow, StreamRow
from central.entrypoints.consumer import CRASH_EXIT_CODE
from sfsync.broker import BrokerProcess
from shared.waiting import wait_until

pytestmark = pytest.mark.chaos


@pytest.mark.timeout(180)
def test_crash_after_commit_then_resend_is_a_duplicate(tmp_path: Path, broker: BrokerProcess) -> None:
    url = f"sqlite:///{tmp_path / 'central.db'}"
    c = make_container(url)
    upgrade(write_engine(c.engine))
    register(c)
    env = {"SFSYNC_CENTRAL_DATABASE__URL": url, "SFSYNC_CENTRAL_MQTT__PORT": str(broker.port),
           "SFSYNC_CENTRAL_MQTT__CLIENT_ID": "central-crash", "SFSYNC_CENTRAL_AUTH__BOOTSTRAP_ADMIN": "false"}
    edge = FakeEdge(broker.host, broker.port)
    crashing = ServeProcess(tmp_path / "a", {**env, "SFSYNC_CENTRAL_FAULTS__CRASH_AFTER_COMMIT": "1"}).start()
    try:
        crashing.wait_ready()
        edge.publish(list(range(1, 11)))
        assert crashing.wait_exit(60) == CRASH_EXIT_CODE
        with c.read_sessions() as s:  # committed ...
            assert s.scalar(select(func.count()).select_from(EventRow).where(EventRow.status == "accepted")) == 10
            assert s.get(StreamRow, STREAM).acked_through == 10  # type: ignore[union-attr]
        assert edge.ack_messages == 0  # ... but never acked
    finally:
        crashing.stop()
    healthy = ServeProcess(tmp_path / "b", env).start()
    try:
        healthy.wait_ready()
        edge.publish(list(range(1, 11)))  # the edge re-sends what was never acked
        edge.wait_ack(STREAM, 10)
        with c.read_sessions() as s:
            wait_until(
                "re-sent batch counted as duplicates",
                lambda: (s.get(StreamRow, STREAM, populate_existing=True).duplicates or 0) >= 10,
                30,
            )
            assert s.scalar(select(func.count()).select_from(EventRow)) == 10
            assert s.get(StreamRow, STREAM).accepted == 10  # type: ignore[union-attr]
    finally:
        healthy.stop()
        edge.close()
        c.dispose()
