"""What ``sfsync edge probe`` expects of a tag from edge.toml, and the lines it prints (no PLC)."""

from __future__ import annotations

from pathlib import Path

from edge.config import load_edge_settings
from edge.probe import describe_row, expectation_for
from protocols.base import ProbeRow, Quality
from protocols.config import ModbusTagConfig
from protocols.modbus_codec import all_interpretations, encode

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "edge.toml"


def tag(name: str) -> ModbusTagConfig:
    settings = load_edge_settings(EXAMPLE, {})
    found = next(t for s in settings.sources for t in s.tags if t.name == name)
    assert isinstance(found, ModbusTagConfig)
    return found


def test_expectations_come_from_the_machines_and_timestamp_tags() -> None:
    settings = load_edge_settings(EXAMPLE, {})
    good = expectation_for(settings, tag("saw2_good"))
    counter = settings.machines[0].good
    assert counter is not None and counter.tag == "saw2_good"
    assert good is not None and (good.low, good.high, good.max_step) == (0, 2**32 - 1, counter.sanity)
    assert good.what == "the good counter range of SAW-2 (0..4294967295)"
    scrap = expectation_for(settings, tag("saw2_scrap"))
    assert scrap is not None and scrap.high == 65535 and scrap.what.startswith("the scrap counter range of SAW-2")
    state = expectation_for(settings, tag("saw2_state"))
    assert state is not None and state.codes == frozenset({1, 2, 3, 4, 5})
    stop = expectation_for(settings, tag("saw2_stop_reason"))
    assert stop is not None and stop.codes == frozenset({7, 8}) and stop.what == "the stop reason codes of SAW-2"
    reason = expectation_for(settings, tag("saw2_scrap_reason"))
    assert reason is not None and reason.codes == frozenset({1, 2})
    clock = expectation_for(settings, tag("saw2_clock"))
    assert clock is not None and clock.admits(1_796_000_000_000) and not clock.admits(1_796_000)


def test_a_row_names_every_order_marks_one_and_prints_the_toml() -> None:
    settings = load_edge_settings(EXAMPLE, {})
    t = tag("saw2_good")  # configured word_order = "little" (CDAB); the PLC holds 13 as ABCD
    regs = encode(13, "u32")
    row = ProbeRow(t.name, "holding 100 device 1", "u32", "0x0000 0x000D", 851968, Quality.GOOD,
                   all_interpretations(regs, "u32"))
    text = "\n".join(describe_row(row, t, expectation_for(settings, t)))
    assert "as byte_order=big word_order=big: 13  = ABCD, big-endian, high word first (Modbus default)  <- most" in text
    assert "as byte_order=big word_order=little: 851968  = CDAB, low word first (word swap)  (configured)" in text
    assert "the configured order is CDAB (reads 851968)" in text
    assert ('paste into the source\'s tags: { name = "saw2_good", address = 100, type = "u32", '
            'byte_order = "big", word_order = "big", timestamp_tag = "saw2_clock" }') in text


def test_a_16_bit_row_keeps_the_plain_alternatives() -> None:
    t = tag("saw2_scrap")
    row = ProbeRow(t.name, "holding 102 device 1", "u16", "0x0102", 258, Quality.GOOD,
                   all_interpretations([0x0102], "u16"))
    lines = describe_row(row, t, None)
    assert lines[-2:] == ["      as byte_order=big: 258", "      as byte_order=little: 513"]
    assert not any("plausible" in line for line in lines)
