"""Two ingest workers on one PostgreSQL share the MQTT subscription: interleaved batches of
several streams end up stored exactly once, each stream posted in seq order."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from support.central import EDGE, FakeEdge, batches, make_container, register, start_ingest

from central.adapters.db.models_ingest import EventRow, StreamRow
from central.service_layer.ingest.seam import RecordingHandler
from sfsync.broker import BrokerProcess

STREAMS = ["s-one", "s-two", "s-three"]
N = 400


@pytest.mark.timeout(240)
def test_two_workers_shared_subscription_exactly_once_in_order(central_pg_url: str, broker: BrokerProcess) -> None:
    if broker.kind != "mosquitto":
        pytest.skip("shared subscriptions need mosquitto")
    handlers = [RecordingHandler(), RecordingHandler()]
    workers = [make_container(central_pg_url, posting=h, shared_subscription=True) for h in handlers]
    register(workers[0])
    ingests = [start_ingest(w, broker.host, broker.port, f"central-w{i}") for i, w in enumerate(workers)]
    edge = FakeEdge(broker.host, broker.port)
    try:
        chunks = {s: batches(1, N, 20) for s in STREAMS}
        for i in range(len(chunks[STREAMS[0]])):
            for s in STREAMS:
                edge.publish(chunks[s][i], stream=s)
        for s in STREAMS:
            edge.wait_ack(s, N, timeout=180)
        with workers[0].read_sessions() as session:
            total = session.scalar(select(func.count()).select_from(EventRow).where(EventRow.edge == EDGE))
            assert total == N * len(STREAMS)
            dupes = session.execute(select(EventRow.stream, EventRow.seq).group_by(EventRow.stream, EventRow.seq)
                                    .having(func.count() > 1)).all()
            assert dupes == []
            for s in STREAMS:
                row = session.get(StreamRow, s)
                assert row is not None and row.acked_through == N and row.accepted == N
        both = [h.seen for h in handlers]
        assert all(both), "both workers should have ingested some batches"
        for s in STREAMS:
            posted = sorted(seq for seen in both for st, seq in seen if st == s)
            assert posted == list(range(1, N + 1))  # every event posted exactly once
            for seen in both:  # and each worker posted each stream in increasing order
                mine = [seq for st, seq in seen if st == s]
                assert mine == sorted(mine)
    finally:
        edge.close()
        for ing in ingests:
            ing.stop()
        for w in workers:
            w.dispose()
