"""PLC (real pymodbus server) -> edge agent -> real broker -> ack responder, in one process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.edge import AckResponder, ModbusPlc, edge_toml

from edge.agent import Agent
from edge.config import load_edge_settings
from sfsync.broker import BrokerProcess
from shared.waiting import wait_until_async

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
async def plc() -> AsyncIterator[ModbusPlc]:
    p = ModbusPlc()
    await p.set(0, [0, 1, 0, 1, 0])  # good 0, state running, scrap 0, scrap reason BURR
    await p.start()
    yield p
    await p.stop()


class RunningAgent:
    def __init__(self, agent: Agent, task: asyncio.Task[None], stop: asyncio.Event) -> None:
        self.agent, self.task, self.stop = agent, task, stop

    async def close(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 30)


async def start_agent(tmp_path: Path, broker: BrokerProcess, plc: ModbusPlc, **kw: Any) -> RunningAgent:
    cfg = tmp_path / "edge.toml"
    cfg.write_text(edge_toml(outbox=tmp_path / "outbox.db", mqtt_port=broker.port, plc_port=plc.port, **kw))
    agent = Agent(load_edge_settings(cfg))
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    await asyncio.wait_for(agent.ready.wait(), 20)
    return RunningAgent(agent, task, stop)


def events_of(r: AckResponder, kind: str) -> list[dict[str, Any]]:
    return [e for e in r.stream_events() if e["kind"] == kind]


async def wait_event(r: AckResponder, pred: Any, timeout: float = 20) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    def check() -> bool:
        found[:] = [e for e in r.stream_events() if pred(e)]
        return bool(found)

    await wait_until_async("check", check, timeout, detail=lambda: f"no such event; got {r.stream_events()}")
    return found[-1]


async def test_events_flow_and_outbox_empties_only_on_ack(
    tmp_path: Path, broker: BrokerProcess, responder: AckResponder, plc: ModbusPlc
) -> None:
    responder.pause()
    run = await start_agent(tmp_path, broker, plc)
    try:
        base = await wait_event(responder, lambda e: e["kind"] == "count" and "baseline" in e["flags"])
        assert base["qty"] == 0 and base["raw"] == {"tag": "good", "value": 0, "prev": None}
        await plc.set(0, [5])
        ev = await wait_event(responder, lambda e: e["kind"] == "count" and e["qty"] == 5)
        assert ev["raw"] == {"tag": "good", "value": 5, "prev": 0} and ev["flags"] == []
        store = run.agent.store
        stats = await store.stats()
        assert stats.rows >= 2 and stats.acked_through == 0  # published, PUBACKed, but central has not acked

        await plc.set(2, [3])  # three scrapped, reason code 1 = BURR
        scrap = await wait_event(responder, lambda e: e["kind"] == "scrap" and e["qty"] == 3)
        assert scrap["reason"] == "BURR"
        await plc.set(4, [7])  # reason first, then the state: down / EQ_FAIL
        await plc.set(1, [3])
        down = await wait_event(responder, lambda e: e["kind"] == "state" and e["state"] == "down")
        assert down["reason"] == "EQ_FAIL"

        responder.resume()
        await wait_until_async(
            "store.acked_through() == store.last_seq()",
            lambda: store.acked_through() == store.last_seq(),
            20,
        )
        stats = await store.stats()
        assert stats.rows == 0 and stats.bytes == 0
        seqs = responder.seqs(stats.stream)
        assert seqs == list(range(1, stats.last_seq + 1))

        assert run.agent.status is not None
        async with httpx.AsyncClient() as http:
            metrics = (await http.get(run.agent.status.url + "/metrics")).text
            health = (await http.get(run.agent.status.url + "/health")).json()
        assert "sfsync_edge_backlog_events 0" in metrics
        assert 'sfsync_edge_tag_last_good_timestamp_seconds{source="plc1",tag="good"}' in metrics
        assert "sfsync_edge_mqtt_connected 1" in metrics
        assert health["broker"]["connected"] is True and health["sources"]["plc1"]["connected"] is True
        assert health["backlog"]["acked_through"] == stats.last_seq
    finally:
        await run.close()


async def test_rollover_suspect_and_plc_restart_reset(
    tmp_path: Path, broker: BrokerProcess, responder: AckResponder, plc: ModbusPlc
) -> None:
    await plc.set(0, [65530])
    run = await start_agent(tmp_path, broker, plc)
    try:
        await wait_event(responder, lambda e: "baseline" in e["flags"] and e["raw"]["value"] == 65530)
        await plc.set(0, [65535])
        await wait_event(responder, lambda e: e["kind"] == "count" and e["raw"]["value"] == 65535)
        await plc.set(0, [3])
        roll = await wait_event(responder, lambda e: e["kind"] == "count" and e["raw"]["value"] == 3)
        assert roll["flags"] == ["rollover"] and roll["qty"] == 4 and roll["raw"]["prev"] == 65535
        await plc.set(0, [2003])
        sus = await wait_event(responder, lambda e: e["kind"] == "count" and e["raw"]["value"] == 2003)
        assert sus["flags"] == ["suspect"] and sus["qty"] == 2000 and sus["raw"]["prev"] == 3

        await plc.stop()  # the PLC restarts: its counter starts again from a low value
        await plc.set(0, [7])
        await plc.start()
        reset = await wait_event(responder, lambda e: e["kind"] == "count" and e["raw"]["value"] == 7)
        assert reset["flags"] == ["reset"] and reset["qty"] == 7 and reset["raw"]["prev"] == 2003
        store = run.agent.store
        await wait_until_async(
            "store.acked_through() == store.last_seq()",
            lambda: store.acked_through() == store.last_seq(),
            20,
        )
    finally:
        await run.close()


async def test_bad_tag_does_not_stop_others(
    tmp_path: Path, broker: BrokerProcess, responder: AckResponder, plc: ModbusPlc
) -> None:
    """A tag at an address the PLC does not have is BAD (visible), the good tags keep flowing."""
    extra = """
[[machines]]
id = "M2"
good = { tag = "far", width = 16 }
"""
    cfg = edge_toml(outbox=tmp_path / "outbox.db", mqtt_port=broker.port, plc_port=plc.port, extra_machine=extra)
    cfg = cfg.replace(
        '{ name = "stop_reason", address = 4, type = "u16" },',
        '{ name = "stop_reason", address = 4, type = "u16" },\n  { name = "far", address = 5000, type = "u16" },',
    )
    path = tmp_path / "edge.toml"
    path.write_text(cfg)
    agent = Agent(load_edge_settings(path))
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    try:
        await asyncio.wait_for(agent.ready.wait(), 20)
        await wait_event(responder, lambda e: "baseline" in e["flags"] and e["machine"] == "M1")
        await plc.set(0, [2])
        await wait_event(responder, lambda e: e["kind"] == "count" and e["qty"] == 2)
        await wait_until_async("'far' in agent.deriver.problems", lambda: "far" in agent.deriver.problems, 10)
        assert "exception response" in agent.deriver.problems["far"]
        assert agent.status is not None
        async with httpx.AsyncClient() as http:
            metrics = (await http.get(agent.status.url + "/metrics")).text
        assert 'sfsync_edge_tag_problem{tag="far"} 1' in metrics
        assert not [e for e in responder.stream_events() if e["machine"] == "M2"]
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def test_cli_probe_and_status(
    tmp_path: Path, broker: BrokerProcess, responder: AckResponder, plc: ModbusPlc, capsys: pytest.CaptureFixture[str]
) -> None:
    from sfsync.cli import main

    await plc.set(0, [0x0102])
    cfg = tmp_path / "edge.toml"
    cfg.write_text(edge_toml(outbox=tmp_path / "outbox.db", mqtt_port=broker.port, plc_port=plc.port))
    assert await asyncio.to_thread(main, ["edge", "probe", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "good: holding 0 device 1 u16" in out
    assert "raw 0x0102  value 258  quality good" in out
    assert "as byte_order=little: 513" in out  # the value under the other byte order, for mapping

    run = await start_agent(tmp_path, broker, plc)
    try:
        store = run.agent.store
        await wait_until_async(
            "store.last_seq() >= 2 and store.acked_through() == store.last_seq()",
            lambda: store.last_seq() >= 2 and store.acked_through() == store.last_seq(),
            20,
        )
        assert await asyncio.to_thread(main, ["edge", "status", "--config", str(cfg)]) == 0
        out = capsys.readouterr().out
        assert "backlog: 0 events" in out and f"acked through {store.last_seq()}" in out
        assert "broker connected" in out and "source plc1: connected" in out
    finally:
        await run.close()
    assert await asyncio.to_thread(main, ["edge", "status", "--config", str(cfg)]) == 0
    assert "agent: not reachable" in capsys.readouterr().out
