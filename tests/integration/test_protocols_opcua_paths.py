"""OPC UA browse paths against a real asyncua server (a subprocess, so it can really restart).

The test server (``support.protocols``) has ``Objects/Plant/Line1/Press7/Counters/{Good,Scrap}``
and ``.../Status/State`` with numeric node ids numbered at start-up; ``Good`` counts up every
100 ms. Restarted with ``pad=N`` it creates ``Objects/Spare/Pad0..`` first, so every node of
that tree gets another numeric id, and with ``shift=N`` the test namespace another index: a
tag configured by node id would point at the wrong node, a tag configured by path must not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from asyncua import ua
from asyncua.client.client import Client
from support.edge import AckResponder, last_value, opcua_edge_toml
from support.protocols import NS_URI, OpcUaServerProcess, running
from support.sim import plant_settings

from device_sim.plant import SimPlant
from edge.agent import Agent
from edge.config import load_edge_settings
from protocols import OpcUaSourceConfig, Quality, TagReading, build_source
from protocols.opcua import OpcUaSource
from sfsync.broker import BrokerProcess, free_port
from shared.waiting import wait_until_async

pytestmark = pytest.mark.timeout(180)

PRESS = "Objects/Plant/Line1/Press7"
GOOD = f"{PRESS}/Counters/Good"
SCRAP = f"{PRESS}/Counters/Scrap"
STATE = f"{PRESS}/Status/State"


@pytest.fixture(scope="module")
def opc_server() -> Iterator[OpcUaServerProcess]:
    server = OpcUaServerProcess(free_port())
    server.start(shift=1)
    try:
        yield server
    finally:
        server.stop()


def make_source(endpoint: str, tags: list[dict[str, str]], **extra: Any) -> OpcUaSource:
    settings: dict[str, Any] = {"reconnect_min_s": 0.2, "reconnect_max_s": 1.0, "publishing_interval_ms": 50}
    settings.update(extra)
    source = build_source(
        OpcUaSourceConfig(name="press-7", endpoint=endpoint, namespace_uri=NS_URI, tags=tags, **settings)
    )
    assert isinstance(source, OpcUaSource)
    return source


@contextlib.asynccontextmanager
async def plc(endpoint: str) -> AsyncIterator[tuple[Client, int]]:
    """Another client, as the PLC program or an engineer's OPC UA client: (client, test namespace index)."""
    client = Client(endpoint)
    await client.connect()
    try:
        yield client, await client.get_namespace_index(NS_URI)
    finally:
        await client.disconnect()


async def node_of(client: Client, idx: int, path: str) -> ua.NodeId:
    """The node id an ordinary client finds for ``path`` (browse names in the test namespace)."""
    names = path.split("/")
    node = await client.nodes.objects.get_child([f"{idx}:{name}" for name in names[1:]])
    return node.nodeid


async def write(client: Client, node_id: ua.NodeId, value: int, vtype: ua.VariantType) -> None:
    await client.get_node(node_id).write_value(ua.Variant(value, vtype))


def is_(tag: str, value: Any = None, quality: Quality = Quality.GOOD) -> Any:
    def pred(r: TagReading) -> bool:
        return r.tag == tag and r.quality is quality and (value is None or r.value == value)

    return pred


async def test_path_tags_resolve_and_flow(opc_server: OpcUaServerProcess) -> None:
    async with plc(opc_server.endpoint) as (client, idx):
        assert idx == 3  # shift=1: one namespace registered before the test namespace
        scrap_id = await node_of(client, idx, SCRAP)
        tags = [
            {"name": "good", "path": GOOD},
            {"name": "scrap", "path": f"Objects/{idx}:Plant/Line1/Press7/Counters/{idx}:Scrap"},  # explicit ns:
            {"name": "state", "path": f"Root/{STATE}"},
            {"name": "start", "path": "Objects/0:Server/0:ServerStatus/0:StartTime"},
            {"name": "tick", "node": "s=Line.Tick"},  # node ids and paths mix in one source
        ]
        source = make_source(opc_server.endpoint, tags)
        async with running(source) as sink:
            first = await sink.wait_for(is_("good"))
            await sink.wait_for(lambda r: is_("good")(r) and r.value > first.value)
            await sink.wait_for(is_("start"))
            await sink.wait_for(is_("tick"))
            await sink.wait_for(is_("state", 0))
            await write(client, scrap_id, 17, ua.VariantType.UInt32)
            await sink.wait_for(is_("scrap", 17))
            await write(client, await node_of(client, idx, STATE), 3, ua.VariantType.Int16)
            await sink.wait_for(is_("state", 3))
        assert source.node_ids["scrap"] == scrap_id
        assert source.node_ids["good"] == await node_of(client, idx, GOOD)
        assert source.node_ids["good"].NodeIdType in (ua.NodeIdType.Numeric, ua.NodeIdType.FourByte)
        assert source.node_ids["start"] == ua.NodeId(ua.Int32(ua.ObjectIds.Server_ServerStatus_StartTime))
        assert all(source.health.quality[t["name"]] is Quality.GOOD for t in tags)


async def test_probe_prints_the_resolved_node_id_beside_the_path(opc_server: OpcUaServerProcess) -> None:
    tags = [
        {"name": "good", "path": GOOD},
        {"name": "lost", "path": f"{PRESS}/Counters/Rework"},
        {"name": "tick", "node": "s=Line.Tick"},
    ]
    rows = {row.tag: row for row in await make_source(opc_server.endpoint, tags).probe()}
    async with plc(opc_server.endpoint) as (client, idx):
        good_id = (await node_of(client, idx, GOOD)).to_string()
    assert rows["good"].address == f"{GOOD} -> {good_id}"
    assert rows["good"].data_type == "UInt32" and rows["good"].quality is Quality.GOOD
    assert isinstance(rows["good"].value, int)
    assert rows["lost"].quality is Quality.BAD and rows["lost"].address.startswith(f"{PRESS}/Counters/Rework")
    assert "segment 'Rework'" in rows["lost"].error and f"under {PRESS}/Counters" in rows["lost"].error
    assert rows["tick"].address == f"ns={idx};s=Line.Tick"


async def test_missing_segment_is_a_bad_tag_naming_it_while_others_flow(
    opc_server: OpcUaServerProcess, caplog: pytest.LogCaptureFixture
) -> None:
    tags = [
        {"name": "line2", "path": "Objects/Plant/Line2/Press7/Counters/Good"},  # no Line2
        {"name": "typo", "path": f"{PRESS}/Counters/Godo"},
        {"name": "nons", "path": "Objects/9:Plant/Line1"},  # the server has 4 namespaces
        {"name": "good", "path": GOOD},
    ]
    source = make_source(opc_server.endpoint, tags)
    with caplog.at_level(logging.INFO, logger="protocols.opcua"):
        async with running(source) as sink:
            line2 = await sink.wait_for(is_("line2", quality=Quality.BAD))
            typo = await sink.wait_for(is_("typo", quality=Quality.BAD))
            nons = await sink.wait_for(is_("nons", quality=Quality.BAD))
            first = await sink.wait_for(is_("good"))
            await sink.wait_for(lambda r: is_("good")(r) and r.value > first.value)
    assert "segment 'Line2'" in line2.detail and "under Objects/Plant" in line2.detail
    assert "Objects/Plant/Line2/Press7/Counters/Good" in line2.detail  # the whole path, too
    assert f"namespace 3, {NS_URI}" in line2.detail  # where the server looked for it
    assert "segment 'Godo'" in typo.detail and f"under {PRESS}/Counters" in typo.detail
    assert "segment '9:Plant'" in nons.detail and "no namespace 9" in nons.detail
    assert source.health.quality["line2"] is Quality.BAD and "segment 'Line2'" in source.health.detail["line2"]
    assert source.health.quality["good"] is Quality.GOOD and "line2" not in source.node_ids
    assert sum("Line2" in rec.getMessage() for rec in caplog.records if rec.levelno >= logging.WARNING) == 1


async def test_namespace_uri_not_on_the_server_is_a_bad_path_tag(opc_server: OpcUaServerProcess) -> None:
    source = build_source(
        OpcUaSourceConfig(
            name="press-7",
            endpoint=opc_server.endpoint,
            namespace_uri="urn:nowhere",
            reconnect_min_s=0.2,
            reconnect_max_s=1.0,
            tags=[{"name": "good", "path": GOOD}, {"name": "tick", "node": "nsu=urn:sfsync:test:plc;s=Line.Tick"}],  # type: ignore[list-item]
        )
    )
    async with running(source) as sink:
        good = await sink.wait_for(is_("good", quality=Quality.BAD))
        await sink.wait_for(is_("tick"))
    assert "'urn:nowhere'" in good.detail and "not on the server" in good.detail


async def test_restart_with_renumbered_nodes_follows_the_path() -> None:
    """The server restarts with other numeric node ids and another namespace index."""
    server = OpcUaServerProcess(free_port())
    await asyncio.to_thread(server.start, 0)
    tags = [
        {"name": "good", "path": GOOD},
        {"name": "scrap", "path": SCRAP},
        {"name": "pad", "path": "Objects/Spare/Pad1"},  # only there after the restart (pad=3)
    ]
    source = make_source(server.endpoint, tags, verify_interval_s=0.5, verify_grace_s=0.3)
    try:
        async with running(source) as sink:
            pad = await sink.wait_for(is_("pad", quality=Quality.BAD))
            assert "segment 'Spare'" in pad.detail and "under Objects" in pad.detail
            async with plc(server.endpoint) as (client, idx):
                old_scrap = await node_of(client, idx, SCRAP)
                await write(client, old_scrap, 5, ua.VariantType.UInt32)
            await sink.wait_for(is_("scrap", 5))
            first = await sink.wait_for(is_("good"))
            old_ids = dict(source.node_ids)
            assert old_ids["scrap"] == old_scrap

            await asyncio.to_thread(server.restart, 2, pad=3)
            mark = len(sink.readings)
            await sink.wait_for(is_("scrap", 0), since=mark)  # the new server's value, via the new node
            again = await sink.wait_for(is_("good"), since=mark)
            assert again.epoch != first.epoch
            async with plc(server.endpoint) as (client, idx):
                assert idx == 4  # two namespaces registered first
                new_scrap = await node_of(client, idx, SCRAP)
                assert new_scrap.Identifier != old_scrap.Identifier  # renumbered, not just re-indexed
                assert source.node_ids["scrap"] == new_scrap
                assert source.node_ids["good"] == await node_of(client, idx, GOOD)
                # the old numeric id now names another node of the new server: a node id tag would read it
                old_now = ua.NodeId(old_scrap.Identifier, idx)
                assert (await client.get_node(old_now).read_browse_name()).Name != "Scrap"
                await write(client, new_scrap, 9, ua.VariantType.UInt32)
            await sink.wait_for(is_("scrap", 9), since=mark)
            await sink.wait_for(lambda r: is_("good")(r) and r.value > again.value, since=mark)
            await sink.wait_for(is_("pad", 1), since=mark)  # retried at the reconnect: resolves now
            assert source.health.reconnects == 1
            after = sink.readings[mark:]
            # nothing read through a stale node id: after the reconnect every scrap reading is GOOD
            scrap_after = [r for r in after if r.tag == "scrap"]
            assert scrap_after and all(r.quality is Quality.GOOD for r in scrap_after)
            assert source.health.quality["pad"] is Quality.GOOD and not source.health.detail["pad"]
    finally:
        await asyncio.to_thread(server.stop)


# ------------------------------------------------------------------ the agent counts on through a restart


async def test_agent_counts_by_path_across_a_renumbering_restart(
    tmp_path: Path, broker: BrokerProcess, responder: AckResponder
) -> None:
    server = OpcUaServerProcess(free_port())
    await asyncio.to_thread(server.start, 0)
    cfg = tmp_path / "edge.toml"
    cfg.write_text(opcua_edge_toml(outbox=tmp_path / "o.db", mqtt_port=broker.port, endpoint=server.endpoint,
                                    tag="good", locator=f'path = "{GOOD}"'))
    agent = Agent(load_edge_settings(cfg))
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))

    def counts() -> list[dict[str, object]]:
        return [e for e in responder.stream_events() if e["kind"] == "count"]

    try:
        await asyncio.wait_for(agent.ready.wait(), 30)
        await wait_until_async("len(counts()) >= 3", lambda: len(counts()) >= 3, 60, detail=lambda: counts())
        # the old life counts well past what the new one (from 1, every 100 ms) reaches before the
        # agent is back, so the restart shows as a drop: a reset
        await wait_until_async("last_value(counts()) >= 60", lambda: last_value(counts()) >= 60, 90,
                               detail=lambda: counts()[-1:])
        old_id = agent.sources[0].node_ids["good"]  # type: ignore[attr-defined]
        before = len(counts())
        await asyncio.to_thread(server.restart, 2, pad=5)
        await wait_until_async(
            "any('reset' in e['flags'] for e in counts())",
            lambda: any("reset" in e["flags"] for e in counts()),
            60,
            detail=lambda: counts()[before:],
        )
        n = len(counts())
        await wait_until_async("len(counts()) >= n + 3", lambda: len(counts()) >= n + 3,
                               60)  # counting resumes on the new node
        new_id = agent.sources[0].node_ids["good"]  # type: ignore[attr-defined]
        assert new_id != old_id and new_id.Identifier != old_id.Identifier
        evs = counts()
        assert not [e for e in evs if "rollover" in e["flags"] or "suspect" in e["flags"]], evs
        # every unit the PLC counted is in the stream once: the old life's last value + the new life's
        reset = next(i for i, e in enumerate(evs) if "reset" in e["flags"])
        old_life = sum(int(e["qty"]) for e in evs[:reset] if "baseline" not in e["flags"])  # type: ignore[call-overload]
        baseline = evs[0]["raw"]["value"] if "baseline" in evs[0]["flags"] else 0  # type: ignore[index]
        assert old_life + int(baseline) == last_value(evs[:reset])
        new_life = sum(int(e["qty"]) for e in evs[reset:])  # type: ignore[call-overload]
        assert new_life == last_value(evs)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await asyncio.to_thread(server.stop)


# ------------------------------------------------------------------ the project's simulator


async def test_simulator_nodes_by_path_are_its_node_ids(tmp_path: Path) -> None:
    """The simulated plant's address space (docs/sim.md) by browse path: the same nodes as by node id."""
    settings = plant_settings([{"id": "P7", "cycle_s": 1, "scrap_rate": 0.1}], clock={"run_for_s": 600})
    async with SimPlant(settings, tmp_path / "truth.jsonl") as plant:
        await plant.wait_ended()
        assert plant.opcua_endpoint is not None
        leaves = ["Counters/Good", "Counters/Scrap", "Status/State", "Status/CycleTime"]
        tags = [{"name": f"path_{i}", "path": f"Objects/Plant/Line1/P7/{leaf}"} for i, leaf in enumerate(leaves)]
        tags += [
            {"name": f"node_{i}", "node": f"s=Plant.Line1.P7.{leaf.replace('/', '.')}"} for i, leaf in enumerate(leaves)
        ]
        source = build_source(
            OpcUaSourceConfig(
                name="sim", endpoint=plant.opcua_endpoint, namespace_uri=settings.opcua.namespace,
                tags=tags,  # type: ignore[arg-type]
            )
        )
        rows = {row.tag: row for row in await source.probe()}
    for i, leaf in enumerate(leaves):
        by_path, by_node = rows[f"path_{i}"], rows[f"node_{i}"]
        assert by_path.quality is Quality.GOOD and by_node.quality is Quality.GOOD, (by_path, by_node)
        assert by_path.address == f"Objects/Plant/Line1/P7/{leaf} -> {by_node.address}"
        assert by_path.value == by_node.value and by_path.data_type == by_node.data_type
    assert isinstance(rows["path_0"].value, int) and rows["path_0"].value > 0  # it counted
