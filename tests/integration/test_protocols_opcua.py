"""OPC UA adapter against a real asyncua server (a subprocess, so it can really die and restart)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from asyncua import ua
from asyncua.client.client import Client
from support.protocols import (
    NS_URI,
    TEST_PASSWORD,
    TEST_USER,
    OpcUaServerProcess,
    make_certificate,
    running,
)

from protocols import OpcUaSourceConfig, Quality, TagReading, build_source
from protocols.opcua import OpcUaSource
from sfsync.broker import free_port

pytestmark = pytest.mark.timeout(120)

TAGS = [
    {"name": "count", "node": "s=Line.Counter"},
    {"name": "state", "node": "s=Line.State"},
    {"name": "temp", "node": "s=Line.Temp"},
    {"name": "flag", "node": "s=Line.Flag"},
    {"name": "label", "node": "s=Line.Name"},
    {"name": "tick", "node": "s=Line.Tick"},
]


@pytest.fixture(scope="module")
def opc_server() -> Iterator[OpcUaServerProcess]:
    server = OpcUaServerProcess(free_port())
    server.start(shift=1)
    try:
        yield server
    finally:
        server.stop()


def make_config(endpoint: str, tags: list[dict[str, str]] = TAGS, **extra: Any) -> OpcUaSourceConfig:
    settings: dict[str, Any] = {"reconnect_min_s": 0.2, "reconnect_max_s": 1.0, "publishing_interval_ms": 50}
    settings.update(extra)
    return OpcUaSourceConfig(name="press-1", endpoint=endpoint, namespace_uri=NS_URI, tags=tags, **settings)



@contextlib.asynccontextmanager
async def writer(endpoint: str) -> AsyncIterator[Any]:
    """A separate client that writes values into the server, as the PLC program would."""
    client = Client(endpoint)
    await client.connect()
    idx = await client.get_namespace_index(NS_URI)

    async def write(name: str, value: Any, vtype: ua.VariantType) -> None:
        await client.get_node(f"ns={idx};s=Line.{name}").write_value(ua.Variant(value, vtype))

    try:
        yield write
    finally:
        await client.disconnect()


def is_(tag: str, value: Any = None, quality: Quality = Quality.GOOD) -> Any:
    def pred(r: TagReading) -> bool:
        return r.tag == tag and r.quality is quality and (value is None or r.value == value)

    return pred


async def test_values_flow_with_source_time_quality_and_epoch(opc_server: OpcUaServerProcess) -> None:
    source = build_source(make_config(opc_server.endpoint))
    assert isinstance(source, OpcUaSource)
    async with running(source) as sink, writer(opc_server.endpoint) as write:
        first = await sink.wait_for(is_("count", 0))
        assert first.source_ts is not None and first.source_ts.tzinfo is not None
        assert first.epoch and first.epoch == source.health.epoch
        for tag, value in (("temp", 20.5), ("flag", False), ("label", "press")):
            await sink.wait_for(is_(tag, value))
        await write("Counter", 41, ua.VariantType.UInt32)
        reading = await sink.wait_for(is_("count", 41))
        assert isinstance(reading.value, int) and reading.epoch == first.epoch
        await write("Temp", 71.25, ua.VariantType.Double)
        await sink.wait_for(is_("temp", 71.25))
        assert source.health.connected and source.health.quality["count"] is Quality.GOOD


async def test_every_state_transition_is_delivered_in_order(opc_server: OpcUaServerProcess) -> None:
    # a slow publishing interval puts many changes into one publish: the server-side queue keeps them all
    source = build_source(make_config(opc_server.endpoint, [TAGS[1]], publishing_interval_ms=1000))
    async with running(source) as sink, writer(opc_server.endpoint) as write:
        await sink.wait_for(lambda r: r.tag == "state")
        start = len(sink.readings)
        sequence = [3, 1, 4, 2, 5, 9, 6, 0]
        for value in sequence:
            await write("State", value, ua.VariantType.Int16)
        await sink.wait_for(is_("state", 0), since=start)
        got = [r.value for r in sink.of("state")[-len(sequence) :]]
        assert got == sequence


async def test_wrong_node_and_unknown_namespace_are_bad_tags_while_others_flow(
    opc_server: OpcUaServerProcess, caplog: pytest.LogCaptureFixture
) -> None:
    tags = [
        {"name": "ghost", "node": "s=Line.DoesNotExist"},
        {"name": "alien", "node": "nsu=urn:nowhere;s=Line.Counter"},
        TAGS[5],
    ]
    source = build_source(make_config(opc_server.endpoint, tags))
    async with running(source) as sink:
        ghost = await sink.wait_for(is_("ghost", quality=Quality.BAD))
        assert "BadNodeIdUnknown" in ghost.detail and "Line.DoesNotExist" in ghost.detail
        alien = await sink.wait_for(is_("alien", quality=Quality.BAD))
        assert "urn:nowhere" in alien.detail
        ticks = await sink.wait_for(is_("tick"))
        await sink.wait_for(lambda r: r.tag == "tick" and isinstance(r.value, int) and r.value > ticks.value)
    assert source.health.quality["ghost"] is Quality.BAD and "BadNodeIdUnknown" in source.health.detail["ghost"]
    assert source.health.quality["tick"] is Quality.GOOD
    assert sum("ghost" in rec.getMessage() for rec in caplog.records if rec.name == "protocols.opcua") == 1


async def test_nan_bad_and_uncertain_values_are_reported_as_such(opc_server: OpcUaServerProcess) -> None:
    tags = [
        {"name": "nan", "node": "s=Line.NotANumber"},
        {"name": "sensor", "node": "s=Line.Sensor"},
        {"name": "shaky", "node": "s=Line.Shaky"},
    ]
    source = build_source(make_config(opc_server.endpoint, tags))
    async with running(source) as sink:
        nan = await sink.wait_for(is_("nan", quality=Quality.BAD))
        assert nan.value is None and "nan" in nan.detail
        sensor = await sink.wait_for(is_("sensor", quality=Quality.BAD))
        assert sensor.value is None and sensor.detail == "BadSensorFailure"
        shaky = await sink.wait_for(is_("shaky", quality=Quality.UNCERTAIN))
        assert shaky.value == 2.5 and shaky.detail == "UncertainLastUsableValue"


async def test_probe_reads_every_tag_once(opc_server: OpcUaServerProcess) -> None:
    tags = [*TAGS[:3], {"name": "ghost", "node": "s=Line.DoesNotExist"}, {"name": "nan", "node": "s=Line.NotANumber"}]
    rows = {row.tag: row for row in await build_source(make_config(opc_server.endpoint, tags)).probe()}
    assert list(rows) == ["count", "state", "temp", "ghost", "nan"]
    assert rows["count"].data_type == "UInt32" and rows["count"].quality is Quality.GOOD
    assert rows["count"].address.endswith(";s=Line.Counter") and rows["count"].address.startswith("ns=")
    assert rows["state"].data_type == "Int16"
    assert rows["temp"].data_type == "Double" and isinstance(rows["temp"].value, float)
    assert rows["ghost"].quality is Quality.BAD and "BadNodeIdUnknown" in rows["ghost"].error
    assert rows["nan"].quality is Quality.BAD and "nan" in rows["nan"].raw


async def test_one_dead_server_does_not_stall_another(opc_server: OpcUaServerProcess) -> None:
    dead = build_source(make_config(f"opc.tcp://127.0.0.1:{free_port()}/", [TAGS[5]]))
    alive = build_source(make_config(opc_server.endpoint, [TAGS[5]]))
    async with running(dead), running(alive) as sink:
        first = await sink.wait_for(is_("tick"))
        later = await sink.wait_for(lambda r: r.tag == "tick" and isinstance(r.value, int) and r.value > first.value)
        assert later.quality is Quality.GOOD
        assert not dead.health.connected and "cannot connect" in dead.health.last_error


async def test_server_down_at_start_then_restarts_with_shifted_namespace() -> None:
    server = OpcUaServerProcess(free_port())
    source = build_source(make_config(server.endpoint, [TAGS[5]]))
    try:
        async with running(source) as sink:
            await asyncio.to_thread(server.start, 0)  # the source was already retrying
            first = await sink.wait_for(is_("tick"))
            assert source.health.reconnects == 0

            await asyncio.to_thread(server.stop)
            lost = await sink.wait_for(is_("tick", quality=Quality.BAD))
            assert "connection lost" in lost.detail or "cannot connect" in lost.detail
            await asyncio.to_thread(server.start, 3)  # the test namespace moves from index 2 to 5
            mark = len(sink.readings)
            again = await sink.wait_for(is_("tick"), since=mark)
            assert again.epoch != first.epoch  # a new server start time: the edge sees a restart
            assert source.health.reconnects == 1 and source.health.connected
    finally:
        await asyncio.to_thread(server.stop)


async def test_username_login() -> None:
    server = OpcUaServerProcess(free_port(), users=True)
    await asyncio.to_thread(server.start)
    try:
        wrong = build_source(make_config(server.endpoint, [TAGS[5]], username=TEST_USER, password="nope"))
        right = build_source(make_config(server.endpoint, [TAGS[5]], username=TEST_USER, password=TEST_PASSWORD))
        async with running(wrong), running(right) as sink:
            await sink.wait_for(is_("tick"))
            waited = 0
            while not wrong.health.last_error and waited < 200:  # poll the condition, bounded
                await asyncio.sleep(0.1)
                waited += 1
            assert not wrong.health.connected and "cannot connect" in wrong.health.last_error
    finally:
        await asyncio.to_thread(server.stop)


async def test_sign_and_encrypt_with_certificates(tmp_path: Path) -> None:
    server_cert = make_certificate(tmp_path, "server", "urn:sfsync:test:server", server=True)
    client_cert, client_key = make_certificate(tmp_path, "edge", "urn:sfsync:test:edge", server=False)
    server = OpcUaServerProcess(free_port(), secure=server_cert)
    await asyncio.to_thread(server.start)
    try:
        plain = build_source(make_config(server.endpoint, [TAGS[5]]))
        secure = build_source(
            make_config(
                server.endpoint,
                [TAGS[5]],
                security_mode="SignAndEncrypt",
                security_policy="Basic256Sha256",
                certificate=str(client_cert),
                private_key=str(client_key),
            )
        )
        async with running(plain), running(secure) as sink:
            reading = await sink.wait_for(is_("tick"))
            assert reading.epoch == secure.health.epoch
            for _ in range(200):  # poll the condition, bounded
                if plain.health.last_error:
                    break
                await asyncio.sleep(0.1)
            assert not plain.health.connected and plain.health.last_error  # the server offers no None endpoint
    finally:
        await asyncio.to_thread(server.stop)
