"""The edge status's optional ``oldest_unacked_ts`` (issue 14), both directions of compatibility:
a new central reads an old edge's status; an old central (the v1 model without the field, which
refuses unknown fields) reads a new edge's status when its backlog is empty or the edge is told
to leave the field out; the forwarder publishes the status periodically with the field."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import ConfigDict, create_model

from edge.config import EdgeSettings, load_edge_settings
from edge.forwarder import Forwarder
from edge.outbox import OutboxStats
from shared.contract import ContractError, Status, decode_status
from shared.schema import wire_schema

EDGE_EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "edge.toml"
CREATED = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)

# the status model as centrals before issue 14 have it: every field but the new one, unknown fields refused
OldStatus = create_model(  # type: ignore[call-overload]
    "OldStatus", __config__=ConfigDict(extra="forbid", frozen=True),
    **{name: (f.annotation, f) for name, f in Status.model_fields.items() if name != "oldest_unacked_ts"},
)


def old_central_accepts(payload: bytes) -> bool:
    try:
        OldStatus.model_validate(orjson.loads(payload))
    except ValueError:
        return False
    return True


class StatsOutbox:
    stream = "s-test"

    def __init__(self, last: int, acked: int) -> None:
        self.last, self.acked = last, acked

    async def pending(self, after: int, limit: int, max_bytes: int) -> list[tuple[int, bytes]]:
        return []

    async def ack(self, through: int) -> int:
        return 0

    def last_seq(self) -> int:
        return self.last

    def acked_through(self) -> int:
        return self.acked

    async def stats(self) -> OutboxStats:
        return OutboxStats(self.stream, self.last - self.acked, 0, self.last, self.acked, None,
                           CREATED.timestamp() if self.last > self.acked else None, 0, 1, 1)


def settings(**mqtt: object) -> EdgeSettings:
    environ = {f"SFSYNC_EDGE_MQTT__{key.upper()}": str(value) for key, value in mqtt.items()}
    s = load_edge_settings(EDGE_EXAMPLE, environ)
    return s.model_copy(update={"mqtt": s.mqtt.model_copy(update={"tls": None})})


def published(fwd: Forwarder) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    def publish(topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> None:
        assert topic == fwd.status_topic and retain and qos == 1
        sent.append(orjson.loads(payload))

    fwd._client.publish = publish  # type: ignore[method-assign,assignment]
    fwd._connected = True
    asyncio.run(fwd._publish_status())
    return sent


def test_a_new_central_reads_old_and_new_edges() -> None:
    old = orjson.dumps({"state": "online", "edge": "edge-1", "version": "0.9", "backlog": 3})
    assert decode_status(old).oldest_unacked_ts is None
    new = orjson.dumps({"state": "online", "edge": "edge-1", "backlog": 3, "oldest_unacked_ts": "2026-11-02T06:00:00Z"})
    assert decode_status(new).oldest_unacked_ts == CREATED
    with pytest.raises(ContractError):
        decode_status(orjson.dumps({"state": "online", "edge": "edge-1", "oldest_unacked_ts": "yesterday"}))


def test_the_forwarder_publishes_oldest_unacked_and_an_old_central_is_served_by_the_switch() -> None:
    sent = published(Forwarder(settings(), StatsOutbox(last=10, acked=4)))
    assert sent[0]["backlog"] == 6 and sent[0]["oldest_unacked_ts"] == "2026-11-02T06:00:00.000Z"
    assert decode_status(orjson.dumps(sent[0])).oldest_unacked_ts == CREATED
    assert not old_central_accepts(orjson.dumps(sent[0]))  # why the switch exists
    quiet = published(Forwarder(settings(status_oldest_unacked="false"), StatsOutbox(last=10, acked=4)))
    assert "oldest_unacked_ts" not in quiet[0] and old_central_accepts(orjson.dumps(quiet[0]))
    drained = published(Forwarder(settings(), StatsOutbox(last=10, acked=10)))  # empty backlog: field left out
    assert "oldest_unacked_ts" not in drained[0] and old_central_accepts(orjson.dumps(drained[0]))


def test_the_status_interval_setting() -> None:
    assert settings().mqtt.status_interval_s == 60.0
    assert settings(status_interval_s=0).mqtt.status_interval_s == 0
    with pytest.raises(Exception, match="status_interval_s"):
        settings(status_interval_s=-1)
    fwd = Forwarder(settings(status_interval_s=5), StatsOutbox(last=1, acked=0))
    published(fwd)
    assert fwd.stats.status_published == 1 and fwd._next_status > 0


def test_receivers_ignore_unknown_status_fields() -> None:
    newer = orjson.dumps({"state": "online", "edge": "edge-1", "backlog": 0, "queue_bytes": 12, "extra": {"a": 1}})
    status = decode_status(newer)
    assert status.state == "online" and status.backlog == 0
    assert "queue_bytes" not in status.model_dump()  # not carried along, not re-published
    assert wire_schema()["$defs"]["Status"]["additionalProperties"] is True
    assert wire_schema()["$defs"]["Batch"]["additionalProperties"] is False  # batches stay strict
