"""Hung and cut PLC connections: the keep-alive watchdog notices, the source recovers by itself."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from support.protocols import NS_URI, OpcUaServerProcess, modbus_server, running

from protocols import ModbusSourceConfig, OpcUaSourceConfig, Quality, TagReading, build_source
from sfsync.broker import free_port
from sfsync.proxy import TcpProxy

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def opc_server() -> Iterator[OpcUaServerProcess]:
    server = OpcUaServerProcess(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()



def tick_after(value: Any) -> Any:
    def pred(r: TagReading) -> bool:
        return r.tag == "tick" and r.quality is Quality.GOOD and isinstance(r.value, int) and r.value > value

    return pred


async def test_opcua_hung_network_is_detected_by_the_watchdog_and_recovers(opc_server: OpcUaServerProcess) -> None:
    with TcpProxy("127.0.0.1", opc_server.port) as proxy:
        config = OpcUaSourceConfig(
            name="press-1",
            endpoint=f"opc.tcp://127.0.0.1:{proxy.listen_port}/sfsync/",
            namespace_uri=NS_URI,
            tags=[{"name": "tick", "node": "s=Line.Tick"}],
            publishing_interval_ms=50,
            watchdog_interval_s=0.5,
            request_timeout_s=1.0,
            reconnect_min_s=0.2,
            reconnect_max_s=1.0,
        )
        source = build_source(config)
        async with running(source) as sink:
            first = await sink.wait_for(tick_after(0))
            await asyncio.to_thread(proxy.blackhole)
            lost = await sink.wait_for(lambda r: r.tag == "tick" and r.quality is Quality.BAD)
            assert "connection lost" in lost.detail
            await asyncio.to_thread(proxy.heal)
            mark = len(sink.readings)
            again = await sink.wait_for(tick_after(first.value), since=mark)
            assert again.epoch == first.epoch  # same server life: not a PLC restart
            assert source.health.reconnects >= 1

            await asyncio.to_thread(proxy.cut)
            await sink.wait_for(lambda r: r.tag == "tick" and r.quality is Quality.BAD, since=mark)
            await asyncio.to_thread(proxy.heal)
            mark = len(sink.readings)
            await sink.wait_for(tick_after(again.value), since=mark)


async def test_modbus_hung_network_times_out_and_recovers_with_a_new_epoch() -> None:
    port = free_port()
    async with modbus_server(port, [1]) as server:
        with TcpProxy("127.0.0.1", port) as proxy:
            config = ModbusSourceConfig(
                name="saw-2",
                host="127.0.0.1",
                port=proxy.listen_port,
                tags=[{"name": "count", "address": 0}],
                poll_interval_ms=50,
                timeout_s=0.5,
                retries=0,
                reconnect_min_s=0.1,
                reconnect_max_s=0.5,
            )
            source = build_source(config)
            async with running(source) as sink:
                first = await sink.wait_for(lambda r: r.tag == "count" and r.value == 1)
                await asyncio.to_thread(proxy.blackhole)
                lost = await sink.wait_for(lambda r: r.quality is Quality.BAD)
                assert "connection lost" in lost.detail
                await server.async_setValues(1, 3, 0, [2])
                await asyncio.to_thread(proxy.heal)
                again = await sink.wait_for(lambda r: r.tag == "count" and r.value == 2)
                assert again.quality is Quality.GOOD and again.epoch != first.epoch
