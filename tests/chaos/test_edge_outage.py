"""Edge agent when the way to central is broken: a broker that loses what it PUBACKed, no broker
at all with a tiny outbox budget. The truth is the PLC counter: central's deduplicated count
quantities must add up to it, with seqs gapless from 1.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from support.edge import (
    AckResponder,
    ModbusPlc,
    RunningAgent,
    edge_toml,
    fetch_health,
    fetch_metrics,
    start_agent,
)

from edge.outbox import Outbox
from sfsync.broker import BrokerProcess
from shared.waiting import wait_until_async

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(60)]


@pytest.fixture
async def plc() -> AsyncIterator[ModbusPlc]:
    p = ModbusPlc()
    await p.set(0, [0, 1, 0, 1, 0])  # good 0, state running, scrap 0
    await p.start()
    yield p
    await p.stop()


async def produce(run: RunningAgent, plc: ModbusPlc, values: range) -> int:
    """Step the good counter through ``values``, each one stored before the next; the last value."""
    store = run.agent.store
    await wait_until_async("store.last_seq() >= 3", lambda: store.last_seq() >= 3, 20,
                           detail="no baseline events")  # baselines + state
    value = 0
    for value in values:
        await step(run, plc, value)
    return value


async def step(run: RunningAgent, plc: ModbusPlc, value: int) -> None:
    store = run.agent.store
    before = store.last_seq()
    await plc.set(0, [value])
    await wait_until_async("store.last_seq() > before", lambda: store.last_seq() > before, 15,
                           detail=lambda: f"counter {value} not stored")


def drained(run: RunningAgent) -> bool:
    store = run.agent.store
    return store.queued == 0 and store.acked_through() == store.last_seq()


def check_central(responder: AckResponder, run: RunningAgent, counter: int) -> None:
    stream = run.agent.store.stream
    assert responder.seqs(stream) == list(range(1, run.agent.store.last_seq() + 1)), "seqs not gapless"
    assert responder.qty("count") == counter, "central's counts do not add up to the PLC counter"
    assert not responder.problems


async def test_batches_the_broker_dropped_are_resent_after_ack_timeout(
    tmp_path: Path, broker: BrokerProcess, plc: ModbusPlc
) -> None:
    """Central is not subscribed yet: the broker PUBACKs the batches and drops them (nobody to
    deliver to). No reconnect happens, so only the ack timeout can bring them to central."""
    cfg = tmp_path / "edge.toml"
    cfg.write_text(edge_toml(outbox=tmp_path / "outbox.db", mqtt_port=broker.port, plc_port=plc.port,
                             resend_timeout_s=1.0))
    run = await start_agent(cfg)
    responder: AckResponder | None = None
    try:
        counter = await produce(run, plc, range(2, 12, 2))
        fwd = run.agent.forwarder
        # everything was published and PUBACKed by the broker, and nobody received it
        await wait_until_async(
            "fwd.stats.published_events >= run.agent.store.last_seq() and fwd.stats.latency_count >= 1",
            lambda: fwd.stats.published_events >= run.agent.store.last_seq() and fwd.stats.latency_count >= 1,
            15,
        )
        assert run.agent.store.acked_through() == 0

        responder = AckResponder(broker.host, broker.port).start()
        await wait_until_async("drained(run)", lambda: drained(run), 30, detail="the lost batches were never re-sent")
        check_central(responder, run, counter)
        metrics = await fetch_metrics(run.url)
        assert metrics["resends_total"] >= 1
        assert metrics["mqtt_reconnects_total"] == 0
        assert metrics["backlog_events"] == 0
    finally:
        await run.close()
        if responder is not None:
            responder.stop()


async def test_full_outbox_budget_keeps_every_event_and_clears_after_drain(
    tmp_path: Path, plc: ModbusPlc, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="edge.store")
    broker = BrokerProcess(workdir=tmp_path / "broker")  # its port is chosen, nothing listens there yet
    outbox = tmp_path / "outbox.db"
    cfg = tmp_path / "edge.toml"
    cfg.write_text(edge_toml(outbox=outbox, mqtt_port=broker.port, plc_port=plc.port, max_rows=5))
    run = await start_agent(cfg)
    responder: AckResponder | None = None
    try:
        counter = await produce(run, plc, range(1, 16))
        store = run.agent.store
        assert store.last_seq() > 5

        health = await fetch_health(run.url)
        assert health["backlog"]["over_budget"] is True and health["backlog"]["budget_rows"] == 5
        assert health["backlog"]["rows"] == store.last_seq()
        assert health["status"] == "degraded"
        assert health["broker"]["connected"] is False
        assert health["broker"]["last_error"].startswith("cannot connect"), health["broker"]
        metrics = await fetch_metrics(run.url)
        assert metrics["outbox_over_budget"] == 1 and metrics["mqtt_connected"] == 0
        over = [r for r in caplog.records if "over its budget" in r.getMessage()]
        assert len(over) == 1 and over[0].levelno == logging.ERROR  # an alarm, raised once

        # nothing dropped: the stored count events add up to the PLC counter
        reader = Outbox(outbox, "P1", "edge-1", read_only=True)
        try:
            stored = [orjson.loads(body) for _, body in reader.pending(0, 10_000, 1 << 30)]
        finally:
            reader.close()
        assert [e["seq"] for e in stored] == list(range(1, store.last_seq() + 1))
        assert sum(e["qty"] for e in stored if e["kind"] == "count") == counter

        # the broker appears: the backlog drains, the alarm clears
        broker.start()
        responder = AckResponder(broker.host, broker.port).start()
        await wait_until_async("drained(run)", lambda: drained(run), 30, detail="the backlog did not drain")
        check_central(responder, run, counter)
        health = await fetch_health(run.url)
        assert health["backlog"]["over_budget"] is False and health["backlog"]["rows"] == 0
        assert health["status"] == "ok"
        metrics = await fetch_metrics(run.url)
        assert metrics["outbox_over_budget"] == 0 and metrics["mqtt_connected"] == 1
        assert any("back within its budget" in r.getMessage() for r in caplog.records)
    finally:
        await run.close()
        if responder is not None:
            responder.stop()
        broker.kill()
