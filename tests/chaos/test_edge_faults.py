"""Edge agent under faults: broker killed during production, agent kill -9 mid-burst.

The PLC is a real pymodbus server whose counter a producer task advances; the truth is the
counter itself: the sum of count quantities central received (deduplicated by (stream, seq))
must equal the counter's final value minus the baseline, with seqs gapless from 1.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from support.edge import AckResponder, ModbusPlc, edge_toml

from edge.agent import Agent
from edge.config import load_edge_settings
from sfsync.broker import BrokerProcess
from shared.waiting import wait_until_async

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(150)]

REPO = Path(__file__).resolve().parents[2]
START = 100


@pytest.fixture
async def plc() -> AsyncIterator[ModbusPlc]:
    p = ModbusPlc()
    await p.set(0, [START, 1])
    await p.start()
    yield p
    await p.stop()


class Producer:
    """Advances the PLC's good counter by one every ``period`` seconds until stopped."""

    def __init__(self, plc: ModbusPlc, period: float = 0.003) -> None:
        self.plc, self.period, self.value = plc, period, START
        self._stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while not self._stop.is_set():
            self.value += 1
            await self.plc.set(0, [self.value])
            await asyncio.sleep(self.period)

    def start(self) -> None:
        self.task = asyncio.create_task(self._run())

    async def stop(self) -> int:
        self._stop.set()
        assert self.task is not None
        await self.task
        return self.value


def check_stream(responder: AckResponder, expected_units: int) -> None:
    events = responder.stream_events()
    streams = {e for (e, _) in responder.events}
    assert len(streams) == 1, streams
    stream = streams.pop()
    seqs = responder.seqs(stream)
    assert seqs == list(range(1, len(seqs) + 1)), "seqs not gapless"
    counts = [e for e in events if e["kind"] == "count"]
    assert [e["flags"] for e in counts].count(["baseline"]) == 1
    assert not [e for e in counts if e["flags"] and e["flags"] != ["baseline"]], "unexpected reset/rollover/suspect"
    values = [e["raw"]["value"] for e in counts]
    assert values == sorted(values), "count events out of order"
    for before, after in itertools.pairwise(counts):
        assert after["raw"]["prev"] == before["raw"]["value"], "a count was lost or doubled between events"
    assert responder.qty("count") == expected_units


async def test_broker_killed_during_production(
    tmp_path: Path, broker: BrokerProcess, responder: AckResponder, plc: ModbusPlc
) -> None:
    cfg = tmp_path / "edge.toml"
    cfg.write_text(edge_toml(outbox=tmp_path / "o.db", mqtt_port=broker.port, plc_port=plc.port, poll_ms=20,
                             resend_timeout_s=5))
    agent = Agent(load_edge_settings(cfg))
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    producer = Producer(plc)
    try:
        await asyncio.wait_for(agent.ready.wait(), 20)
        await wait_until_async("len(responder.events) >= 1", lambda: len(responder.events) >= 1, 20)
        producer.start()
        await wait_until_async("agent.store.acked_through() >= 20", lambda: agent.store.acked_through() >= 20, 30)
        broker.kill()
        seq_at_kill = agent.store.last_seq()
        await wait_until_async(
            "agent.store.last_seq() >= seq_at_kill + 30",
            lambda: agent.store.last_seq() >= seq_at_kill + 30,
            30,
        )  # production goes on
        await wait_until_async("not agent.forwarder.stats.connected", lambda: not agent.forwarder.stats.connected, 10)
        backlog = agent.store.last_seq() - agent.store.acked_through()
        assert backlog >= 30
        broker.start()
        await asyncio.sleep(0.5)  # let production run on after the broker is back
        final = await producer.stop()
        await wait_until_async(
            "responder.qty('count') >= final - START",
            lambda: responder.qty("count") >= final - START,
            60,
            detail=lambda: (responder.qty("count"), final - START),
        )
        await wait_until_async(
            "agent.store.acked_through() == agent.store.last_seq()",
            lambda: agent.store.acked_through() == agent.store.last_seq(),
            30,
        )
        assert agent.forwarder.stats.reconnects >= 1
        check_stream(responder, final - START)
    finally:
        if producer.task is not None and not producer.task.done():
            await producer.stop()
        stop.set()
        await asyncio.wait_for(task, 30)


async def _spawn(cfg: Path) -> asyncio.subprocess.Process:
    with cfg.with_suffix(".log").open("ab") as log:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "sfsync.cli", "edge", "run", "--config", str(cfg),
            cwd=str(REPO), env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=asyncio.subprocess.DEVNULL, stderr=log,
        )


async def test_agent_kill_9_mid_burst_loses_and_doubles_nothing(
    tmp_path: Path, broker: BrokerProcess, responder: AckResponder, plc: ModbusPlc
) -> None:
    cfg = tmp_path / "edge.toml"
    cfg.write_text(edge_toml(outbox=tmp_path / "o.db", mqtt_port=broker.port, plc_port=plc.port, poll_ms=10,
                             commit_window_ms=5, resend_timeout_s=5))
    producer = Producer(plc, period=0.002)
    proc = await _spawn(cfg)
    try:
        await wait_until_async("len(responder.events) >= 1", lambda: len(responder.events) >= 1, 60,
                               detail="agent did not start")
        producer.start()
        for _round in range(2):  # two kills, each in the middle of the burst
            target = len(responder.events) + 40
            await wait_until_async(f"{target} events", lambda t=target: len(responder.events) >= t,  # type: ignore[misc]
                                   60)
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            await asyncio.sleep(0.3)  # the PLC keeps counting while the agent is dead
            proc = await _spawn(cfg)
        target = len(responder.events) + 40
        await wait_until_async("len(responder.events) >= target", lambda: len(responder.events) >= target, 60)
        final = await producer.stop()
        await wait_until_async(
            "responder.qty('count') >= final - START",
            lambda: responder.qty("count") >= final - START,
            60,
            detail=lambda: (responder.qty("count"), final - START),
        )
        await asyncio.sleep(0.5)  # nothing more may arrive: a doubled count would show up here
        check_stream(responder, final - START)
    finally:
        if producer.task is not None and not producer.task.done():
            await producer.stop()
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                proc.kill()
                await proc.wait()
    assert proc.returncode == 0
