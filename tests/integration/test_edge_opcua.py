"""Agent-level OPC UA test: a real asyncua server restarts; the agent re-subscribes by itself.

The server (``support.protocols.OpcUaServerProcess``) counts ``Line.Tick`` up every 100 ms;
after a restart it counts again from 1 in a new server life, with its namespace at another
index: the agent must resume on its own and count the restart as a ``reset``, not a rollover.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.edge import AckResponder, last_value, opcua_edge_toml
from support.protocols import OpcUaServerProcess

from edge.agent import Agent
from edge.config import load_edge_settings
from sfsync.broker import BrokerProcess, free_port
from shared.waiting import wait_until_async

pytestmark = pytest.mark.timeout(240)

RESET_MARGIN = 100  # ticks (10 s) before the restart


@pytest.fixture
def opcua() -> Iterator[OpcUaServerProcess]:
    server = OpcUaServerProcess(free_port())
    server.start()
    yield server
    server.stop()


async def test_server_restart_resubscribes_and_counts_a_reset(
    tmp_path: Path, broker: BrokerProcess, responder: AckResponder, opcua: OpcUaServerProcess
) -> None:
    cfg = tmp_path / "edge.toml"
    cfg.write_text(opcua_edge_toml(outbox=tmp_path / "o.db", mqtt_port=broker.port, endpoint=opcua.endpoint,
                                    tag="tick", locator='node = "s=Line.Tick"'))
    agent = Agent(load_edge_settings(cfg))
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))

    def counts() -> list[dict[str, object]]:
        return [e for e in responder.stream_events() if e["kind"] == "count"]

    try:
        await asyncio.wait_for(agent.ready.wait(), 30)
        await wait_until_async("len(counts()) >= 5", lambda: len(counts()) >= 5, 60, detail=lambda: counts())
        assert counts()[0]["flags"] == ["baseline"]
        # A reset shows as a drop: let the old life count well past what the new one (from 1, every
        # 100 ms) can reach before the agent is back, even on a loaded machine. A restarted server
        # whose counter has already passed the old value is, by design, an ordinary delta.
        await wait_until_async(
            "last_value(counts()) >= RESET_MARGIN",
            lambda: last_value(counts()) >= RESET_MARGIN,
            90,
            detail=lambda: counts()[-1:],
        )
        before = len(counts())
        await asyncio.to_thread(opcua.restart, 2)  # new server life, namespace index shifted by 2
        await wait_until_async(
            "any('reset' in e['flags'] for e in counts())",
            lambda: any("reset" in e["flags"] for e in counts()),
            60,
            detail=lambda: counts()[before:],
        )
        n = len(counts())
        await wait_until_async("len(counts()) >= n + 5", lambda: len(counts()) >= n + 5,
                               60)  # data resumes after the restart
        evs = counts()
        reset = next(e for e in evs if "reset" in e["flags"])
        assert reset["qty"] == reset["raw"]["value"]  # type: ignore[index]
        assert not [e for e in evs if "rollover" in e["flags"] or "suspect" in e["flags"]]
        store = agent.store
        await wait_until_async(
            "store.acked_through() == store.last_seq()",
            lambda: store.acked_through() == store.last_seq(),
            30,
        )
        assert agent.sources[0].health.reconnects >= 1
        metrics = (await agent._metrics()).decode()
        assert 'sfsync_edge_source_reconnects_total{source="ua"}' in metrics
        assert 'sfsync_edge_source_missed_changes_total{source="ua"}' in metrics
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
