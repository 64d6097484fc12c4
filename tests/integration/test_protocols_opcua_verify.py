"""The OPC UA verification read against a real asyncua server whose subscription goes silent.

Measured here: a subscription deleted on the server by another session leaves the asyncua
client without any notification, status change or error, the same symptom the chaos run
showed. The verification read must still deliver the PLC's latest values within a bounded
time, count each miss, re-create the subscription, and treat a failing read as a lost
connection. Also: the simulator counts and logs a refused value write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from asyncua import ua
from asyncua.client.client import Client
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.status_codes import StatusCodes
from asyncua.ua.uaerrors import UaStatusCodeError
from support.protocols import NS_URI, OpcUaServerProcess, running
from support.sim import plant_settings

from device_sim.layout import MachineView
from device_sim.opcua_server import OpcUaSimServer
from protocols import OpcUaSourceConfig, Quality, TagReading
from protocols.opcua import OpcUaSource
from sfsync.broker import free_port

pytestmark = pytest.mark.timeout(90)

COUNT = {"name": "count", "node": "s=Line.Counter"}
STATE = {"name": "state", "node": "s=Line.State"}
TICK = {"name": "tick", "node": "s=Line.Tick"}  # the test server bumps it every 0.1 s


@pytest.fixture(scope="module")
def opc_server() -> Iterator[OpcUaServerProcess]:
    server = OpcUaServerProcess(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def make_config(endpoint: str, tags: list[dict[str, str]], **extra: Any) -> OpcUaSourceConfig:
    settings: dict[str, Any] = {
        "reconnect_min_s": 0.2,
        "reconnect_max_s": 1.0,
        "publishing_interval_ms": 50,
        "verify_interval_s": 0.3,
        "verify_grace_s": 0.3,
    }
    settings.update(extra)
    return OpcUaSourceConfig(name="press-1", endpoint=endpoint, namespace_uri=NS_URI, tags=tags, **settings)



@contextlib.asynccontextmanager
async def plc(endpoint: str) -> AsyncIterator[tuple[Client, int]]:
    """A separate session on the server (the PLC program, or a stray client)."""
    client = Client(endpoint)
    await client.connect()
    try:
        yield client, await client.get_namespace_index(NS_URI)
    finally:
        await client.disconnect()


async def write(client: Client, idx: int, name: str, value: Any, vtype: ua.VariantType) -> None:
    await client.get_node(f"ns={idx};s=Line.{name}").write_value(ua.Variant(value, vtype))


def is_(tag: str, value: Any = None, quality: Quality = Quality.GOOD) -> Callable[[TagReading], bool]:
    def pred(r: TagReading) -> bool:
        return r.tag == tag and r.quality is quality and (value is None or r.value == value)

    return pred


async def until(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Poll a condition (bounded); fail with ``what`` when it never holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            pytest.fail(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.05)


def missed_warnings(caplog: pytest.LogCaptureFixture, tag: str) -> int:
    return sum(
        1
        for rec in caplog.records
        if rec.name == "protocols.opcua" and rec.levelno == logging.WARNING
        and f"tag {tag}: the subscription missed a change" in rec.getMessage()
    )


async def test_deleted_subscription_values_still_arrive_and_subscription_is_recreated(
    opc_server: OpcUaServerProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="protocols.opcua")
    source = OpcUaSource(make_config(opc_server.endpoint, [COUNT, TICK], verify_grace_s=1.0))
    async with running(source) as sink, plc(opc_server.endpoint) as (client, idx):
        await sink.wait_for(is_("count", 0))
        await sink.wait_for(is_("tick"))
        old_id = source.subscription_id
        assert old_id is not None
        # another session deletes our subscription: the client hears nothing about it
        [status] = await client.delete_subscriptions([old_id])
        assert status.is_good()
        await write(client, idx, "Counter", 7, ua.VariantType.UInt32)
        seven = await sink.wait_for(is_("count", 7))
        server_dv = await client.get_node(f"ns={idx};s=Line.Counter").read_data_value()
        assert seven.source_ts is not None and seven.source_ts == server_dv.SourceTimestamp
        assert source.health.missed_changes >= 1
        assert missed_warnings(caplog, "count") == 1

        # the tick keeps changing, so every verification finds a miss: the subscription is re-created
        await until(lambda: source.health.resubscribes >= 1, "the subscription is re-created")
        await until(lambda: source.subscription_id not in (None, old_id), "a new subscription id")
        assert source.health.connected and source.health.reconnects == 0
        # ...and it delivers again: a verification delivers at most one tick per read, each counted as missed,
        # so twenty tick readings with fewer than twenty new misses means the subscription carried some
        mark, missed = len(sink.readings), source.health.missed_changes
        for _ in range(20):
            await sink.wait_for(is_("tick"), since=len(sink.readings))
        ticks = len([r for r in sink.readings[mark:] if r.tag == "tick"])
        assert source.health.missed_changes - missed < ticks
        await write(client, idx, "Counter", 8, ua.VariantType.UInt32)
        await sink.wait_for(is_("count", 8))
        assert missed_warnings(caplog, "count") == 1  # once per tag, not once per miss


async def test_dropped_notification_is_delivered_by_the_read_with_source_time(
    opc_server: OpcUaServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = OpcUaSource(make_config(opc_server.endpoint, [COUNT, STATE], verify_grace_s=1.0))
    deliver = source._on_notification
    dropped: list[TagReading] = []

    async def lossy(sink: Any, readings: list[TagReading]) -> None:  # the subscription "forgets" counter value 90
        forgotten = [r for r in readings if r.tag == "count" and r.value == 90]
        dropped.extend(forgotten)
        await deliver(sink, [r for r in readings if r not in forgotten])

    monkeypatch.setattr(source, "_on_notification", lossy)
    async with running(source) as sink, plc(opc_server.endpoint) as (client, idx):
        await sink.wait_for(lambda r: r.tag == "count" and r.quality is Quality.GOOD)
        await write(client, idx, "State", 3, ua.VariantType.Int16)
        await sink.wait_for(is_("state", 3))  # the primary path still works
        await write(client, idx, "Counter", 90, ua.VariantType.UInt32)
        reading = await sink.wait_for(is_("count", 90))
        assert dropped, "the notification should have been dropped by the test"
        server_dv = await client.get_node(f"ns={idx};s=Line.Counter").read_data_value()
        assert reading.source_ts == server_dv.SourceTimestamp
        assert source.health.missed_changes >= 1
        assert source.health.quality["count"] is Quality.GOOD
        assert len([r for r in sink.of("count") if r.value == 90]) == 1  # delivered once
        await write(client, idx, "Counter", 91, ua.VariantType.UInt32)
        await sink.wait_for(is_("count", 91))
        assert [r.value for r in sink.of("count")][-2:] == [90, 91]


class _FailingReads(Client):
    """The verification read of the first connection fails (raises or hangs)."""

    def __init__(self, *args: Any, fail: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fail = fail

    async def read_attributes(self, nodes: Any, attr: AttributeIds = AttributeIds.Value) -> list[ua.DataValue]:
        if self.fail == "raise":
            raise UaStatusCodeError(StatusCodes.BadTooManyOperations)  # type: ignore[no-untyped-call]
        if self.fail == "hang":
            await asyncio.Event().wait()
        return await super().read_attributes(nodes, attr)


@pytest.mark.parametrize("fail", ["raise", "hang"])
async def test_failing_verification_read_is_a_lost_connection(opc_server: OpcUaServerProcess, fail: str) -> None:
    made: list[Client] = []

    def factory(config: OpcUaSourceConfig) -> Client:
        client = _FailingReads(config.endpoint, timeout=config.request_timeout_s, fail=fail if not made else "")
        client.session_timeout = config.session_timeout_ms
        made.append(client)
        return client

    source = OpcUaSource(make_config(opc_server.endpoint, [COUNT], request_timeout_s=1.0), client_factory=factory)
    async with running(source) as sink:
        await sink.wait_for(is_("count"))
        lost = await sink.wait_for(is_("count", quality=Quality.BAD))
        assert "verification read failed" in lost.detail
        assert ("BadTooManyOperations" if fail == "raise" else "TimeoutError") in lost.detail
        mark = len(sink.readings)
        await sink.wait_for(is_("count"), since=mark)  # reconnected, values flow again
        assert source.health.reconnects == 1 and source.health.connected
        assert "verification read failed" in source.health.last_error
        # the second connection's reads work: verification runs without another reconnect
        await until(lambda: len(made) == 2, "one reconnect")
        await asyncio.wait_for(_reads_done(made[1], 2), 20)
        assert source.health.reconnects == 1


async def _reads_done(client: Client, n: int) -> None:
    """Wait until ``client`` answered ``n`` verification reads (counted by wrapping its read)."""
    done = asyncio.Event()
    count = 0
    original = client.read_attributes

    async def counting(nodes: Any, attr: AttributeIds = AttributeIds.Value) -> list[ua.DataValue]:
        nonlocal count
        result = await original(nodes, attr)
        count += 1
        if count >= n:
            done.set()
        return result

    client.read_attributes = counting  # type: ignore[method-assign]
    await done.wait()


async def test_simulator_counts_and_logs_a_refused_write(caplog: pytest.LogCaptureFixture) -> None:
    settings = plant_settings([{"id": "M1", "cycle_s": 2}])
    machines = settings.resolve()
    views = {m.index: MachineView(m) for m in machines}
    server = OpcUaSimServer(settings, machines)
    await server.start(views)
    try:
        assert server.write_failures == 0 and server.writes > 0
        view = views[machines[0].index]
        real = server._value

        def wrong_type(v: MachineView, leaf: str) -> tuple[object, ua.VariantType]:
            if leaf == "Counters.Good":
                return "twelve", ua.VariantType.String  # the node is UInt32: the server refuses it
            return real(v, leaf)

        server._value = wrong_type  # type: ignore[method-assign, assignment]
        with caplog.at_level(logging.WARNING, logger="device_sim.opcua_server"):
            await server.write(view, ["Counters.Good", "Status.CycleTime"])
            await server.write(view, ["Counters.Good"])
        assert server.write_failures == 2
        assert server.failed_leaves == {"M1/Counters.Good: BadTypeMismatch": 2}
        warnings = [
            r.getMessage()
            for r in caplog.records
            if r.name == "device_sim.opcua_server" and r.levelno >= logging.WARNING
        ]
        assert len(warnings) == 1 and "M1.Counters.Good" in warnings[0] and "BadTypeMismatch" in warnings[0]
    finally:
        await server.stop()
