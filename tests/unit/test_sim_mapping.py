"""Register encodings and the generated edge configuration match what the edge decodes and validates."""

from __future__ import annotations

import tomllib

from hypothesis import given
from hypothesis import strategies as st

from device_sim.config import SimSettings
from device_sim.edge_mapping import edge_mapping, edge_mapping_toml
from device_sim.layout import OFF_SCRAP_BY_REASON, counter_words, f32_words, u64_words
from edge.config import EdgeSettings
from protocols.modbus_codec import decode

SIM = SimSettings.model_validate({
    "modbus": {"addressing": "block_per_machine", "block_stride": 40},
    "machines": [
        {"id": "OP-{n}", "count": 2, "protocols": ["opcua"], "counter_bits": 16},
        {"id": "MB-{n}", "count": 2, "protocols": ["modbus"], "word_order": "little"},
        {"id": "BOTH", "line": "Line2"},
    ],
})


@given(st.integers(0, 2**32 - 1), st.sampled_from(["big", "little"]))
def test_u32_counter_words_decode_with_the_edge_codec(value: int, order: str) -> None:
    regs = counter_words(value, 32, order)
    assert decode(regs, "u32", word_order=order) == value  # type: ignore[arg-type]
    other = "little" if order == "big" else "big"
    if regs[0] != regs[1]:
        assert decode(regs, "u32", word_order=other) != value  # type: ignore[arg-type]


@given(st.integers(0, 2**64 - 1), st.sampled_from(["big", "little"]))
def test_u64_time_words_decode(value: int, order: str) -> None:
    assert decode(u64_words(value, order), "u64", word_order=order) == value  # type: ignore[arg-type]


def test_f32_and_u16_counter() -> None:
    assert decode(f32_words(1.25, "little"), "f32", word_order="little") == 1.25
    assert counter_words(65535, 16, "little") == [65535, 0]


def test_edge_mapping_is_a_valid_edge_config_and_round_trips_through_toml() -> None:
    mapping = edge_mapping(SIM, opcua_endpoint="opc.tcp://127.0.0.1:4999/sim", modbus_port=5999)
    settings = EdgeSettings.model_validate({"plant": "P1", "edge": "e1", **mapping})
    assert [m.id for m in settings.machines] == ["OP-1", "OP-2", "MB-1", "MB-2", "BOTH"]
    opcua = [s for s in mapping["sources"] if s["protocol"] == "opcua"]
    assert len(opcua) == 1 and opcua[0]["namespace_uri"] == "urn:shopfloor-sync:sim"
    nodes = {t["name"]: t["node"] for t in opcua[0]["tags"]}
    assert nodes["OP-1.good"] == "s=Plant.Line1.OP-1.Counters.Good"
    assert nodes["BOTH.reason"] == "s=Plant.Line2.BOTH.Status.DowntimeReason"  # BOTH read once, over OPC UA
    modbus = [s for s in mapping["sources"] if s["protocol"] == "modbus"]
    assert [s["unit"] for s in modbus] == [1]
    tags = {t["name"]: t for t in modbus[0]["tags"]}
    assert tags["MB-2.good"]["address"] == 40 and tags["MB-2.good"]["word_order"] == "little"
    assert tags["MB-2.scrap.CRACK"]["address"] == 40 + OFF_SCRAP_BY_REASON + 2
    assert tags["MB-1.good"]["timestamp_tag"] == "MB-1.time"
    op1 = next(m for m in settings.machines if m.id == "OP-1")
    assert op1.good is not None and op1.good.max_value == 65535
    assert {s.reason for s in op1.scrap} == {"BURR", "CRACK", "DIMENSION"}
    assert op1.state is not None and op1.state.reasons["11"] == "EQ_FAIL"
    assert tomllib.loads(edge_mapping_toml(mapping)) == mapping


def test_prefer_modbus_moves_dual_machines() -> None:
    mapping = edge_mapping(SIM, prefer=("modbus", "opcua"))
    modbus_tags = [t["name"] for s in mapping["sources"] if s["protocol"] == "modbus" for t in s["tags"]]
    assert "BOTH.good" in modbus_tags


def test_example_config_loads_and_maps() -> None:
    from pathlib import Path

    from device_sim.config import load_settings

    root = Path(__file__).resolve().parents[2]
    sim = load_settings(root / "deploy" / "examples" / "sim.toml")
    assert [m.id for m in sim.resolve()] == ["PRESS-1", "PRESS-2", "SAW-1", "SAW-2", "LATHE-1"]
    EdgeSettings.model_validate({"plant": "P1", "edge": "e1", **edge_mapping(sim)})


def test_generated_counters_state_the_machines_top_rate() -> None:
    """max_rate_per_s = clock speed / the shortest cycle (with 25 % headroom): 1 s cycles at 60x."""
    sim = SimSettings.model_validate({
        "clock": {"speed": 60},
        "machines": [{"id": "FAST", "cycle_s": 1.0, "cycle_jitter_s": 0.2},
                     {"id": "SCRIPTED", "cycle_s": 30, "script": [{"state": "running", "for_s": 600, "cycle_s": 12}]}],
    })
    machines = {m["id"]: m for m in edge_mapping(sim)["machines"]}
    assert machines["FAST"]["good"]["max_rate_per_s"] == 93.8  # 1.25 x 60 / 0.8, rounded up
    assert all(s["max_rate_per_s"] == 93.8 for s in machines["FAST"]["scrap"])
    assert machines["SCRIPTED"]["good"]["max_rate_per_s"] == 6.25  # the scripted 12 s cycle is the fastest
    EdgeSettings.model_validate({"plant": "P1", "edge": "e1", **edge_mapping(sim)})
