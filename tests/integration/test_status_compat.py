"""Central reads edge status messages of every age (wire contract: receivers ignore unknown status
fields): one without ``oldest_unacked_ts`` (an edge before issue 14), one with it, and one with
fields this central does not know (a newer edge) are all recorded; a malformed known field is not."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from sqlalchemy import select
from support.central import EDGE, PLANT, register

from central.adapters.db.models_ingest import EdgeRow
from central.bootstrap import Container
from shared.topics import status_topic

SEEN = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)


def send(c: Container, body: dict[str, object]) -> bool:
    return c.ingest.handle_status(status_topic(PLANT, EDGE), orjson.dumps(body))


def edge(c: Container) -> EdgeRow:
    with c.read_sessions() as s:
        row = s.scalar(select(EdgeRow).where(EdgeRow.id == EDGE))
        assert row is not None
        return row


def test_central_accepts_statuses_with_and_without_the_field_and_with_unknown_fields(central: Container) -> None:
    register(central)
    assert send(central, {"state": "online", "edge": EDGE, "version": "0.9", "backlog": 0})  # an older edge
    row = edge(central)
    assert row.online and row.version == "0.9" and row.oldest_unacked_ts is None

    assert send(central, {"state": "online", "edge": EDGE, "version": "1.4", "backlog": 3,
                          "oldest_unacked_ts": "2026-11-02T06:00:00Z"})
    assert edge(central).oldest_unacked_ts == SEEN

    newer = {"state": "online", "edge": EDGE, "version": "2.0", "backlog": 3, "oldest_unacked_ts":
             "2026-11-02T06:00:00Z", "queue_bytes": 1234, "sources": {"plc1": "ok"}, "future_flag": True}
    assert send(central, newer)  # a newer edge's fields are ignored, the rest is recorded
    row = edge(central)
    assert row.version == "2.0" and row.oldest_unacked_ts == SEEN

    assert send(central, {"state": "offline", "edge": EDGE, "reason": "will"})
    assert not edge(central).online

    # known fields are still checked: a status whose known field is malformed is ignored (logged, counted)
    assert not send(central, {"state": "online", "edge": EDGE, "oldest_unacked_ts": "yesterday", "x": 1})
    assert not send(central, {"state": "sleeping", "edge": EDGE})
    assert not edge(central).online
