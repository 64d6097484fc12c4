"""Read the simulated plant with plain asyncua and pymodbus clients and compare with the truth log.

One plant for the module (OPC UA start-up blocks for ~2 s): four hours of plant at 3600x, then
production stops and the servers keep serving the final values.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from asyncua import Client, ua
from pymodbus.client import AsyncModbusTcpClient
from support.sim import plant_settings, state_intervals, truth_lines, truth_qty

from device_sim.layout import OFF_GOOD, OFF_SCRAP_BY_REASON, OFF_STATE, OFF_TIME
from device_sim.plant import SimPlant
from device_sim.truth import iso_ms
from protocols.modbus_codec import decode

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(90)]

MACHINES = [
    {"id": "A16", "counter_bits": 16, "counter_start": 65500, "cycle_s": 1, "scrap_rate": 0.1},
    {"id": "B32L", "word_order": "little", "counter_start": 70000, "cycle_s": 2, "cycle_jitter_s": 0.5,
     "scrap_rate": 0.05, "mtbf_s": 1200, "stops": [{"reason": "EQ_FAIL", "min_s": 60, "max_s": 600}]},
    {"id": "C32B", "word_order": "big", "counter_start": 70000, "cycle_s": 2, "scrap_rate": 0.05},
    {"id": "SCRIPT", "cycle_s": 60, "script": [
        {"state": "running", "for_s": 7200, "scrap_every": 10},
        {"state": "down", "for_s": 1800, "reason": "EQ_FAIL"},
        {"state": "setup", "for_s": 900, "reason": "CHANGEOVER"},
        {"state": "running", "for_s": 3600},
    ]},
]


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def plant(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SimPlant]:
    truth = tmp_path_factory.mktemp("sim") / "truth.jsonl"
    settings = plant_settings(MACHINES, clock={"run_for_s": 4 * 3600})
    async with SimPlant(settings, truth) as p:
        await p.wait_ended()
        yield p


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def lines(plant: SimPlant) -> list[dict[str, Any]]:
    assert plant.truth.path is not None
    return truth_lines(Path(plant.truth.path))


async def _opcua_values(plant: SimPlant, machine: str, leaves: list[str]) -> dict[str, ua.DataValue]:
    assert plant.opcua_endpoint is not None
    async with Client(plant.opcua_endpoint) as client:
        idx = await client.get_namespace_index(plant.settings.opcua.namespace)
        out = {}
        for leaf in leaves:
            node = client.get_node(ua.NodeId(f"Plant.Line1.{machine}.{leaf}", idx))
            out[leaf] = await node.read_data_value()
        return out


async def _registers(plant: SimPlant, device_id: int, address: int, count: int) -> list[int]:
    client = AsyncModbusTcpClient("127.0.0.1", port=plant.modbus_port or 0, timeout=5)
    assert await client.connect()
    try:
        rr = await client.read_holding_registers(address, count=count, device_id=device_id)
        assert not rr.isError(), rr
        return list(rr.registers)
    finally:
        client.close()


def _expected(machine: dict[str, Any], lines: list[dict[str, Any]]) -> dict[str, int]:
    q = truth_qty(lines)
    mod = 1 << machine.get("counter_bits", 32)
    start = machine.get("counter_start", 0)
    out = {"good": (start + q.get((machine["id"], "count", None), 0)) % mod}
    for reason in ("BURR", "CRACK", "DIMENSION"):
        out[reason] = (start + q.get((machine["id"], "scrap", reason), 0)) % mod
    return out


async def test_opcua_counters_agree_with_truth_log(plant: SimPlant, lines: list[dict[str, Any]]) -> None:
    for machine in MACHINES:
        mid = machine["id"]
        expected = _expected(machine, lines)
        values = await _opcua_values(
            plant, mid, ["Counters.Good", "Counters.Scrap_BURR", "Counters.Scrap_CRACK", "Status.State"]
        )
        assert values["Counters.Good"].Value.Value == expected["good"], mid
        assert values["Counters.Scrap_BURR"].Value.Value == expected["BURR"], mid
        assert values["Counters.Scrap_CRACK"].Value.Value == expected["CRACK"], mid
        last_count = [r for r in lines if r.get("machine") == mid and r["kind"] == "count"][-1]
        assert values["Counters.Good"].Value.Value == last_count["counter"]
        source_ts = values["Counters.Good"].SourceTimestamp
        assert source_ts is not None
        assert source_ts.replace(tzinfo=None) <= datetime.fromisoformat(lines[-1]["t"]).replace(tzinfo=None)
        last_state = [r for r in lines if r.get("machine") == mid and r["kind"] == "state"][-1]
        codes = {"running": 1, "idle": 2, "down": 3, "setup": 4, "planned_stop": 5}
        assert values["Status.State"].Value.Value == codes[last_state["state"]]


async def test_modbus_counters_agree_with_truth_log(plant: SimPlant, lines: list[dict[str, Any]]) -> None:
    for machine in MACHINES:
        m = plant.by_id[machine["id"]]
        assert m.device_id is not None and m.base is not None
        regs = await _registers(plant, m.device_id, m.base, OFF_SCRAP_BY_REASON + 6)
        vtype = "u16" if m.spec.counter_bits == 16 else "u32"
        order = m.spec.word_order
        expected = _expected(machine, lines)
        good = regs[OFF_GOOD:OFF_GOOD + (1 if vtype == "u16" else 2)]
        assert decode(good, vtype, word_order=order) == expected["good"], m.id  # type: ignore[arg-type]
        burr = regs[OFF_SCRAP_BY_REASON:OFF_SCRAP_BY_REASON + (1 if vtype == "u16" else 2)]
        assert decode(burr, vtype, word_order=order) == expected["BURR"]  # type: ignore[arg-type]
        assert regs[OFF_STATE] in (1, 2, 3, 4, 5)
        changed = decode(regs[OFF_TIME:OFF_TIME + 4], "u64", word_order=order)
        mine = [r for r in lines if r.get("machine") == m.id]
        assert changed == int(datetime.fromisoformat(mine[-1]["t"]).timestamp() * 1000)


async def test_16_bit_counter_rolls_over_at_65535(plant: SimPlant, lines: list[dict[str, Any]]) -> None:
    counts = [r["counter"] for r in lines if r.get("machine") == "A16" and r["kind"] == "count"]
    assert 65535 in counts and 0 in counts
    wrap = counts.index(65535)
    assert counts[wrap + 1] == 0
    m = plant.by_id["A16"]
    assert m.device_id is not None and m.base is not None
    regs = await _registers(plant, m.device_id, m.base, 2)
    assert regs[0] == counts[-1] < 65500 and regs[1] == 0


async def test_word_order_decides_the_32_bit_value(plant: SimPlant, lines: list[dict[str, Any]]) -> None:
    for mid, right, wrong in (("B32L", "little", "big"), ("C32B", "big", "little")):
        m = plant.by_id[mid]
        assert m.device_id is not None and m.base is not None
        regs = await _registers(plant, m.device_id, m.base + OFF_GOOD, 2)
        truth_value = [r for r in lines if r.get("machine") == mid and r["kind"] == "count"][-1]["counter"]
        assert truth_value > 65535  # both words carry data
        assert decode(regs, "u32", word_order=right) == truth_value
        assert decode(regs, "u32", word_order=wrong) != truth_value


async def test_scripted_timeline_durations_are_exact(lines: list[dict[str, Any]]) -> None:
    assert state_intervals(lines, "SCRIPT") == [
        ("running", None, 7200.0), ("down", "EQ_FAIL", 1800.0), ("setup", "CHANGEOVER", 900.0),
        ("running", None, 3600.0), ("idle", None, 900.0),
    ]
    q = truth_qty(lines)
    assert q[("SCRIPT", "count", None)] == 108 + 60 and q[("SCRIPT", "scrap", "BURR")] == 12


async def test_truth_log_is_complete_and_ordered(plant: SimPlant, lines: list[dict[str, Any]]) -> None:
    assert lines[-1]["kind"] == "end"
    times = [r["t"] for r in lines]
    assert times == sorted(times)
    assert plant.end_ms is not None and lines[-1]["t"] == iso_ms(plant.end_ms)
    random_states = [r for r in lines if r.get("machine") == "B32L" and r["kind"] == "state"]
    assert any(r["state"] == "down" and r["reason"] == "EQ_FAIL" for r in random_states)
