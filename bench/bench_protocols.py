"""PLC adapters: one Modbus poll of 100 tags through ModbusSource against a real pymodbus server,
compared with raw pymodbus reads measured in the same run; OPC UA value mapping per reading.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from asyncua import ua
from pymodbus.client import AsyncModbusTcpClient

from bench.results import table, write_section
from bench.timing import async_best_of, best_of
from protocols import ModbusSourceConfig
from protocols.modbus import ModbusSource, default_client
from protocols.modbus_codec import encode
from protocols.opcua_values import to_reading
from sfsync.broker import free_port

N_TAGS = 100
TYPES = ("u16", "u32", "f32", "i16")


def layout() -> tuple[list[dict[str, Any]], list[int]]:
    tags: list[dict[str, Any]] = []
    registers: list[int] = []
    for i in range(N_TAGS):
        vtype = TYPES[i % len(TYPES)]
        value = 1.5 * i if vtype == "f32" else i
        tags.append({"name": f"t{i}", "address": len(registers), "type": vtype, "word_order": "little"})
        registers.extend(encode(value, vtype, word_order="little"))  # type: ignore[arg-type]
    return tags, registers


async def modbus_rows() -> tuple[list[list[object]], int]:
    from support.protocols import modbus_server

    tags, registers = layout()
    port = free_port()
    config = ModbusSourceConfig(name="bench", host="127.0.0.1", port=port, tags=tags)
    async with modbus_server(port, registers):
        source = ModbusSource(config)
        client = default_client(config)
        await client.connect()
        raw: AsyncModbusTcpClient = default_client(config)
        await raw.connect()
        async def raw_one_read() -> None:
            for g in source.groups:
                await raw.read_holding_registers(g.start, count=g.count, device_id=1)

        async def raw_per_tag() -> None:
            for t in tags:
                n = 2 if t["type"] in ("u32", "f32") else 1
                await raw.read_holding_registers(t["address"], count=n, device_id=1)

        async def adapter_poll() -> None:
            results = await source._read_all(client)
            source._readings(results, datetime.now(UTC), "bench")

        one = await async_best_of(raw_one_read)
        ours = await async_best_of(adapter_poll)
        per_tag = await async_best_of(raw_per_tag, number=5)
        client.close()
        raw.close()
    rows: list[tuple[str, float, float]] = [
        ("raw pymodbus: the same grouped reads, no decoding (baseline)", one, one),
        ("ModbusSource poll: grouped read + decode + readings", ours, one),
        ("raw pymodbus: one read per tag (what grouping avoids)", per_tag, one),
    ]
    out: list[list[object]] = [
        [name, f"{s * 1e3:.2f} ms", f"{N_TAGS / s:,.0f} tags/s", f"{s / base:.2f}x"] for name, s, base in rows
    ]
    return out, len(source.groups)


def opcua_rows() -> list[list[object]]:
    dv = ua.DataValue(ua.Variant(41, ua.VariantType.UInt32), SourceTimestamp=datetime.now(UTC))  # type: ignore[arg-type]
    now = datetime.now(UTC)
    raw = best_of(lambda: (dv.Value.Value, dv.StatusCode.is_good(), dv.SourceTimestamp),  # type: ignore[union-attr]
                  repeat=5, number=2000)
    ours = best_of(lambda: to_reading("count", dv, "epoch", now), repeat=5, number=2000)
    return [
        ["raw attribute access on a DataValue (baseline)", f"{raw * 1e6:.2f} us", f"{1 / raw:,.0f}/s", "1.00x"],
        ["to_reading: quality, scalar check, UTC source time", f"{ours * 1e6:.2f} us", f"{1 / ours:,.0f}/s",
         f"{ours / raw:.2f}x"],
    ]


def main() -> None:
    logging.disable(logging.CRITICAL)
    modbus, groups = asyncio.run(modbus_rows())
    body = (
        f"Modbus TCP, {N_TAGS} tags (u16/u32/f32/i16, word order little) in {groups} request(s), "
        "real pymodbus 3.16 server on localhost, best of 5.\n\n"
        + table(["poll", "per poll", "rate", "vs raw grouped reads"], modbus)
        + "\n\nOPC UA data-change notification -> TagReading (per reading).\n\n"
        + table(["operation", "per reading", "rate", "vs raw"], opcua_rows())
    )
    print(body)
    write_section("PLC adapters", body)


if __name__ == "__main__":
    main()
