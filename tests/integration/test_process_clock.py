"""One clock per process: ``bootstrap(clock=...)`` is what the API's units of work, the audit log's
request records and the ingest read, so a fixed clock fixes every stamp a request or a batch writes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from support.api import API, api_client, ok, token
from support.central import EDGE, STREAM, event, payload, register, topic

from central.adapters.db.models_governance import AuditRow
from central.adapters.db.models_ingest import EventRow, StreamRow
from central.bootstrap import Container, bootstrap
from central.config import CentralSettings, DatabaseSettings
from central.service_layer.ingest.seam import RecordingHandler

T = datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
"""Far from the wall clock: a stamp equal to it came from the injected clock."""


@pytest.fixture
def central(central_db_url: str) -> Iterator[Container]:
    settings = CentralSettings(database=DatabaseSettings(url=central_db_url, pool_size=4))
    c = bootstrap(settings, posting=RecordingHandler(), clock=lambda: T)
    yield c
    c.dispose()


def test_an_api_write_is_stamped_and_audited_by_the_process_clock(central: Container) -> None:
    assert central.clock() == T
    client = api_client(central)
    edge = ok(client.post(f"{API}/edges", json={"id": "edge-clock", "plant": "P1"},
                          headers=token(central, "eve", "engineer")), 201)["edge"]
    assert edge["registered"] == "2031-05-06T07:08:09.123456Z"
    with central.read_sessions() as s:
        (rec,) = s.scalars(select(AuditRow).where(AuditRow.target == f"{API}/edges"))
        assert (rec.action, rec.actor, rec.at) == ("http.post", "eve", T)


def test_the_ingest_and_a_gap_acceptance_read_the_process_clock(central: Container) -> None:
    register(central)
    central.ingest.handle_events(topic(), payload([event(1), event(3)]))
    client = api_client(central)
    done = ok(client.post(f"{API}/streams/{STREAM}/accept-gap", json={"through": 2, "reason": "lost"},
                          headers=token(central, "carl", "controller")))
    assert done["acked_through"] == 3
    with central.read_sessions() as s:
        rows = s.scalars(select(EventRow).where(EventRow.edge == EDGE).order_by(EventRow.seq)).all()
        assert [(r.seq, r.received, r.accepted_at) for r in rows] == [(1, T, T), (3, T, T)]
        assert s.scalars(select(StreamRow.last_seen)).one() == T
