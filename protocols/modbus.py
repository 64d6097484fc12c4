"""Modbus TCP source: polls grouped reads, delivers changes, reconnects with backoff.

Faults and what the sink sees:

- exception response (``rr.isError()``, e.g. illegal address): the tags of that request
  are delivered once with ``Quality.BAD`` and the exception in ``detail``; other requests
  keep flowing; the condition is logged once, and again when it clears;
- undecodable value, NaN or infinity: that tag ``BAD`` with detail, logged once;
- transport failure (refused, reset, timeout): every tag that was not already BAD is
  delivered ``BAD`` ("connection lost"), the client is dropped, and a new one connects
  after an exponential backoff. The new connection gets a new ``epoch`` (the PLC may
  have restarted meanwhile) and every tag's first value is delivered again.

``source_ts`` is the tag's ``timestamp_tag`` value when one is configured and usable,
else ``None``: the PLC gave no time, and ``received`` (the poll time) is the best there is.

One poll is one snapshot: the changed tags of a poll reach the sink together, so a counter
and its reason register read in the same poll are derived together. ``prev_seen`` of a
reading is the time of the previous poll in which the tag read good on this connection.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from protocols.base import ProbeRow, Quality, Scalar, Sink, SourceHealth, SourceUnavailable, TagReading
from protocols.config import ModbusSourceConfig, ModbusTagConfig
from protocols.modbus_codec import all_interpretations, apply_scale, decode, format_registers, is_finite
from protocols.modbus_plan import ReadGroup, plan_reads
from protocols.supervision import Backoff, ConditionLog, deliver, raise_if_cancelled, record_health, utcnow

__all__ = ["ModbusSource"]

logger = logging.getLogger(__name__)

EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}

# plausible range for a timestamp register: 2001-09-09 .. 2100-01-01, in ms since the epoch
_TS_MIN_MS = 1_000_000_000_000
_TS_MAX_MS = 4_102_444_800_000

ClientFactory = Callable[[ModbusSourceConfig], AsyncModbusTcpClient]


def default_client(config: ModbusSourceConfig) -> AsyncModbusTcpClient:
    # reconnect_delay=0: pymodbus must not reconnect behind our back; our loop owns that
    return AsyncModbusTcpClient(
        config.host, port=config.port, timeout=config.timeout_s, retries=config.retries, reconnect_delay=0
    )


@dataclass(frozen=True, slots=True)
class _TagResult:
    raw: list[int] | None
    value: Scalar
    quality: Quality
    detail: str


class ModbusSource:
    """A :class:`~protocols.base.TagSource` for one Modbus TCP device or gateway."""

    def __init__(self, config: ModbusSourceConfig, *, client_factory: ClientFactory = default_client) -> None:
        self.config = config
        self.name = config.name
        self.health = SourceHealth(name=config.name)
        self.groups: list[ReadGroup] = plan_reads(config)
        self.requests = 0  # read requests sent, for metrics and tests
        self._client_factory = client_factory
        self._conditions = ConditionLog(logger, config.name)
        self._delivered: dict[str, tuple[Scalar, Quality, str]] = {}
        self._seen: dict[str, datetime] = {}  # tag -> last poll that read it good, this connection
        self._connects = 0

    # ------------------------------------------------------------------ run loop

    async def run(self, sink: Sink) -> None:
        backoff = Backoff(self.config.reconnect_min_s, self.config.reconnect_max_s)
        while True:
            client = self._client_factory(self.config)
            epoch = ""
            try:
                await self._connect(client)
                epoch = self._on_connected()
                await self._poll_forever(client, sink, epoch, backoff.reset)
            except SourceUnavailable as exc:
                await self._on_lost(sink, epoch, str(exc))
            except Exception as exc:  # a bug must not end acquisition: log it, reconnect
                logger.exception("source %s: unexpected error", self.name)
                await self._on_lost(sink, epoch, f"unexpected error: {exc!r}")
            finally:
                client.close()
                self.health.connected = False
                self.health.connected_since = None
            raise_if_cancelled()
            await asyncio.sleep(backoff.next_delay())

    async def _connect(self, client: AsyncModbusTcpClient) -> None:
        where = f"{self.config.host}:{self.config.port}"
        try:
            ok = await asyncio.wait_for(client.connect(), timeout=self.config.timeout_s + 1)
        except (OSError, TimeoutError, ModbusException) as exc:
            raise SourceUnavailable(f"cannot connect to {where}: {exc!r}") from exc
        if not ok:
            raise SourceUnavailable(f"cannot connect to {where}")

    def _on_connected(self) -> str:
        self._connects += 1
        if self._connects > 1:
            self.health.reconnects += 1
        epoch = uuid.uuid4().hex
        self.health.connected = True
        self.health.connected_since = utcnow()
        self.health.epoch = epoch
        self._delivered.clear()  # the first value after each (re)connect is always delivered
        self._seen.clear()
        self._conditions.clear("connection", f"connected to {self.config.host}:{self.config.port}")
        return epoch

    async def _on_lost(self, sink: Sink, epoch: str, error: str) -> None:
        self.health.last_error = error
        self._conditions.raise_("connection", error)
        now = utcnow()
        detail = f"connection lost: {error}" if epoch else error
        lost: list[TagReading] = []
        for tag in self.config.tags:
            previous = self._delivered.get(tag.name)
            reading = TagReading(tag.name, None, None, Quality.BAD, epoch, now, detail)
            record_health(self.health, reading)
            if previous is not None and previous[1] is not Quality.BAD:
                lost.append(reading)
        await deliver(sink, lost, self._conditions)
        self._delivered.clear()
        self._seen.clear()

    async def _poll_forever(
        self, client: AsyncModbusTcpClient, sink: Sink, epoch: str, on_good_cycle: Callable[[], None]
    ) -> None:
        loop = asyncio.get_running_loop()
        interval = self.config.poll_interval_ms / 1000
        next_at = loop.time()
        while True:
            results = await self._read_all(client)
            raise_if_cancelled()  # a read that timed out may have swallowed a stop
            # Stamped once the poll's last response is in: the PLC sampled these values between the
            # request and its response, so a change it shows never carries a time before it happened
            # (stamped at the request, a change made during a slow read showed a negative lag).
            received = utcnow()
            await self._deliver_changes(sink, self._readings(results, received, epoch))
            on_good_cycle()
            next_at += interval
            delay = next_at - loop.time()
            if delay < 0:  # overran: skip the missed ticks instead of bursting
                next_at = loop.time()
                delay = 0
            await asyncio.sleep(delay)


    async def _deliver_changes(self, sink: Sink, readings: list[TagReading]) -> None:
        """The readings of one poll that changed since last delivered, as one snapshot."""
        changed: list[TagReading] = []
        for reading in readings:
            record_health(self.health, reading)
            key = (reading.value, reading.quality, reading.detail)
            previous = self._delivered.get(reading.tag)
            if previous is None or not _same(previous, key):
                changed.append(reading)
        if await deliver(sink, changed, self._conditions):
            for reading in changed:
                self._delivered[reading.tag] = (reading.value, reading.quality, reading.detail)
        for reading in readings:
            if reading.quality is Quality.GOOD:
                self._seen[reading.tag] = reading.received
            else:
                self._seen.pop(reading.tag, None)

    # ------------------------------------------------------------------ reading

    async def _read_group(
        self, client: AsyncModbusTcpClient, group: ReadGroup
    ) -> tuple[list[int] | None, str]:
        """Registers (bits as 0/1) of one group, or ``(None, reason)`` on an exception response."""
        read: Callable[..., Awaitable[Any]] = {
            "holding": client.read_holding_registers,
            "input": client.read_input_registers,
            "coil": client.read_coils,
            "discrete": client.read_discrete_inputs,
        }[group.function]
        self.requests += 1
        try:
            rr = await read(group.start, count=group.count, device_id=group.device_id)
        except (OSError, TimeoutError, ModbusException) as exc:
            raise SourceUnavailable(f"reading {group.describe()}: {exc!r}") from exc
        if rr.isError():
            code = getattr(rr, "exception_code", None)
            name = EXCEPTION_NAMES.get(code or 0, "unknown")
            return None, f"exception response {code} ({name}) reading {group.describe()}"
        data = [int(b) for b in rr.bits[: group.count]] if group.bits else list(rr.registers)
        if len(data) < group.count:
            return None, f"short response: {len(data)} of {group.count} reading {group.describe()}"
        return data, ""

    async def _read_all(self, client: AsyncModbusTcpClient) -> dict[str, _TagResult]:
        results: dict[str, _TagResult] = {}
        for group in self.groups:
            data, error = await self._read_group(client, group)
            key = f"group {group.describe()}"
            if data is None:
                self._conditions.raise_(key, error)
                for tag in group.tags:
                    results[tag.name] = _TagResult(None, None, Quality.BAD, error)
                continue
            self._conditions.clear(key, f"{group.describe()} readable again")
            for tag in group.tags:
                results[tag.name] = self._decode(tag, group.slice_for(tag, data))
        return results

    def _decode(self, tag: ModbusTagConfig, raw: list[int]) -> _TagResult:
        key = f"tag {tag.name}"
        try:
            value = decode(
                raw,
                tag.type,
                byte_order=tag.byte_order,
                word_order=tag.word_order,
                bit=tag.bit,
                encoding=tag.string_encoding,
            )
        except ValueError as exc:
            detail = f"cannot decode {format_registers(raw)} as {tag.type}: {exc}"
            self._conditions.raise_(key, f"tag {tag.name}: {detail}")
            return _TagResult(raw, None, Quality.BAD, detail)
        value = apply_scale(value, tag.scale, tag.offset)
        if not is_finite(value):
            detail = f"value is {value} ({format_registers(raw)})"
            self._conditions.raise_(key, f"tag {tag.name}: {detail}")
            return _TagResult(raw, None, Quality.BAD, detail)
        self._conditions.clear(key, f"tag {tag.name} good again")
        return _TagResult(raw, value, Quality.GOOD, "")

    def _readings(self, results: dict[str, _TagResult], received: datetime, epoch: str) -> list[TagReading]:
        out = []
        for tag in self.config.tags:
            result = results[tag.name]
            source_ts = self._timestamp(tag, results) if tag.timestamp_tag else None
            out.append(
                TagReading(
                    tag.name, result.value, source_ts, result.quality, epoch, received, result.detail,
                    prev_seen=self._seen.get(tag.name),
                )
            )
        return out

    def _timestamp(self, tag: ModbusTagConfig, results: dict[str, _TagResult]) -> datetime | None:
        assert tag.timestamp_tag is not None
        ts = results[tag.timestamp_tag]
        key = f"timestamp {tag.name}"
        if ts.quality is Quality.GOOD and isinstance(ts.value, int) and _TS_MIN_MS <= ts.value <= _TS_MAX_MS:
            self._conditions.clear(key, f"tag {tag.name}: timestamp_tag usable again")
            return datetime.fromtimestamp(ts.value / 1000, UTC)
        why = ts.detail or f"value {ts.value!r} is not a plausible ms-since-epoch time"
        self._conditions.raise_(key, f"tag {tag.name}: timestamp_tag {tag.timestamp_tag} unusable ({why})")
        return None

    # ------------------------------------------------------------------ probe

    async def probe(self, *, watch_s: float = 0.0) -> list[ProbeRow]:
        """Connect once and read every tag once; with ``watch_s`` keep reading on the same
        connection at the poll interval for that long, every read's ``alternatives`` kept in
        ``ProbeRow.samples`` (a counter that moves tells its byte/word order)."""
        client = self._client_factory(self.config)
        try:
            await self._connect(client)
            rows = await self._probe_read(client)
            if watch_s <= 0:
                return rows
            samples = {row.tag: [row.alternatives] if row.alternatives else [] for row in rows}
            loop = asyncio.get_running_loop()
            end = loop.time() + watch_s
            while (remaining := end - loop.time()) > 0:
                await asyncio.sleep(min(self.config.poll_interval_ms / 1000, remaining))
                rows = await self._probe_read(client)
                for row in rows:
                    if row.alternatives:
                        samples[row.tag].append(row.alternatives)
            return [dataclasses.replace(row, samples=tuple(samples[row.tag])) for row in rows]
        finally:
            client.close()

    async def _probe_read(self, client: AsyncModbusTcpClient) -> list[ProbeRow]:
        rows: dict[str, ProbeRow] = {}
        for group in self.groups:
            data, error = await self._read_group(client, group)
            for tag in group.tags:
                rows[tag.name] = self._probe_row(tag, group, data, error)
        return [rows[t.name] for t in self.config.tags]

    def _probe_row(
        self, tag: ModbusTagConfig, group: ReadGroup, data: list[int] | None, error: str
    ) -> ProbeRow:
        address = f"{tag.function} {tag.address}" + (f" bit {tag.bit}" if tag.bit is not None else "")
        address += f" device {group.device_id}"
        data_type = tag.type + (f"[{tag.length}]" if tag.length else "")
        data_type += f" byte_order={tag.byte_order} word_order={tag.word_order}"
        if tag.scale != 1 or tag.offset != 0:
            data_type += f" scale={tag.scale:g} offset={tag.offset:g}"
        if data is None:
            return ProbeRow(tag.name, address, data_type, "", None, Quality.BAD, error=error)
        raw = group.slice_for(tag, data)
        result = self._decode(tag, raw)
        alternatives = {
            k: (apply_scale(v, tag.scale, tag.offset) if v is not None else None)
            for k, v in all_interpretations(raw, tag.type, bit=tag.bit, encoding=tag.string_encoding).items()
        }
        return ProbeRow(
            tag.name,
            address,
            data_type,
            format_registers(raw, bits=group.bits),
            result.value,
            result.quality,
            alternatives,
            result.detail,
        )


def _same(a: tuple[Scalar, Quality, str], b: tuple[Scalar, Quality, str]) -> bool:
    """Equal including the value's type (``1 != True`` here) and with NaN equal to NaN."""
    (va, qa, da), (vb, qb, db) = a, b
    if qa is not qb or da != db or type(va) is not type(vb):
        return False
    if isinstance(va, float) and isinstance(vb, float) and math.isnan(va) and math.isnan(vb):
        return True
    return va == vb
