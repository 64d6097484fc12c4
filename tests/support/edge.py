"""Test helpers for the edge agent: a central stand-in (ack responder), a Modbus PLC, configs.

``AckResponder`` plays central on a real broker: it subscribes to every edge's events,
records each event under ``(stream, seq)`` (duplicates counted, not stored twice) and
publishes the retained ack ``{"stream", "acked_through"}`` of the highest contiguous seq,
exactly like central does after its commit. ``pause()`` stops acking (events are still
recorded) to show the outbox keeps what central has not acked.

``ModbusPlc`` is a real pymodbus TCP server on a free port whose holding registers a test
sets (``await plc.set(address, [values])``) and can stop and restart (a PLC restart).
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from sfsync.broker import free_port
from shared.contract import decode_batch
from shared.topics import EVENTS_FILTER, parse_topic

__all__ = ["AckResponder", "ModbusPlc", "edge_toml", "wait_until"]


class AckResponder:
    """Central stand-in: record every event once, ack the highest contiguous seq (retained)."""

    def __init__(
        self, host: str, port: int, *, validate: bool = True, record: bool = True, client_id: str | None = None
    ) -> None:
        self.host = host
        self.port = port
        self.validate = validate
        self.record = record  # False: keep only seqs (benchmarks with millions of events)
        self.received = 0
        self._seen: dict[str, set[int]] = {}
        self.events: dict[tuple[str, int], dict[str, Any]] = {}
        self.duplicates = 0
        self.batches = 0
        self.problems: list[str] = []
        self.acked: dict[str, int] = {}
        self._topics: dict[str, tuple[str, str]] = {}
        self._paused = False
        self._cond = threading.Condition()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id or f"ack-responder-{uuid.uuid4().hex[:8]}"
        )
        self._client.username_pw_set("central-test")
        self._client.max_queued_messages_set(0)
        self._client.max_inflight_messages_set(100)
        self._client.reconnect_delay_set(1, 2)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self.connected = threading.Event()

    def start(self) -> AckResponder:
        self._client.connect_async(self.host, self.port, keepalive=30)
        self._client.loop_start()
        if not self.connected.wait(15):
            raise TimeoutError("ack responder could not connect to the broker")
        return self

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def pause(self) -> None:
        self._paused = True

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            for stream in list(self.acked):
                self._advance(stream)

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not reason.is_failure:
            client.subscribe(EVENTS_FILTER, qos=1)
            self.connected.set()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            plant, edge, channel = parse_topic(msg.topic)
        except ValueError:
            return
        if channel != "events":
            return
        payload = bytes(msg.payload)
        if self.validate:
            decoded = decode_batch(payload)
            stream = decoded.stream
            docs = [e.model_dump(mode="json") for e in decoded.events]
            self.problems += [f"seq {p.seq}: {p.field}: {p.reason}" for p in decoded.problems]
        else:
            obj = orjson.loads(payload)
            stream, docs = obj["stream"], obj["events"]
        with self._cond:
            self.batches += 1
            self._topics[stream] = (plant, edge)
            self.acked.setdefault(stream, 0)
            seen = self._seen.setdefault(stream, set())
            for doc in docs:
                seq = int(doc["seq"])
                key = (stream, seq)
                if key in self.events or seq in seen or (seq <= self.acked[stream] and not self.record):
                    self.duplicates += 1
                elif self.record:
                    self.events[key] = doc
                else:
                    seen.add(seq)
                self.received += 1
            self._advance(stream)
            self._cond.notify_all()

    def _advance(self, stream: str) -> None:
        through = self.acked[stream]
        seen = self._seen.get(stream, set())
        while (stream, through + 1) in self.events or through + 1 in seen:
            through += 1
        if self._paused or through == 0:
            return
        seen.difference_update(range(self.acked[stream] + 1, through + 1))
        # re-acked on every batch, duplicates too, like central: an ack lost with a broker is repaired
        self.acked[stream] = through
        plant, edge = self._topics[stream]
        ack = orjson.dumps({"stream": stream, "acked_through": through})
        self._client.publish(f"sfsync/v1/{plant}/{edge}/ack", ack, qos=1, retain=True)

    # ------------------------------------------------------------------ queries

    def wait_for(self, predicate: Callable[[AckResponder], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.5))
            return True

    def stream_events(self, stream: str | None = None) -> list[dict[str, Any]]:
        with self._cond:
            keys = sorted(k for k in self.events if stream is None or k[0] == stream)
            return [self.events[k] for k in keys]

    def qty(self, kind: str = "count", machine: str | None = None, include_suspect: bool = True) -> int:
        total = 0
        for ev in self.stream_events():
            if ev["kind"] != kind or (machine is not None and ev["machine"] != machine):
                continue
            if not include_suspect and "suspect" in ev["flags"]:
                continue
            total += int(ev["qty"])
        return total

    def seqs(self, stream: str) -> list[int]:
        with self._cond:
            return sorted(s for (st, s) in self.events if st == stream)


class ModbusPlc:
    """A real Modbus TCP server (pymodbus) with 200 holding registers, on a free port."""

    def __init__(self, port: int | None = None, size: int = 200) -> None:
        self.port = port or free_port()
        self.size = size
        self._server: Any = None
        self._values = [0] * size

    async def start(self) -> ModbusPlc:
        from pymodbus.server import ModbusTcpServer
        from pymodbus.simulator import DataType, SimData, SimDevice

        device = SimDevice(id=1, simdata=[SimData(address=0, values=list(self._values), datatype=DataType.REGISTERS)])
        self._server = ModbusTcpServer(device, address=("127.0.0.1", self.port))
        await self._server.serve_forever(background=True)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._values = await self._server.async_getValues(1, 3, 0, self.size)
            await self._server.shutdown()
            self._server = None

    async def set(self, address: int, values: list[int]) -> None:
        for i, v in enumerate(values):
            self._values[address + i] = v
        if self._server is not None:
            await self._server.async_setValues(1, 3, address, values)

    async def set_u32(self, address: int, value: int) -> None:
        """A u32 in big word order (high register first)."""
        await self.set(address, [(value >> 16) & 0xFFFF, value & 0xFFFF])


def edge_toml(
    *,
    outbox: Path,
    mqtt_port: int,
    plc_port: int,
    status_port: int = 0,
    poll_ms: int = 50,
    commit_window_ms: int = 20,
    resend_timeout_s: float = 30.0,
    extra_machine: str = "",
    width: int = 16,
    sanity: int = 1000,
    client_id: str | None = None,
) -> str:
    """An edge.toml for one Modbus PLC: machine M1 with a u16 good counter at 0, state at 1."""
    cid = f'client_id = "{client_id}"\n' if client_id else ""
    return f"""
plant = "P1"
edge = "edge-1"

[outbox]
path = "{outbox}"
commit_window_ms = {commit_window_ms}

[mqtt]
host = "127.0.0.1"
port = {mqtt_port}
resend_timeout_s = {resend_timeout_s}
reconnect_min_s = 1
reconnect_max_s = 2
{cid}
[status]
port = {status_port}

[[sources]]
name = "plc1"
protocol = "modbus"
host = "127.0.0.1"
port = {plc_port}
poll_interval_ms = {poll_ms}
timeout_s = 1.0
reconnect_min_s = 0.2
reconnect_max_s = 1.0
tags = [
  {{ name = "good", address = 0, type = "u16" }},
  {{ name = "state", address = 1, type = "u16" }},
  {{ name = "scrap", address = 2, type = "u16" }},
  {{ name = "scrap_reason", address = 3, type = "u16" }},
  {{ name = "stop_reason", address = 4, type = "u16" }},
]

[[machines]]
id = "M1"
good = {{ tag = "good", width = {width}, sanity = {sanity} }}
scrap = [{{ tag = "scrap", width = 16, reason_tag = "scrap_reason", reason_map = {{ "1" = "BURR", "2" = "CRACK" }} }}]
state = {{ tag = "state", reason_tag = "stop_reason", reasons = {{ "7" = "EQ_FAIL" }} }}
{extra_machine}
"""


async def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``predicate`` on the event loop until true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(interval)
    return predicate()
