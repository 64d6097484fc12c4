"""Helpers for central tests: a wired container on a test database, batch payloads, edges."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select

from central.adapters.db.models_ingest import EdgeRow, EventRow, MachineRow, StreamRow
from central.bootstrap import Container, bootstrap
from central.config import CentralSettings, DatabaseSettings, IngestSettings, MqttSettings
from central.entrypoints.consumer import MqttIngest
from central.service_layer.ingest.seam import PostingHandler, RecordingHandler
from shared.contract import decode_ack
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


# --- MQTT side --------------------------------------------------------------------------------




class FakeEdge:
    """Publishes batches like an edge and records central's acks per stream."""

    def __init__(self, host: str, port: int, edge: str = EDGE, plant: str = PLANT) -> None:
        self.edge, self.plant = edge, plant
        self.acks: dict[str, int] = {}
        self.ack_messages = 0
        self._cond = threading.Condition()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"fake-{edge}-{uuid.uuid4().hex[:6]}")
        self.client.username_pw_set("edge")
        self.client.max_queued_messages_set(0)
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *_a: c.subscribe(f"sfsync/v1/{plant}/{edge}/ack", 1)
        self.client.connect(host, port)
        self.client.loop_start()

    def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        ack = decode_ack(msg.payload)
        with self._cond:
            self.ack_messages += 1
            self.acks[ack.stream] = max(self.acks.get(ack.stream, 0), ack.acked_through)
            self._cond.notify_all()

    def publish(self, seqs: Sequence[int] | Sequence[dict[str, Any]], stream: str = STREAM,
                raw: bytes | None = None) -> None:
        body = raw if raw is not None else payload(seqs, stream=stream, edge=self.edge, plant=self.plant)
        info = self.client.publish(events_topic(self.plant, self.edge), body, qos=1)
        info.wait_for_publish(30)

    def wait_ack(self, stream: str, through: int, timeout: float = 60) -> None:
        with self._cond:
            ok = self._cond.wait_for(lambda: self.acks.get(stream, 0) >= through, timeout)
        assert ok, f"no ack through {through} for {stream} within {timeout}s (have {self.acks.get(stream)})"

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def start_ingest(container: Container, host: str, port: int, client_id: str) -> MqttIngest:
    ingest = MqttIngest(MqttSettings(host=host, port=port, client_id=client_id), container.settings.ingest,
                        container.ingest, container.metrics, state=container.ingest_state)
    ingest.start()
    assert ingest.connected.wait(30), "ingest did not connect"
    return ingest


class ServeProcess:
    """``sfsync central serve`` in a subprocess; parses the admin token and API address."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.env = {**os.environ, **env}
        self.proc: subprocess.Popen[str] | None = None
        self.lines: list[str] = []
        self.api: str | None = None
        self.token: str | None = None
        self._ready = threading.Event()

    def start(self, *args: str) -> ServeProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.stderr = (self.workdir / f"serve-{len(self.lines)}.log").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sfsync.cli", "central", "serve", "--api-port", "0", *args],
            stdout=subprocess.PIPE, stderr=self.stderr, text=True, env=self.env,
        )
        self.api = None
        self._ready.clear()
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())
            if line.startswith("sfsync: admin token: "):
                self.token = line.split(": ", 2)[2].strip()
            if line.startswith("sfsync: API at "):
                self.api = line.split(" at ", 1)[1].strip()
                self._ready.set()
        self._ready.set()

    def wait_ready(self, timeout: float = 60) -> str:
        assert self._ready.wait(timeout), f"serve did not start: {self.lines}"
        assert self.api is not None, f"serve exited early: {self.lines}"
        return self.api

    def wait_exit(self, timeout: float = 60) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.stderr.close()
