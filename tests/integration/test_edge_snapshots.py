"""Values that change together stay together: real PLC servers -> edge agent -> outbox events.

Three PLC sides, each with the tags listed counter-first and reason-first:

- a plain pymodbus server (support.protocols.modbus_server) whose test writes a scrap counter
  and its reason register in ONE ``setValues``, a state and its reason in one, and drives two
  16-bit counters: one really rolling over at its full rate, one reset by the PLC (no restart)
  while it stands at 65533;
- a plain asyncua server written here, changed by a second client with ONE Write request
  holding both nodes;
- the project's simulator (a scripted machine over Modbus and one over OPC UA), checked
  against its truth log.

Events are read from the agent's outbox (no broker: nothing is acked, everything stays).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from asyncua import ua
from asyncua.client.client import Client
from asyncua.server.server import Server
from support.protocols import modbus_server, running
from support.sim import plant_settings, truth_lines

from device_sim.layout import OFF_DOWN_REASON, OFF_SCRAP_REASON, OFF_SCRAP_TOTAL, OFF_STATE
from device_sim.plant import SimPlant
from edge.agent import Agent
from edge.config import EdgeSettings
from protocols import Quality, TagReading, build_source
from protocols.config import ModbusSourceConfig, OpcUaSourceConfig
from sfsync.broker import free_port
from shared.waiting import wait_until_async

pytestmark = pytest.mark.timeout(120)

ORDERS = ["counter_first", "reason_first"]
SCRAP_MAP = {"1": "BURR", "2": "CRACK", "3": "DIMENSION"}
STOP_MAP = {"7": "EQ_FAIL"}
NS = "urn:sfsync:test:snapshot-plc"


# ------------------------------------------------------------------ agent around a config


@contextlib.asynccontextmanager
async def running_agent(tmp_path: Path, sources: list[dict[str, Any]], machines: list[dict[str, Any]],
                        **extra: Any) -> AsyncIterator[Agent]:
    settings = EdgeSettings.model_validate({
        "plant": "P1", "edge": "edge-1",
        "outbox": {"path": str(tmp_path / "outbox.db"), "commit_window_ms": 10},
        "mqtt": {"port": free_port(), "reconnect_min_s": 5, "reconnect_max_s": 5},  # no broker: all stays
        "status": {"enabled": False},
        "sources": sources,
        "machines": machines,
        **extra,
    })
    agent = Agent(settings)
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    await asyncio.wait_for(agent.ready.wait(), 20)
    try:
        yield agent
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def stored(agent: Agent) -> list[dict[str, Any]]:
    return [orjson.loads(body) for _, body in await agent.store.pending(0, 100_000, 10**9)]


async def wait_event(agent: Agent, pred: Callable[[dict[str, Any]], bool], what: str, timeout: float = 20
                     ) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    async def check() -> bool:
        found[:] = [e for e in await stored(agent) if pred(e)]
        return bool(found)

    await wait_until_async(what, check, timeout)
    return found[-1]


def scrap_events(events: list[dict[str, Any]], machine: str = "M1") -> list[tuple[int, int, str]]:
    return [(e["raw"]["value"], e["qty"], e["reason"]) for e in events
            if e["machine"] == machine and e["kind"] == "scrap" and "baseline" not in e["flags"]]


def state_events(events: list[dict[str, Any]], machine: str = "M1") -> list[tuple[str, str | None]]:
    return [(e["state"], e.get("reason")) for e in events if e["machine"] == machine and e["kind"] == "state"]


Pred = Callable[[dict[str, Any]], bool]


def raw_is(value: int, kind: str = "scrap", machine: str = "M1") -> Pred:
    def pred(e: dict[str, Any]) -> bool:
        return bool(e["machine"] == machine and e["kind"] == kind and e["raw"]["value"] == value)

    return pred


def state_after(prev: int) -> Pred:
    def pred(e: dict[str, Any]) -> bool:
        return bool(e["kind"] == "state" and e["raw"]["prev"] == prev)

    return pred


def machine_cfg(mid: str = "M1", wait_ms: int = 200, **kw: Any) -> dict[str, Any]:
    return {
        "id": mid,
        "scrap": [{"tag": "scrap", "width": 16, "max_rate_per_s": 5, "reason_tag": "scrap_reason",
                   "reason_map": SCRAP_MAP, "reason_wait_ms": wait_ms}],
        "state": {"tag": "state", "reason_tag": "stop_reason", "reasons": STOP_MAP},
        **kw,
    }


SCRAP_STEPS = [(1, 1), (2, 2), (3, 2), (4, 3)]  # (counter, reason code): the third keeps its reason
EXPECTED_SCRAP = [(1, 1, "BURR"), (2, 1, "CRACK"), (3, 1, "CRACK"), (4, 1, "DIMENSION")]


# ------------------------------------------------------------------ plain pymodbus server


@pytest.mark.parametrize("order", ORDERS)
async def test_modbus_counter_and_reason_written_together(tmp_path: Path, order: str) -> None:
    # 0 good M1 | 1 state | 2 stop reason | 3,4 scrap and its reason (in `order`) | 5 good M2
    scrap_at, reason_at = (3, 4) if order == "counter_first" else (4, 3)
    registers = [65532, 1, 0, 0, 0, 65533]
    names = {0: "good", 1: "state", 2: "stop_reason", scrap_at: "scrap", reason_at: "scrap_reason", 5: "good2"}
    port = free_port()
    source = {"name": "plc", "protocol": "modbus", "host": "127.0.0.1", "port": port, "poll_interval_ms": 100,
              "reconnect_min_s": 0.2, "reconnect_max_s": 1.0,
              "tags": [{"name": names[a], "address": a, "type": "u16"} for a in range(6)]}
    # stated rates: 2 units/s at most, read every 100 ms; no waiting for late reasons: one poll holds both
    machines = [machine_cfg(wait_ms=0, good={"tag": "good", "width": 16, "max_rate_per_s": 2}),
                {"id": "M2", "good": {"tag": "good2", "width": 16, "max_rate_per_s": 2}}]
    async with modbus_server(port, registers) as server, running_agent(tmp_path, [source], machines) as agent:

        async def write(address: int, values: list[int]) -> None:  # one write of the PLC
            await server.async_setValues(1, 3, address, values)

        await wait_event(agent, lambda e: e["machine"] == "M2" and "baseline" in e["flags"], "baselines")
        for n, code in SCRAP_STEPS:
            await write(3, [n, code] if order == "counter_first" else [code, n])
            await wait_event(agent, raw_is(n), f"scrap {n}")
        await write(1, [3, 7])  # down, EQ_FAIL
        await wait_event(agent, lambda e: e["kind"] == "state" and e["state"] == "down", "down")
        await write(1, [1, 0])
        await wait_event(agent, state_after(3), "running again")

        for value in (65533, 65534, 65535, 0, 1):  # M1 counts at its full rate through the wrap
            await write(0, [value])
            await wait_event(agent, raw_is(value, "count"), f"count {value}")
            await asyncio.sleep(0.5)
        await write(5, [1])  # M2's PLC resets its counter at 65533 (no restart) and makes one unit
        reset = await wait_event(agent, raw_is(1, "count", "M2"), "M2 reset")

        events = await stored(agent)
    assert scrap_events(events) == EXPECTED_SCRAP
    assert state_events(events) == [("running", None), ("down", "EQ_FAIL"), ("running", None)]
    counts = [(e["raw"]["value"], e["qty"], e["flags"]) for e in events
              if e["machine"] == "M1" and e["kind"] == "count" and "baseline" not in e["flags"]]
    assert counts == [(65533, 1, []), (65534, 1, []), (65535, 1, []), (0, 1, ["rollover"]), (1, 1, [])]
    assert (reset["qty"], reset["flags"], reset["raw"]["prev"]) == (1, ["reset"], 65533)  # nothing invented


async def test_a_restart_indicator_makes_a_drop_a_reset_behind_a_gateway(tmp_path: Path) -> None:
    """The TCP connection (to a gateway) stays up while the PLC behind it restarts: only its boot
    counter tells. At 100 units/s 65530 -> 2 would fit a rollover; the boot counter says reset."""
    port = free_port()
    source = {"name": "gw", "protocol": "modbus", "host": "127.0.0.1", "port": port, "poll_interval_ms": 100,
              "tags": [{"name": "good", "address": 0, "type": "u16"}, {"name": "boots", "address": 1, "type": "u16"}]}
    machines = [{"id": "M1", "good": {"tag": "good", "width": 16, "max_rate_per_s": 100}}]
    settings_extra = {"restart_indicators": [{"source": "gw", "tag": "boots", "kind": "boot_count"}]}
    async with modbus_server(port, [65530, 7]) as server, \
            running_agent(tmp_path, [source], machines, **settings_extra) as agent:
        await wait_event(agent, lambda e: "baseline" in e["flags"], "baseline")
        await server.async_setValues(1, 3, 0, [2, 8])  # restarted: counter from 0, boot count + 1
        reset = await wait_event(agent, raw_is(2, "count"), "after the restart")
    assert (reset["qty"], reset["flags"], reset["raw"]["prev"]) == (2, ["reset"], 65530)


# ------------------------------------------------------------------ plain asyncua server


@contextlib.asynccontextmanager
async def plain_opcua_server(port: int) -> AsyncIterator[dict[str, Any]]:
    server = Server()
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/plc/")
    idx = await server.register_namespace(NS)
    press = await server.nodes.objects.add_object(f"ns={idx};s=Press", ua.QualifiedName("Press", idx))
    nodes = {}
    for name, vtype in [("Scrap", ua.VariantType.UInt16), ("ScrapReason", ua.VariantType.UInt16),
                        ("State", ua.VariantType.UInt16), ("StopReason", ua.VariantType.UInt16)]:
        nodes[name] = await press.add_variable(f"ns={idx};s=Press.{name}", ua.QualifiedName(name, idx),
                                               ua.Variant(1 if name == "State" else 0, vtype))
        await nodes[name].set_writable()
    async with server:
        yield nodes


async def write_together(client: Client, pairs: list[tuple[str, int]]) -> None:
    """One Write request with all the values (as a PLC program updates them in one scan)."""
    idx = await client.get_namespace_index(NS)
    nodes = [client.get_node(f"ns={idx};s=Press.{name}") for name, _ in pairs]
    await client.write_values(nodes, [ua.Variant(v, ua.VariantType.UInt16) for _, v in pairs])


@pytest.mark.parametrize("order", ORDERS)
async def test_opcua_counter_and_reason_written_together(tmp_path: Path, order: str) -> None:
    port = free_port()
    endpoint = f"opc.tcp://127.0.0.1:{port}/plc/"
    tags = [{"name": "scrap", "node": "s=Press.Scrap"}, {"name": "scrap_reason", "node": "s=Press.ScrapReason"},
            {"name": "state", "node": "s=Press.State"}, {"name": "stop_reason", "node": "s=Press.StopReason"}]
    if order == "reason_first":
        tags = [tags[1], tags[0], tags[3], tags[2]]
    source = {"name": "plc", "protocol": "opcua", "endpoint": endpoint, "namespace_uri": NS,
              "publishing_interval_ms": 100, "reconnect_min_s": 0.2, "reconnect_max_s": 1.0, "tags": tags}

    def ordered(counter: tuple[str, int], reason: tuple[str, int]) -> list[tuple[str, int]]:
        return [counter, reason] if order == "counter_first" else [reason, counter]

    async with plain_opcua_server(port), Client(endpoint) as plc, \
            running_agent(tmp_path, [source], [machine_cfg()]) as agent:
        await wait_event(agent, lambda e: e["kind"] == "scrap" and "baseline" in e["flags"], "baseline")
        await wait_event(agent, lambda e: e["kind"] == "state", "first state")
        for n, code in SCRAP_STEPS:
            await write_together(plc, ordered(("Scrap", n), ("ScrapReason", code)))
            await wait_event(agent, raw_is(n), f"scrap {n}")
        await write_together(plc, ordered(("State", 3), ("StopReason", 7)))
        await wait_event(agent, lambda e: e["kind"] == "state" and e["state"] == "down", "down")
        await write_together(plc, ordered(("State", 1), ("StopReason", 0)))
        await wait_event(agent, state_after(3), "running again")
        events = await stored(agent)
    assert scrap_events(events) == EXPECTED_SCRAP
    assert state_events(events) == [("running", None), ("down", "EQ_FAIL"), ("running", None)]


# ------------------------------------------------------------------ the sources' snapshots themselves


def good(tag: str, value: int) -> Callable[[TagReading], bool]:
    def pred(r: TagReading) -> bool:
        return r.tag == tag and r.quality is Quality.GOOD and r.value == value

    return pred


async def test_one_opcua_write_of_two_nodes_is_one_snapshot(tmp_path: Path) -> None:
    port = free_port()
    endpoint = f"opc.tcp://127.0.0.1:{port}/plc/"
    source = build_source(OpcUaSourceConfig(
        name="plc", endpoint=endpoint, namespace_uri=NS, publishing_interval_ms=200,
        tags=[{"name": "scrap", "node": "s=Press.Scrap"}, {"name": "why", "node": "s=Press.ScrapReason"}],
    ))
    async with plain_opcua_server(port), Client(endpoint) as plc, running(source) as sink:
        await sink.wait_for(good("scrap", 0))
        for n in range(1, 6):
            await write_together(plc, [("Scrap", n), ("ScrapReason", 10 + n)])
            reading = await sink.wait_for(good("scrap", n))
            together = sink.snapshot_of(reading)
            assert [(r.tag, r.value) for r in together] == [("scrap", n), ("why", 10 + n)]
            assert reading.prev_seen is not None and reading.prev_seen < reading.received  # seen on this subscription


async def test_one_modbus_poll_is_one_snapshot_with_the_previous_poll_as_last_seen(tmp_path: Path) -> None:
    port = free_port()
    source = build_source(ModbusSourceConfig(
        name="plc", host="127.0.0.1", port=port, poll_interval_ms=100,
        tags=[{"name": "scrap", "address": 0, "type": "u16"}, {"name": "why", "address": 1, "type": "u16"},
              {"name": "other", "address": 30, "type": "u16"}],  # another read request in the same poll
    ))
    async with modbus_server(port, [0] * 40) as server, running(source) as sink:
        first = await sink.wait_for(good("scrap", 0))
        assert {r.tag for r in sink.snapshot_of(first)} == {"scrap", "why", "other"} and first.prev_seen is None
        await asyncio.sleep(0.5)  # a few polls that see nothing new (and deliver nothing)
        await server.async_setValues(1, 3, 0, [1, 2])
        reading = await sink.wait_for(good("scrap", 1))
        assert [(r.tag, r.value) for r in sink.snapshot_of(reading)] == [("scrap", 1), ("why", 2)]
        # last seen: the poll just before, not the first read (the last *change*)
        assert reading.prev_seen is not None and first.received < reading.prev_seen < reading.received


# ------------------------------------------------------------------ the project's simulator


SCRIPT = [
    {"state": "running", "for_s": 12, "cycle_s": 1, "scrap_every": 2,
     "scrap_reasons": ["BURR", "CRACK", "CRACK", "DIMENSION"]},
    {"state": "down", "for_s": 3, "reason": "EQ_FAIL"},
    {"state": "running", "for_s": 8, "cycle_s": 1, "scrap_every": 2, "scrap_reasons": ["DIMENSION", "BURR"]},
    {"state": "setup", "for_s": 2, "reason": "CHANGEOVER"},
]


def idle_of(machine: str) -> Pred:
    def pred(e: dict[str, Any]) -> bool:
        return bool(e["machine"] == machine and e.get("state") == "idle")

    return pred


def sim_sources(plant: SimPlant, order: str) -> list[dict[str, Any]]:
    settings = plant.settings
    mb = plant.by_id["SMB"]
    assert mb.device_id is not None and mb.base is not None
    mb_tags = [
        [{"name": "SMB.scrap", "address": mb.base + OFF_SCRAP_TOTAL, "type": "u16"},
         {"name": "SMB.scrap_reason", "address": mb.base + OFF_SCRAP_REASON, "type": "u16"}],
        [{"name": "SMB.state", "address": mb.base + OFF_STATE, "type": "u16"},
         {"name": "SMB.stop_reason", "address": mb.base + OFF_DOWN_REASON, "type": "u16"}],
    ]
    node = "s=Plant.Line1.SUA."
    ua_tags = [
        [{"name": "SUA.scrap", "node": node + "Counters.Scrap"},
         {"name": "SUA.scrap_reason", "node": node + "Status.ScrapReason"}],
        [{"name": "SUA.state", "node": node + "Status.State"},
         {"name": "SUA.stop_reason", "node": node + "Status.DowntimeReason"}],
    ]
    flip = order == "reason_first"
    return [
        {"name": "sim-modbus", "protocol": "modbus", "host": "127.0.0.1", "port": plant.modbus_port,
         "unit": mb.device_id, "poll_interval_ms": 50,
         "tags": [t for pair in mb_tags for t in (pair[::-1] if flip else pair)]},
        {"name": "sim-opcua", "protocol": "opcua", "endpoint": plant.opcua_endpoint,
         "namespace_uri": settings.opcua.namespace, "publishing_interval_ms": 50,
         "tags": [t for pair in ua_tags for t in (pair[::-1] if flip else pair)]},
    ]


def sim_machine(plant: SimPlant, mid: str) -> dict[str, Any]:
    reasons = plant.settings.reasons
    return {
        "id": mid,
        "scrap": [{"tag": f"{mid}.scrap", "width": 16, "max_rate_per_s": 8, "reason_tag": f"{mid}.scrap_reason",
                   "reason_map": {str(code): name for name, code in reasons.scrap.items()}}],
        "state": {"tag": f"{mid}.state", "reason_tag": f"{mid}.stop_reason",
                  "reasons": {str(code): name for name, code in reasons.downtime.items()}},
    }


@pytest.mark.parametrize("order", ORDERS)
async def test_simulator_scrap_reasons_and_stops_match_the_truth_log(tmp_path: Path, order: str) -> None:
    machines = [{"id": mid, "protocols": [proto], "counter_bits": 16, "script": SCRIPT, "script_then": "idle"}
                for mid, proto in (("SMB", "modbus"), ("SUA", "opcua"))]
    settings = plant_settings(machines, clock={"speed": 4.0, "run_for_s": 26})
    truth = tmp_path / "truth.jsonl"
    async with SimPlant(settings, truth) as plant:
        sources = sim_sources(plant, order)
        async with running_agent(tmp_path, sources, [sim_machine(plant, "SMB"), sim_machine(plant, "SUA")]) as agent:
            await plant.wait_ended()
            lines = truth_lines(truth)
            for mid in ("SMB", "SUA"):
                want = len([r for r in lines if r.get("machine") == mid and r["kind"] == "scrap"])
                await wait_event(agent, raw_is(want, "scrap", mid), f"{mid}: all {want} scrap")
                await wait_event(agent, idle_of(mid), f"{mid}: idle at the end")
            events = await stored(agent)
    for mid in ("SMB", "SUA"):
        true_scrap = [r["reason"] for r in lines if r.get("machine") == mid and r["kind"] == "scrap"]
        got = scrap_events(events, mid)
        assert [qty for _, qty, _ in got] == [1] * len(true_scrap), mid  # one event per scrapped part
        assert [reason for _, _, reason in got] == true_scrap, mid  # ... each with its own reason
        true_states = [(r["state"], r.get("reason")) for r in lines if r.get("machine") == mid and r["kind"] == "state"]
        assert state_events(events, mid)[-len(true_states):] == true_states, mid  # one event per stop
        assert ("down", None) not in state_events(events, mid) and ("setup", None) not in state_events(events, mid)
