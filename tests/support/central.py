"""Helpers for central tests: a wired container on a test database, batch payloads, edges."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import select

from central.bootstrap import Container, bootstrap
from central.config import CentralSettings, DatabaseSettings, IngestSettings
from central.db.models_ingest import EdgeRow, EventRow, MachineRow, StreamRow
from central.ingest.seam import PostingHandler, RecordingHandler
from shared.topics import events_topic

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
PLANT, EDGE, STREAM, MACHINE = "P1", "edge-1", "s-abc", "PRESS-2"


def make_container(url: str, posting: PostingHandler | None = None, **ingest: Any) -> Container:
    settings = CentralSettings(
        database=DatabaseSettings(url=url, pool_size=4),
        ingest=IngestSettings(**{"gap_alert_after_seconds": 0.0, "db_retries": 20, **ingest}),
    )
    return bootstrap(settings, posting=posting if posting is not None else RecordingHandler())


def register(container: Container, edge: str = EDGE, plant: str = PLANT, machines: Iterable[str] = (MACHINE,)) -> None:
    with container.write_sessions() as session, session.begin():
        if session.get(EdgeRow, edge) is None:
            session.add(EdgeRow(id=edge, plant=plant, registered=T0))
        for m in machines:
            if session.get(MachineRow, m) is None:
                session.add(MachineRow(id=m, plant=plant, edge=edge, work_center="WC-PRESS"))


def event(seq: int, machine: str = MACHINE, ts: datetime | None = None, **over: Any) -> dict[str, Any]:
    ts = ts or T0 + timedelta(seconds=seq)
    stamp = ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    doc: dict[str, Any] = {"seq": seq, "machine": machine, "kind": "count", "ts": stamp, "rx": stamp, "qty": 1,
                           "flags": [], "raw": {"tag": "good", "value": seq, "prev": seq - 1}}
    doc.update(over)
    return {k: v for k, v in doc.items() if v is not None}


def payload(seqs: Sequence[int] | Sequence[dict[str, Any]], stream: str = STREAM, edge: str = EDGE,
            plant: str = PLANT) -> bytes:
    events = [e if isinstance(e, dict) else event(e) for e in seqs]
    return orjson.dumps({"schema": "sfsync.batch/1", "plant": plant, "edge": edge, "stream": stream,
                         "events": events})


def topic(edge: str = EDGE, plant: str = PLANT) -> str:
    return events_topic(plant, edge)


def batches(lo: int, hi: int, size: int) -> list[list[int]]:
    return [list(range(s, min(s + size, hi + 1))) for s in range(lo, hi + 1, size)]


def stream_state(container: Container, stream: str = STREAM) -> dict[str, Any]:
    """Everything observable about a stream (for comparing end states)."""
    with container.read_sessions() as session:
        row = session.get(StreamRow, stream)
        events = session.execute(
            select(EventRow.seq, EventRow.status, EventRow.machine, EventRow.qty)
            .where(EventRow.stream == stream).order_by(EventRow.seq)
        ).all()
        return {
            "acked_through": row.acked_through if row else None,
            "last_seq": row.last_seq if row else None,
            "events": [tuple(e) for e in events],
        }
