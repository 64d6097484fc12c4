"""Modbus adapter against a real pymodbus 3.16 TCP server (in process, on a free port)."""

from __future__ import annotations

import asyncio
import contextlib
import math
from datetime import UTC, datetime
from typing import Any

import pytest
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusIOException
from support.protocols import ReadingCollector, modbus_server, running

from protocols import ModbusSourceConfig, Quality, TagReading, build_source
from protocols.modbus import ModbusSource
from protocols.modbus_codec import encode
from sfsync.broker import free_port

pytestmark = pytest.mark.timeout(90)

# (tag settings, value the PLC holds); addresses are laid out contiguously from 0
TYPED: list[tuple[dict[str, Any], Any]] = [
    ({"name": "u16", "type": "u16"}, 65_000),
    ({"name": "i16", "type": "i16"}, -1234),
    ({"name": "u32_cdab", "type": "u32", "word_order": "little"}, 3_000_000_000),
    ({"name": "i32_badc", "type": "i32", "byte_order": "little"}, -2_000_000),
    ({"name": "u64_dcba", "type": "u64", "byte_order": "little", "word_order": "little"}, 2**63 + 12345),
    ({"name": "f32", "type": "f32"}, 1.5),
    ({"name": "f64_swapped", "type": "f64", "word_order": "little"}, -2.25),
    ({"name": "text", "type": "string", "length": 3}, "PRS1"),
    ({"name": "scaled", "type": "i16", "scale": 0.1, "offset": -40.0}, 655),
    ({"name": "bit3", "type": "bool", "bit": 3}, True),
]


def layout() -> tuple[list[dict[str, Any]], list[int]]:
    """Tag configs with addresses, and the register image that holds the values above."""
    tags, registers = [], []
    for settings, value in TYPED:
        kwargs = {k: v for k, v in settings.items() if k in ("byte_order", "word_order", "length", "bit")}
        regs = encode(value, settings["type"], **kwargs)
        tags.append({**settings, "address": len(registers)})
        registers.extend(regs)
    return tags, registers


def expected(name: str) -> Any:
    settings, value = next((s, v) for s, v in TYPED if s["name"] == name)
    if "scale" in settings:
        return value * settings["scale"] + settings["offset"]
    return value


def make_config(port: int, tags: list[dict[str, Any]], **extra: Any) -> ModbusSourceConfig:
    settings: dict[str, Any] = {
        "poll_interval_ms": 50,
        "timeout_s": 1.0,
        "retries": 0,
        "reconnect_min_s": 0.1,
        "reconnect_max_s": 0.5,
    }
    settings.update(extra)
    return ModbusSourceConfig(name="saw-2", host="127.0.0.1", port=port, tags=tags, **settings)



def good(tag: str, value: Any = None) -> Any:
    def pred(r: TagReading) -> bool:
        return r.tag == tag and r.quality is Quality.GOOD and (value is None or r.value == value)

    return pred


def bad(tag: str) -> Any:
    return lambda r: r.tag == tag and r.quality is Quality.BAD


async def test_every_type_and_order_in_one_contiguous_read() -> None:
    tags, registers = layout()
    port = free_port()
    coils = [{"name": "coil_on", "function": "coil", "address": 16 * 0 + 2}]  # bit 2 of register 0
    source = build_source(make_config(port, tags + coils))
    assert isinstance(source, ModbusSource)
    assert [(g.function, g.start, g.count) for g in source.groups] == [
        ("coil", 2, 1),
        ("holding", 0, len(registers)),
    ]
    async with modbus_server(port, registers) as server, running(source) as sink:
        for settings, _ in TYPED:
            reading = await sink.wait_for(good(settings["name"]))
            want = expected(settings["name"])
            if isinstance(want, float):
                assert reading.value == pytest.approx(want), settings
            else:
                assert reading.value == want and type(reading.value) is type(want), settings
        coil = await sink.wait_for(good("coil_on"))
        assert coil.value is bool(registers[0] & 0b100)
        # one request per group and poll
        polls_before = source.requests
        first_epoch = coil.epoch
        await server.async_setValues(1, 3, 0, encode(123, "u16"))
        changed = await sink.wait_for(good("u16", 123))
        assert changed.epoch == first_epoch and source.requests > polls_before
        assert source.requests % len(source.groups) == 0
        # unchanged values are not delivered again
        assert len(sink.of("i16")) == 1


async def test_exception_response_marks_its_tags_bad_and_others_keep_flowing(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    tags = [
        {"name": "count", "address": 0},
        {"name": "missing", "address": 900, "type": "u32"},  # past the device's registers
    ]
    source = build_source(make_config(port, tags))
    async with modbus_server(port, [7, 0, 0, 0]) as server, running(source) as sink:
        missing = await sink.wait_for(bad("missing"))
        assert "exception response 2 (illegal data address)" in missing.detail
        await sink.wait_for(good("count", 7))
        await server.async_setValues(1, 3, 0, [8])
        await sink.wait_for(good("count", 8))
        assert source.health.connected and source.health.quality["missing"] is Quality.BAD
    assert len(sink.of("missing")) == 1  # a condition is delivered once, not every poll
    logged = [r for r in caplog.records if r.name == "protocols.modbus" and "illegal data address" in r.getMessage()]
    assert len(logged) == 1


async def test_nan_and_infinity_are_bad() -> None:
    port = free_port()
    tags = [{"name": "nan", "address": 0, "type": "f32"}, {"name": "inf", "address": 2, "type": "f64"}]
    registers = encode(math.nan, "f32") + encode(math.inf, "f64")
    async with modbus_server(port, registers) as server, running(build_source(make_config(port, tags))) as sink:
        nan = await sink.wait_for(bad("nan"))
        assert nan.value is None and "nan" in nan.detail
        inf = await sink.wait_for(bad("inf"))
        assert "inf" in inf.detail
        await server.async_setValues(1, 3, 0, encode(2.5, "f32"))
        await sink.wait_for(good("nan", 2.5))


async def test_server_down_at_start_then_up_then_restarted_gives_new_epoch() -> None:
    port = free_port()
    source = build_source(make_config(port, [{"name": "count", "address": 0}]))
    async with running(source) as sink:
        async with modbus_server(port, [5]):
            first = await sink.wait_for(good("count", 5))
            assert source.health.reconnects == 0 and "cannot connect" in source.health.last_error
        lost = await sink.wait_for(bad("count"))
        assert "connection lost" in lost.detail and lost.epoch == first.epoch
        mark = len(sink.readings)
        async with modbus_server(port, [6]):
            again = await sink.wait_for(good("count", 6), since=mark)
            assert again.epoch != first.epoch and source.health.reconnects == 1


async def _black_hole(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accepts, reads, never answers: a hung PLC."""
    with contextlib.suppress(ConnectionError):
        while await reader.read(1024):
            pass
    writer.close()


async def test_a_hung_plc_times_out_without_stalling_another() -> None:
    hung = await asyncio.start_server(_black_hole, "127.0.0.1", 0)
    hung_port = hung.sockets[0].getsockname()[1]
    port = free_port()
    dead = build_source(make_config(hung_port, [{"name": "count", "address": 0}], timeout_s=0.3))
    alive = build_source(make_config(port, [{"name": "count", "address": 0}]))
    try:
        async with modbus_server(port, [1]) as server, running(dead), running(alive) as sink:
            await sink.wait_for(good("count", 1))
            for value in (2, 3, 4):
                await server.async_setValues(1, 3, 0, [value])
                await sink.wait_for(good("count", value))
            for _ in range(200):  # poll the condition, bounded
                if dead.health.last_error:
                    break
                await asyncio.sleep(0.05)
            assert not dead.health.connected and "reading holding 0..0" in dead.health.last_error
    finally:
        hung.close()


async def test_probe_shows_raw_registers_and_every_order() -> None:
    port = free_port()
    tags = [
        {"name": "count", "address": 0, "type": "u32", "word_order": "little"},
        {"name": "temp", "address": 2, "type": "i16", "scale": 0.1},
        {"name": "missing", "address": 300},
    ]
    registers = encode(0x12345678, "u32", word_order="little") + encode(-215, "i16")
    async with modbus_server(port, registers):
        rows = {row.tag: row for row in await build_source(make_config(port, tags)).probe()}
    count = rows["count"]
    assert count.raw == "0x5678 0x1234" and count.value == 0x12345678 and count.quality is Quality.GOOD
    assert count.alternatives == {
        "byte_order=big word_order=big": 0x56781234,
        "byte_order=big word_order=little": 0x12345678,
        "byte_order=little word_order=big": 0x78563412,
        "byte_order=little word_order=little": 0x34127856,
    }
    assert "holding 0" in count.address and "word_order=little" in count.data_type
    assert rows["temp"].value == pytest.approx(-21.5) and "scale=0.1" in rows["temp"].data_type
    assert rows["temp"].alternatives["byte_order=big"] == pytest.approx(-21.5)
    assert rows["missing"].quality is Quality.BAD and "illegal data address" in rows["missing"].error


class _SlowClient(AsyncModbusTcpClient):
    """A real client whose requests reach the PLC ``delay_s`` after the poll asked for them (a slow
    link or a long poll of many blocks)."""

    delay_s = 0.3

    async def read_holding_registers(self, *args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(self.delay_s)
        return await super().read_holding_registers(*args, **kwargs)


async def test_a_reading_is_never_stamped_before_the_plc_answered() -> None:
    """``received`` comes from when the poll's answer is in: a value that changed while a slow read was
    on its way is stamped at or after the change (stamped at the request it was up to 0.3 s early)."""
    port = free_port()
    source = ModbusSource(
        make_config(port, [{"name": "count", "address": 0}]),
        client_factory=lambda c: _SlowClient(c.host, port=c.port, timeout=c.timeout_s, retries=0, reconnect_delay=0),
    )
    async with modbus_server(port, [1]) as server, running(source) as sink:
        await sink.wait_for(good("count", 1))
        for value in (2, 3, 4):
            await asyncio.sleep(0.1)  # somewhere inside the next slow read
            changed_at = datetime.now(UTC)
            await server.async_setValues(1, 3, 0, [value])
            reading = await sink.wait_for(good("count", value))
            assert reading.received >= changed_at, (value, changed_at, reading.received)


class _SwallowingClient(AsyncModbusTcpClient):
    """A real client whose read turns a cancellation into a read without response, as pymodbus's
    ``asyncio.wait_for`` does on Python 3.11 when the stop arrives as its timeout fires."""

    async def read_holding_registers(self, *args: Any, **kwargs: Any) -> Any:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(3600)  # a PLC that never answers
        raise ModbusIOException("No response received after 0 retries, continue with next request")


async def test_a_stop_swallowed_by_a_read_still_stops_the_source() -> None:
    """A source whose hung read swallowed its cancellation must not reconnect forever (its stop hung
    for the whole test timeout before): the loop re-raises the cancellation the task still counts."""
    hung = await asyncio.start_server(_black_hole, "127.0.0.1", 0)
    hung_port = hung.sockets[0].getsockname()[1]
    source = ModbusSource(
        make_config(hung_port, [{"name": "count", "address": 0}], timeout_s=0.3),
        client_factory=lambda c: _SwallowingClient(c.host, port=c.port, timeout=c.timeout_s, retries=0,
                                                   reconnect_delay=0),
    )
    try:
        task = asyncio.create_task(source.run(ReadingCollector()))
        for _ in range(200):  # until the source is connected and inside its read
            if source.health.connected:
                break
            await asyncio.sleep(0.02)
        assert source.health.connected
        await asyncio.sleep(0.1)
        task.cancel()
        done, _pending = await asyncio.wait({task}, timeout=5)
        assert task in done, "the source kept running after its stop was swallowed"
        assert task.cancelled()
    finally:
        hung.close()
