"""``sfsync edge scan modbus://...``: against the simulator and a device that refuses part of the range.

The scan must read only with function codes 3 and 4 (a tracing server records every request),
list the non-zero registers with their decodings under each byte/word order, skip refused
ranges and say so, and answer bad input or an unreachable device with one line and exit 2.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice
from support.sim import plant_settings, truth_lines, truth_qty

from device_sim.layout import OFF_GOOD, OFF_STATE
from device_sim.plant import SimPlant
from protocols.modbus_codec import encode
from sfsync.broker import free_port
from sfsync.cli import main

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(90)]

MACHINES: list[dict[str, Any]] = [
    {"id": "W32L", "word_order": "little", "counter_start": 70000, "cycle_s": 2, "scrap_rate": 0.05},
    {"id": "W32B", "word_order": "big", "counter_start": 90000, "cycle_s": 3, "scrap_rate": 0.05},
]


async def run_cli(argv: list[str]) -> int:
    """``sfsync`` in a thread: it runs its own event loop."""
    return await asyncio.to_thread(main, argv)


def pair(out: str, table: str, first: int) -> dict[str, int]:
    """u32 per order name of the 32-bit pair at ``first`` in one table's section of the report."""
    section = out.split(f"== {table} registers", 1)[1].split("\n== ", 1)[0]
    lines = section.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(rf"^\s+{first}-{first + 1}\s", line))
    found = {}
    for line in lines[start + 1 : start + 5]:
        m = re.match(r"^\s+(ABCD|CDAB|BADC|DCBA)\s+u32 (\d+)\s", line)
        assert m is not None, line
        found[m.group(1)] = int(m.group(2))
    return found


def nonzero(out: str, table: str) -> dict[int, int]:
    section = out.split(f"== {table} registers", 1)[1].split("\n== ", 1)[0]
    found = re.finditer(r"^\s+(\d+)  0x[0-9A-F]{4}  u16 (\d+)", section, re.M)
    return {int(m.group(1)): int(m.group(2)) for m in found}


# ------------------------------------------------------------------ the simulator


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def plant(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SimPlant]:
    truth = tmp_path_factory.mktemp("sim") / "truth.jsonl"
    settings = plant_settings(MACHINES, clock={"run_for_s": 3600})
    async with SimPlant(settings, truth) as p:
        await p.wait_ended()
        yield p


async def _readable(port: int, unit: int, first: int, last: int, table: str) -> dict[int, int]:
    """Every register of first..last the device answers, one request each (the reference for the scan)."""
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=5)
    assert await client.connect()
    try:
        read = client.read_holding_registers if table == "holding" else client.read_input_registers
        found = {}
        for address in range(first, last + 1):
            rr = await read(address, count=1, device_id=unit)
            if not rr.isError():
                found[address] = rr.registers[0]
        return found
    finally:
        client.close()


async def test_scan_shows_the_simulators_counters_under_the_right_order(
    plant: SimPlant, capsys: pytest.CaptureFixture[str]
) -> None:
    assert plant.truth.path is not None and plant.modbus_port is not None
    qty = truth_qty(truth_lines(Path(plant.truth.path)))
    for machine in MACHINES:
        m = plant.by_id[str(machine["id"])]
        assert m.device_id is not None and m.base is not None
        expected_good = int(machine["counter_start"]) + qty.get((m.id, "count", None), 0)
        code = await run_cli(["edge", "scan", f"modbus://127.0.0.1:{plant.modbus_port}",
                              "--range", f"{m.base}-{m.base + 29}", "--unit", str(m.device_id), "--block", "10"])
        out = capsys.readouterr().out
        assert code == 0, out
        order = "CDAB" if machine["word_order"] == "little" else "ABCD"
        for table in ("holding", "input"):  # the simulator serves the same values in both
            values = pair(out, table, m.base + OFF_GOOD)
            assert values[order] == expected_good, (m.id, table, values)
            assert len(set(values.values())) == 4, values  # the other orders read something else
            readable = await _readable(plant.modbus_port, m.device_id, m.base, m.base + 29, table)
            shown = nonzero(out, table)
            assert shown == {a: v for a, v in readable.items() if v}, (m.id, table)
            assert f"{len(readable)} registers read" in out.split(f"== {table} registers", 1)[1]
            assert shown.get(m.base + OFF_STATE) in (1, 2, 3, 4, 5)


async def test_scan_of_the_simulator_with_a_unit_that_does_not_exist(
    plant: SimPlant, capsys: pytest.CaptureFixture[str]
) -> None:
    assert plant.modbus_port is not None
    code = await run_cli(["edge", "scan", f"modbus://127.0.0.1:{plant.modbus_port}", "--range", "0-9",
                          "--unit", "200", "--timeout", "1"])
    captured = capsys.readouterr()
    assert code == 2
    assert "Traceback" not in captured.err
    # the simulator runs in this process and logs to the same stderr: look at sfsync's own lines
    ours = [line for line in captured.err.splitlines() if line.startswith("sfsync")]
    assert len(ours) == 1 and "unit 200" in ours[0], captured.err


# ------------------------------------------------------------------ a device with holes, tracing every request


class TracingDevice:
    """Holding registers 0-19 and 40-59 (20-39 refused), input registers 0-9 only; records function codes."""

    def __init__(self) -> None:
        self.port = free_port()
        self.function_codes: list[int] = []
        holding = [0] * 20
        holding[3] = 7
        holding[10:12] = encode(123456, "u32", word_order="little")
        high = [0] * 20
        high[5] = 0xFFFF  # -1 as i16
        input_ = [0] * 10
        input_[2:4] = encode(1.5, "f32")
        bits = [SimData(address=0, values=[False], datatype=DataType.BITS)]
        self.device = SimDevice(id=3, simdata=(
            bits, bits,
            [SimData(address=0, values=holding, datatype=DataType.REGISTERS),
             SimData(address=40, values=high, datatype=DataType.REGISTERS)],
            [SimData(address=0, values=input_, datatype=DataType.REGISTERS)],
        ))
        self.server: Any = None

    def _trace(self, sending: bool, pdu: Any) -> Any:
        if not sending:
            self.function_codes.append(int(pdu.function_code))
        return pdu

    async def start(self) -> None:
        self.server = ModbusTcpServer(self.device, address=("127.0.0.1", self.port), trace_pdu=self._trace)
        await self.server.serve_forever(background=True)

    async def stop(self) -> None:
        await self.server.shutdown()


@pytest_asyncio.fixture(loop_scope="module")
async def device() -> AsyncIterator[TracingDevice]:
    d = TracingDevice()
    await d.start()
    yield d
    await d.stop()


async def test_scan_skips_refused_ranges_and_only_reads(
    device: TracingDevice, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await run_cli(["edge", "scan", f"modbus://127.0.0.1:{device.port}", "--range", "0-59", "--unit", "3",
                          "--block", "25"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert device.function_codes and set(device.function_codes) <= {3, 4}, device.function_codes
    holding = out.split("== input registers", 1)[0]
    assert "refused 20-39: exception 2 (illegal data address)" in holding
    assert "40 registers read" in holding
    assert nonzero(out, "holding") == {3: 7, 10: 123456 & 0xFFFF, 11: 123456 >> 16, 45: 0xFFFF}
    assert "i16 -1" in holding
    assert pair(out, "holding", 10)["CDAB"] == 123456
    inputs = out.split("== input registers", 1)[1]
    assert "refused 10-59" in inputs
    assert re.search(r"ABCD\s+u32 \d+\s+i32 \d+\s+f32 1.5\b", inputs), inputs


async def test_scan_of_a_fully_refused_range_says_so(device: TracingDevice, capsys: pytest.CaptureFixture[str]) -> None:
    code = await run_cli(["edge", "scan", f"modbus://127.0.0.1:{device.port}", "--range", "100-120", "--unit", "3",
                          "--table", "holding"])
    out = capsys.readouterr().out
    assert code == 0
    assert "refused 100-120" in out and "no non-zero registers" in out
    assert "== input registers" not in out


BAD_INPUT = [
    (["modbus:/127.0.0.1:502"], "is not modbus://HOST:PORT"),
    (["opc.tcp://127.0.0.1:4840"], "is not modbus://HOST:PORT"),
    (["modbus://127.0.0.1:70000"], "port 70000"),
    (["modbus://127.0.0.1:502", "--range", "20-10"], "before the start"),
    (["modbus://127.0.0.1:502", "--range", "0-70000"], "0..65535"),
    (["modbus://127.0.0.1:502", "--range", "a-b"], "is not A-B"),
    (["modbus://127.0.0.1:502", "--unit", "300"], "unit 300"),
    (["modbus://127.0.0.1:502", "--block", "126"], "block 126"),
    (["modbus://127.0.0.1:502", "--timeout", "0"], "--timeout"),
]


@pytest.fixture
def closed_port() -> Iterator[int]:
    yield free_port()  # nothing listens there


@pytest.mark.parametrize(("args", "message"), BAD_INPUT)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["edge", "scan", *args])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1 and message in captured.err, captured.err


def test_unreachable_device_is_one_line_and_exit_2(closed_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["edge", "scan", f"modbus://127.0.0.1:{closed_port}", "--timeout", "1"])
    captured = capsys.readouterr()
    assert code == 2
    assert len(captured.err.strip().splitlines()) == 1 and "cannot connect" in captured.err, captured.err
