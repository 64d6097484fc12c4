"""PLC faults on demand, observed with plain clients: reset, exceptions, slow replies, freeze, bad quality,
dropped connections and server restarts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from asyncua import Client, ua
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusIOException
from support.sim import plant_settings, truth_lines

from device_sim.plant import SimPlant
from shared.waiting import wait_until_async

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(90)]

MACHINES = [{"id": "F1", "cycle_s": 1}, {"id": "F2", "cycle_s": 1}]


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def plant(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SimPlant]:
    truth = tmp_path_factory.mktemp("simf") / "truth.jsonl"
    settings = plant_settings(MACHINES, clock={"speed": 20.0, "start": None})
    async with SimPlant(settings, truth) as p:
        yield p


async def _good(plant: SimPlant, machine: str, timeout: float = 5) -> int:
    m = plant.by_id[machine]
    client = AsyncModbusTcpClient("127.0.0.1", port=plant.modbus_port or 0, timeout=timeout, retries=0)
    assert await client.connect()
    try:
        rr = await client.read_holding_registers(m.base or 0, count=2, device_id=m.device_id or 1)
        if rr.isError():
            return -int(rr.exception_code)
        return int(client.convert_from_registers(rr.registers, data_type=client.DATATYPE.UINT32))
    finally:
        client.close()


async def test_counter_reset_goes_to_zero_on_both_servers(plant: SimPlant) -> None:
    async def counted() -> bool:
        return await _good(plant, "F1") >= 5

    await wait_until_async("F1 counting", counted, 20.0)
    await plant.inject({"kind": "counter_reset", "machine": "F1"})
    assert plant.counters()["F1"]["good"] < 5  # counting on from 0
    assert await _good(plant, "F1") < 5
    assert await _good(plant, "F2") >= 5  # only the targeted machine
    assert plant.opcua_endpoint is not None
    async with Client(plant.opcua_endpoint) as client:
        idx = await client.get_namespace_index(plant.settings.opcua.namespace)
        value = await client.get_node(ua.NodeId("Plant.Line1.F1.Counters.Good", idx)).read_value()
        assert value < 5
    assert plant.truth.path is not None
    resets = [r for r in truth_lines(Path(plant.truth.path)) if r.get("fault") == "counter_reset"]
    assert resets and resets[0]["machine"] == "F1" and resets[0]["counter"] == 0


async def test_modbus_exception_then_clear(plant: SimPlant) -> None:
    await plant.inject({"kind": "modbus_exception", "machine": "F2", "code": 4})
    assert await _good(plant, "F2") == -4
    assert await _good(plant, "F1") >= 0
    await plant.inject({"kind": "clear"})
    assert await _good(plant, "F2") >= 0


async def test_slow_replies_time_out_a_short_timeout(plant: SimPlant) -> None:
    await plant.inject({"kind": "slow", "delay_s": 3.0, "for_s": 30})
    with pytest.raises((ModbusIOException, ConnectionException)):
        await _good(plant, "F1", timeout=0.3)
    await plant.inject({"kind": "clear"})
    assert await _good(plant, "F1") >= 0


async def test_freeze_keeps_values_stale_until_cleared(plant: SimPlant) -> None:
    await plant.inject({"kind": "freeze", "machine": "F1", "protocol": "modbus"})
    frozen = await _good(plant, "F1")

    async def moved_on() -> bool:
        return int(plant.counters()["F1"]["good"]) >= frozen + 3

    await wait_until_async("F1 to count on inside the PLC", moved_on, 20.0)
    assert await _good(plant, "F1") == frozen
    await plant.inject({"kind": "clear"})
    assert await _good(plant, "F1") >= frozen + 3


async def test_opcua_bad_quality(plant: SimPlant) -> None:
    assert plant.opcua_endpoint is not None
    await plant.inject({"kind": "bad_quality", "machine": "F2"})
    async with Client(plant.opcua_endpoint) as client:
        idx = await client.get_namespace_index(plant.settings.opcua.namespace)
        node = client.get_node(ua.NodeId("Plant.Line1.F2.Counters.Good", idx))
        with pytest.raises(ua.UaStatusCodeError):
            await node.read_value()  # asyncua raises on a bad status
        await plant.inject({"kind": "clear"})
        dv = await node.read_data_value()
        assert dv.StatusCode is not None and dv.StatusCode.is_good()


async def test_drop_connections_and_modbus_restart(plant: SimPlant) -> None:
    client = AsyncModbusTcpClient("127.0.0.1", port=plant.modbus_port or 0, timeout=2, retries=0)
    assert await client.connect()
    try:
        await plant.inject({"kind": "drop_connections", "protocol": "modbus"})

        async def closed() -> bool:
            return not client.connected

        await wait_until_async("client to notice the dropped connection", closed, 20.0)
    finally:
        client.close()
    await plant.inject({"kind": "server_restart", "protocol": "modbus", "for_s": 0.5})
    with pytest.raises(AssertionError):
        await _good(plant, "F1")  # connect() is refused while the server is down
    await plant.faults.idle()
    assert await _good(plant, "F1") >= 0


async def test_opcua_restart_changes_server_start_time(plant: SimPlant) -> None:
    assert plant.opcua_endpoint is not None

    async def start_time() -> object:
        async with Client(plant.opcua_endpoint or "") as client:
            return await client.get_node(ua.ObjectIds.Server_ServerStatus_StartTime).read_value()

    before = await start_time()
    await plant.inject({"kind": "server_restart", "protocol": "opcua", "for_s": 0.2})
    await plant.faults.idle()
    assert await start_time() != before
