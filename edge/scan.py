"""``sfsync edge scan modbus://HOST:PORT --range A-B --unit U``: what a Modbus device holds.

Reads holding registers (function code 3) and input registers (function code 4) over the
range, in blocks of ``--block`` registers. Only those two read function codes are ever sent:
the scan never writes. A block the device refuses (exception 2 illegal data address, 3
illegal data value, or any other code but 1, 10 and 11) is split in halves until the
readable parts are found, so a device with holes in its map is scanned around them and the
refused ranges are listed. A device that refuses the function code itself (exception 1)
is reported for that table and the other table is still scanned.

The report lists every non-zero register with its 16-bit decodings (u16/i16, both byte
orders) and every pair of neighbouring registers with a non-zero word, decoded as u32, i32
and f32 under each of the four byte/word orders (:func:`protocols.modbus_orders.orders_for`
names them: ABCD, CDAB, BADC, DCBA), so a counter stands out before it is mapped.

Bad input and an unreachable or silent device are :class:`ScanError` (one line, exit 2).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from protocols.modbus import EXCEPTION_NAMES
from protocols.modbus_codec import decode, format_registers
from protocols.modbus_orders import NamedOrder, orders_for

__all__ = [
    "ScanError",
    "ScanTarget",
    "TableScan",
    "parse_target",
    "parse_range",
    "scan_device",
    "report_lines",
    "MAX_BLOCK",
]

#: the largest register count one FC 3/4 request may ask for (Modbus application protocol)
MAX_BLOCK = 125
#: exception codes meaning "no answer behind the gateway": stop, the unit is wrong or down
_GATEWAY = frozenset({10, 11})

Table = Literal["holding", "input"]
TABLES: tuple[tuple[Table, int], ...] = (("holding", 3), ("input", 4))


class ScanError(Exception):
    """Bad input, or a device that cannot be scanned: the message is the one line printed."""


@dataclass(frozen=True, slots=True)
class ScanTarget:
    host: str
    port: int


_TARGET = re.compile(r"^modbus://(?P<host>\[[0-9A-Fa-f:.]+\]|[^/:\s\[\]]+)(?::(?P<port>\d{1,5}))?/?$")


def parse_target(text: str) -> ScanTarget:
    """``modbus://HOST[:PORT]`` (port 502 when omitted)."""
    m = _TARGET.match(text.strip())
    if m is None:
        raise ScanError(f"target {text!r} is not modbus://HOST:PORT (e.g. modbus://10.0.0.9:502)")
    port = int(m.group("port") or 502)
    if not 1 <= port <= 65535:
        raise ScanError(f"target {text!r}: port {port} is not 1..65535")
    return ScanTarget(m.group("host").strip("[]"), port)


def parse_range(text: str) -> tuple[int, int]:
    """``A-B`` (inclusive, 0..65535) or a single address ``A``."""
    m = re.fullmatch(r"\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?", text)
    if m is None:
        raise ScanError(f"range {text!r} is not A-B with register addresses, e.g. 0-199")
    start = int(m.group(1))
    end = int(m.group(2)) if m.group(2) is not None else start
    if end > 65535 or start > 65535:
        raise ScanError(f"range {text!r}: register addresses are 0..65535")
    if end < start:
        raise ScanError(f"range {text!r}: the end {end} is before the start {start}")
    return start, end


@dataclass
class TableScan:
    """What one table (holding or input registers) gave."""

    table: Table
    function_code: int
    values: dict[int, int] = field(default_factory=dict)
    refused: list[tuple[int, int, str]] = field(default_factory=list)  # (first, last, reason)
    unsupported: str = ""  # the device refuses this function code altogether
    requests: int = 0

    def refused_ranges(self) -> list[tuple[int, int, str]]:
        """Neighbouring refused ranges with the same reason, merged."""
        merged: list[tuple[int, int, str]] = []
        for first, last, reason in sorted(self.refused):
            if merged and merged[-1][1] + 1 == first and merged[-1][2] == reason:
                merged[-1] = (merged[-1][0], last, reason)
            else:
                merged.append((first, last, reason))
        return merged


ReadFn = Callable[..., Awaitable[Any]]


class _Unsupported(Exception):
    pass


async def _read_block(read: ReadFn, scan: TableScan, start: int, count: int, unit: int, where: str) -> None:
    """Read ``count`` registers at ``start``; on a refusal split the block until the readable parts are found."""
    scan.requests += 1
    what = f"{scan.table} registers {start}-{start + count - 1} (FC {scan.function_code}) of unit {unit} at {where}"
    try:
        rr = await read(start, count=count, device_id=unit)
    except (OSError, TimeoutError, ModbusException) as exc:
        raise ScanError(f"no answer reading {what}: {exc}") from exc
    if not rr.isError():
        registers = list(rr.registers)
        if len(registers) < count:
            raise ScanError(f"short answer reading {what}: {len(registers)} of {count} registers")
        for i, value in enumerate(registers[:count]):
            scan.values[start + i] = value
        return
    code = int(getattr(rr, "exception_code", 0) or 0)
    name = EXCEPTION_NAMES.get(code, "unknown")
    if code == 1:
        raise _Unsupported(f"the device refuses function code {scan.function_code} (exception 1, illegal function)")
    if code in _GATEWAY:
        raise ScanError(f"exception {code} ({name}) reading {what}: is unit {unit} right and the device on?")
    if count == 1:
        scan.refused.append((start, start, f"exception {code} ({name})"))
        return
    half = count // 2
    await _read_block(read, scan, start, half, unit, where)
    await _read_block(read, scan, start + half, count - half, unit, where)


def _blocks(start: int, end: int, block: int) -> Iterator[tuple[int, int]]:
    for first in range(start, end + 1, block):
        yield first, min(block, end + 1 - first)


async def scan_device(
    target: ScanTarget,
    *,
    unit: int,
    start: int,
    end: int,
    block: int = 100,
    timeout_s: float = 3.0,
    tables: Sequence[Table] = ("holding", "input"),
) -> list[TableScan]:
    """Scan the tables over ``start..end``; :class:`ScanError` when the device cannot be reached."""
    if not 0 <= unit <= 255:
        raise ScanError(f"unit {unit} is not 0..255")
    if not 1 <= block <= MAX_BLOCK:
        raise ScanError(f"block {block} is not 1..{MAX_BLOCK} registers")
    where = f"{target.host}:{target.port}"
    client = AsyncModbusTcpClient(target.host, port=target.port, timeout=timeout_s, retries=0, reconnect_delay=0)
    try:
        try:
            connected = await asyncio.wait_for(client.connect(), timeout=timeout_s + 1)
        except (OSError, TimeoutError, ModbusException) as exc:
            raise ScanError(f"cannot connect to modbus://{where}: {exc}") from exc
        if not connected:
            raise ScanError(f"cannot connect to modbus://{where} (refused or unreachable)")
        reads: dict[Table, ReadFn] = {
            "holding": client.read_holding_registers,  # FC 3
            "input": client.read_input_registers,  # FC 4
        }
        results: list[TableScan] = []
        for table, code in TABLES:
            if table not in tables:
                continue
            scan = TableScan(table, code)
            try:
                for first, count in _blocks(start, end, block):
                    await _read_block(reads[table], scan, first, count, unit, where)
            except _Unsupported as exc:
                scan.unsupported = str(exc)
                scan.values.clear()
                scan.refused.clear()
            results.append(scan)
        return results
    finally:
        client.close()


# ---------------------------------------------------------------------- report


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.7g}"
    return str(value)


def _sixteen(value: int) -> str:
    swapped = ((value & 0xFF) << 8) | (value >> 8)
    signed = value - 0x10000 if value & 0x8000 else value
    signed_swapped = swapped - 0x10000 if swapped & 0x8000 else swapped
    return f"u16 {value}  i16 {signed}  | bytes swapped: u16 {swapped}  i16 {signed_swapped}"


def _thirty_two(registers: Sequence[int], order: NamedOrder) -> str:
    parts = []
    for value_type in ("u32", "i32", "f32"):
        value = decode(registers, value_type, byte_order=order.byte_order, word_order=order.word_order)
        parts.append(f"{value_type} {_fmt(value)}")
    return "  ".join(parts)


def _pairs(values: dict[int, int]) -> list[int]:
    """First addresses of neighbouring readable pairs with at least one non-zero register."""
    firsts = {a for a, v in values.items() if v} | {a - 1 for a, v in values.items() if v}
    return sorted(a for a in firsts if a in values and a + 1 in values)


def report_lines(target: ScanTarget, unit: int, start: int, end: int, scans: Sequence[TableScan]) -> list[str]:
    """The printed report (no I/O)."""
    lines: list[str] = []
    for scan in scans:
        lines.append(
            f"== {scan.table} registers (FC {scan.function_code}), unit {unit}, {start}-{end} "
            f"at modbus://{target.host}:{target.port}"
        )
        if scan.unsupported:
            lines.append(f"   {scan.unsupported}: skipped")
            continue
        nonzero = sorted(a for a, v in scan.values.items() if v)
        refused = scan.refused_ranges()
        lines.append(
            f"   {len(scan.values)} registers read in {scan.requests} requests, {len(nonzero)} non-zero"
            + (f", {sum(b - a + 1 for a, b, _ in refused)} refused" if refused else "")
        )
        for first, last, reason in refused:
            span = f"{first}" if first == last else f"{first}-{last}"
            lines.append(f"   refused {span}: {reason} (skipped)")
        for address in nonzero:
            value = scan.values[address]
            lines.append(f"   {address:>5}  {format_registers([value])}  {_sixteen(value)}")
        pairs = _pairs(scan.values)
        if pairs:
            lines.append("   32-bit pairs (registers A, A+1) under each byte/word order:")
            lines += [f"     {o.name} = {o.config} ({o.words})" for o in orders_for(2)]
        for first in pairs:
            registers = [scan.values[first], scan.values[first + 1]]
            lines.append(f"   {first:>5}-{first + 1:<5} {format_registers(registers)}")
            lines += [f"      {o.name}  {_thirty_two(registers, o)}" for o in orders_for(2)]
        if not nonzero:
            lines.append("   no non-zero registers in the range")
    return lines
