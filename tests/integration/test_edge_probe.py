"""``sfsync edge probe`` against a real pymodbus server: it settles the byte/word order of 32/64-bit tags.

Every tag is configured with the default order (ABCD), as an engineer does before knowing
better; the PLC holds each value in another order. The probe must mark the order the PLC
really uses, name it both ways, and print the tag's TOML with that order.
"""

from __future__ import annotations

import asyncio
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from support.edge import ModbusPlc

from protocols.config import ModbusTagConfig
from protocols.modbus_codec import Order, encode
from sfsync.cli import main

pytestmark = pytest.mark.timeout(90)

ORDERS: dict[str, tuple[Order, Order]] = {
    "ABCD": ("big", "big"),
    "CDAB": ("big", "little"),
    "BADC": ("little", "big"),
    "DCBA": ("little", "little"),
}
ORDERS_64: dict[str, tuple[Order, Order]] = {
    "ABCDEFGH": ("big", "big"),
    "GHEFCDAB": ("big", "little"),
    "BADCFEHG": ("little", "big"),
    "HGFEDCBA": ("little", "little"),
}


@pytest.fixture
async def plc() -> AsyncIterator[ModbusPlc]:
    p = ModbusPlc()
    await p.start()
    yield p
    await p.stop()


def probe_toml(path: Path, plc_port: int, tags: list[str], machines: str) -> Path:
    cfg = path / "edge.toml"
    tag_lines = ",\n  ".join(tags)
    cfg.write_text(f"""
plant = "P1"
edge = "edge-1"
[outbox]
path = "{path / 'outbox.db'}"
[[sources]]
name = "plc1"
protocol = "modbus"
host = "127.0.0.1"
port = {plc_port}
poll_interval_ms = 100
timeout_s = 1.0
tags = [
  {tag_lines}
]
{machines}
""")
    return cfg


def section(out: str, tag: str) -> str:
    """The probe's lines about one tag."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"   {tag}: "))
    def is_tag_line(line: str) -> bool:
        return line.startswith("   ") and not line.startswith("    ")

    end = next((i for i in range(start + 1, len(lines)) if is_tag_line(lines[i])), len(lines))
    return "\n".join(lines[start:end])


def snippet(text: str) -> ModbusTagConfig:
    line = next(line for line in text.splitlines() if "paste into the source's tags: " in line)
    inline = line.split("paste into the source's tags: ", 1)[1]
    return ModbusTagConfig(**tomllib.loads(f"tag = {inline}")["tag"])


async def run_probe(cfg: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = await asyncio.to_thread(main, ["edge", "probe", "--config", str(cfg), *extra])
    return code, capsys.readouterr().out


async def test_probe_marks_each_stored_word_order_and_prints_the_toml(
    tmp_path: Path, plc: ModbusPlc, capsys: pytest.CaptureFixture[str]
) -> None:
    tags, machines, address = [], [], 0
    for name, (byte_order, word_order) in ORDERS.items():
        await plc.set(address, encode(13, "u32", byte_order=byte_order, word_order=word_order))
        tags.append(f'{{ name = "c_{name}", address = {address}, type = "u32" }}')
        machines.append(f'[[machines]]\nid = "M-{name}"\ngood = {{ tag = "c_{name}", width = 32 }}\n')
        address += 2
    for name, (byte_order, word_order) in ORDERS_64.items():
        await plc.set(address, encode(1_234_567, "u64", byte_order=byte_order, word_order=word_order))
        tags.append(f'{{ name = "w_{name}", address = {address}, type = "u64" }}')
        address += 4
    cfg = probe_toml(tmp_path, plc.port, tags, "\n".join(machines))

    code, out = await run_probe(cfg, capsys)
    assert code == 0, out

    cdab = section(out, "c_CDAB")  # the case: 13 stored low word first reads 851968 by default
    assert "raw 0x000D 0x0000  value 851968  quality good" in cdab
    assert "as byte_order=big word_order=little: 13  = CDAB, low word first (word swap)  <- most plausible" in cdab
    assert ("as byte_order=big word_order=big: 851968  = ABCD, big-endian, high word first (Modbus default)"
            "  (configured)") in cdab
    assert ('most plausible: CDAB (byte_order = "big", word_order = "little", low word first (word swap)): '
            "smallest non-negative value within the good counter range of M-CDAB (0..4294967295)") in cdab
    assert "the configured order is ABCD (reads 851968)" in cdab

    for name, (byte_order, word_order) in ORDERS.items():
        text = section(out, f"c_{name}")
        assert text.count("<- most plausible") == 1, text
        assert f"= {name}, " in next(line for line in text.splitlines() if "<- most plausible" in line)
        tag = snippet(text)
        assert (tag.name, tag.type, tag.byte_order, tag.word_order) == (f"c_{name}", "u32", byte_order, word_order)
    assert "the configured order is the most plausible one" in section(out, "c_ABCD")

    for name, (byte_order, word_order) in ORDERS_64.items():
        text = section(out, f"w_{name}")
        marked = next(line for line in text.splitlines() if "<- most plausible" in line)
        assert f"= {name}, " in marked, text
        assert f"most plausible: {name} (" in text
        tag = snippet(text)
        assert (tag.type, tag.byte_order, tag.word_order) == ("u64", byte_order, word_order)


async def test_a_counter_at_zero_says_all_orders_agree(
    tmp_path: Path, plc: ModbusPlc, capsys: pytest.CaptureFixture[str]
) -> None:
    await plc.set(0, [0, 0, 0, 0, 0, 0])
    tags = ['{ name = "good", address = 0, type = "u32" }', '{ name = "total", address = 2, type = "u64" }']
    cfg = probe_toml(tmp_path, plc.port, tags, '[[machines]]\nid = "M1"\ngood = { tag = "good", width = 32 }\n')
    code, out = await run_probe(cfg, capsys)
    assert code == 0, out
    for tag in ("good", "total"):
        text = section(out, tag)
        assert "all orders agree: let it count, then probe again" in text
        assert "<- most plausible" not in text and "paste into" not in text


async def test_watch_settles_a_counter_the_single_read_gets_wrong(
    tmp_path: Path, plc: ModbusPlc, capsys: pytest.CaptureFixture[str]
) -> None:
    """65536 stored big/big: one read makes CDAB (reads 1) look best; counting up while watched
    shows ABCD moving by +1, the other orders jumping by 2^8 and more or going backwards."""
    await plc.set_u32(0, 65536)
    await plc.set(2, encode(70_000, "u32", word_order="little"))  # a second counter, low word first
    tags = ['{ name = "good", address = 0, type = "u32" }', '{ name = "other", address = 2, type = "u32" }']
    machines = ('[[machines]]\nid = "M1"\ngood = { tag = "good", width = 32 }\n'
                '[[machines]]\nid = "M2"\ngood = { tag = "other", width = 32 }\n')
    cfg = probe_toml(tmp_path, plc.port, tags, machines)

    code, out = await run_probe(cfg, capsys)
    assert code == 0
    assert "most plausible: CDAB" in section(out, "good")  # rule 3 alone is misled here

    async def count() -> None:
        for value in range(65537, 65537 + 200):
            await plc.set_u32(0, value)
            await plc.set(2, encode(70_000 + 3 * (value - 65536), "u32", word_order="little"))
            await asyncio.sleep(0.1)

    counting = asyncio.create_task(count())
    try:
        code, out = await run_probe(cfg, capsys, "--watch", "2")
    finally:
        counting.cancel()
    assert code == 0, out
    good = section(out, "good")
    assert "most plausible: ABCD" in good and "moved by small non-negative steps while watched (+" in good
    assert "reads)" in good  # every order's values over the watch are shown
    assert "the configured order is the most plausible one" in good
    other = section(out, "other")
    assert "most plausible: CDAB" in other and "moved by small non-negative steps" in other
    assert (snippet(other).byte_order, snippet(other).word_order) == ("big", "little")


async def test_watch_keeps_one_connection_and_collects_samples(plc: ModbusPlc) -> None:
    from protocols import ModbusSourceConfig
    from protocols.modbus import ModbusSource

    await plc.set(0, encode(5, "u32", word_order="little"))
    config = ModbusSourceConfig.model_validate({"name": "p", "host": "127.0.0.1", "port": plc.port,
                                                "poll_interval_ms": 100,
                                                "tags": [{"name": "c", "address": 0, "type": "u32"}]})
    source = ModbusSource(config)
    connects = 0
    original = source._connect

    async def counted(client: object) -> None:
        nonlocal connects
        connects += 1
        await original(client)  # type: ignore[arg-type]

    source._connect = counted  # type: ignore[method-assign]
    (row,) = await source.probe(watch_s=0.5)
    assert connects == 1 and len(row.samples) >= 3
    assert all(s["byte_order=big word_order=little"] == 5 for s in row.samples)
    assert row.samples[-1] == row.alternatives
    (single,) = await source.probe()
    assert single.samples == () and single.alternatives == row.alternatives
