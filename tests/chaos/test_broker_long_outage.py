"""A broker away longer than the old 30 s reconnect cap: both sides come back, nothing lost or doubled.

The real edge agent (in process, reading a real pymodbus PLC) and central's real MQTT ingest
(paho threads, SQLite) run against a real broker. The broker is SIGKILLed (it loses every
session, queue and retained ack), stays away ``OUTAGE_S`` while the PLC keeps counting, and is
started again on the same port. ``resend_timeout_s`` is an hour, so only the reconnect path (the
re-send on connect, and the one early re-send for a central that subscribed after it) can bring
the backlog over. How fast is for ``make bench`` (bench/bench_reconnect.py), not for an assertion.
The truth is the PLC: central's stored count and scrap quantities equal its counters, every seq
of the stream is stored exactly once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from support.central import make_container, register, start_ingest
from support.edge import AckResponder, ModbusPlc, RunningAgent, edge_toml, start_agent

from central.adapters.db.models_ingest import EventRow
from central.bootstrap import Container
from central.entrypoints.consumer import MqttIngest
from sfsync.broker import BrokerProcess
from shared.waiting import wait_until_async

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

OUTAGE_S = 35.0  # longer than the 30 s cap paho's back-off had on both sides
NO_TIMEOUT_RESEND = 3600.0


@pytest.fixture
async def plc() -> AsyncIterator[ModbusPlc]:
    p = ModbusPlc()
    await p.set(0, [0, 1, 0, 1, 0])  # good 0, state running, scrap 0, scrap reason 1
    await p.start()
    yield p
    await p.stop()


@pytest.fixture
def central(central_sqlite_url: str) -> Iterator[Container]:
    c = make_container(central_sqlite_url)
    register(c, edge="edge-1", plant="P1", machines=("M1",))
    yield c
    c.dispose()


def stored(central: Container, stream: str) -> list[tuple[int, str, int]]:
    """``(seq, kind, qty)`` of every event central stored for ``stream``, in seq order."""
    with central.read_sessions() as session:
        rows = session.execute(
            select(EventRow.seq, EventRow.kind, EventRow.qty).where(EventRow.stream == stream).order_by(EventRow.seq)
        ).all()
    return [(seq, kind or "", qty or 0) for seq, kind, qty in rows]


def stored_count(central: Container) -> int:
    with central.read_sessions() as session:
        return int(session.scalar(select(func.count()).select_from(EventRow)) or 0)


def drained(run: RunningAgent) -> bool:
    store = run.agent.store
    return bool(store.queued == 0 and store.last_seq() > 0 and store.acked_through() == store.last_seq())


async def produce_for(run: RunningAgent, plc: ModbusPlc, seconds: float, good: int, scrap: int) -> tuple[int, int]:
    """Count good parts (and every fifth step a scrap part) for ``seconds``; each step stored before the next."""
    end = time.monotonic() + seconds
    steps = 0
    while time.monotonic() < end:
        steps += 1
        good += 1 + steps % 3
        if steps % 5 == 0:
            scrap += 1
            await step(run, plc.set(0, [good, 1, scrap]))
        else:
            await step(run, plc.set(0, [good]))
        await asyncio.sleep(0.25)
    return good, scrap


async def step(run: RunningAgent, change: Awaitable[None]) -> None:
    """Make the PLC change and wait until the edge stored an event for it."""
    store = run.agent.store
    before = store.last_seq()
    await change
    await wait_until_async("store.last_seq() > before", lambda: store.last_seq() > before, 15,
                           detail="a PLC change was not stored")


@pytest.mark.timeout(240)
async def test_broker_away_longer_than_30_s_both_sides_reconnect_and_the_backlog_arrives_once(
    tmp_path: Path, broker: BrokerProcess, plc: ModbusPlc, central: Container
) -> None:
    ingest: MqttIngest = await asyncio.to_thread(start_ingest, central, broker.host, broker.port, "central-outage")
    cfg = tmp_path / "edge.toml"
    cfg.write_text(edge_toml(outbox=tmp_path / "outbox.db", mqtt_port=broker.port, plc_port=plc.port,
                             resend_timeout_s=NO_TIMEOUT_RESEND))
    run = await start_agent(cfg)
    try:
        assert run.agent.settings.mqtt.reconnect_max_s == 2 and ingest.mqtt_settings.reconnect_max_s == 2
        await wait_until_async("run.agent.store.last_seq() >= 3", lambda: run.agent.store.last_seq() >= 3, 20,
                               detail="no baseline events")
        good, scrap = await produce_for(run, plc, 2.0, 0, 0)
        await wait_until_async("drained(run)", lambda: drained(run), 30, detail="central did not ack before the outage")
        fwd = run.agent.forwarder
        before_outage = stored_count(central)

        broker.kill()
        await wait_until_async(
            "not fwd.stats.connected and not ingest.connected.is_set()",
            lambda: not fwd.stats.connected and not ingest.connected.is_set(),
            20,
        )
        good, scrap = await produce_for(run, plc, OUTAGE_S, good, scrap)
        store = run.agent.store
        backlog = store.last_seq() - store.acked_through()
        assert backlog > 20, "the edge stored no backlog while the broker was away"
        assert stored_count(central) == before_outage  # nothing can have reached central meanwhile

        broker.start()  # same port, same (empty: it was killed) data directory
        await wait_until_async(
            "fwd.stats.connected and ingest.connected.is_set()",
            lambda: fwd.stats.connected and ingest.connected.is_set(),
            30,
            detail="no reconnect",
        )
        await wait_until_async(
            "drained(run)",
            lambda: drained(run),
            60,
            detail=lambda: f"backlog not acked: acked through {store.acked_through()} of {store.last_seq()}",
        )
    finally:
        await run.close()
        await asyncio.to_thread(ingest.stop)

    assert fwd.stats.reconnects >= 1 and fwd.stats.connects >= 2
    events = stored(central, store.stream)
    assert [seq for seq, _, _ in events] == list(range(1, store.last_seq() + 1)), "seqs stored not exactly once"
    assert sum(q for _, kind, q in events if kind == "count") == good, "central's good count != the PLC counter"
    assert sum(q for _, kind, q in events if kind == "scrap") == scrap, "central's scrap != the PLC counter"
    assert scrap > 0


@pytest.mark.timeout(120)
async def test_a_central_that_subscribes_after_the_edge_sent_gets_the_batches_without_the_ack_timeout(
    tmp_path: Path, broker: BrokerProcess, plc: ModbusPlc
) -> None:
    """The race after a broker restart, staged: the edge connects and sends while nobody is
    subscribed (the broker PUBACKs and drops), central subscribes later. With an hour-long
    ``resend_timeout_s`` only the one early re-send of a connection without any ack delivers.
    ``reconnect_max_s = 10`` puts that re-send 11 s after the first send, well after central is
    subscribed here."""
    cfg = tmp_path / "edge.toml"
    cfg.write_text(edge_toml(outbox=tmp_path / "outbox.db", mqtt_port=broker.port, plc_port=plc.port,
                             resend_timeout_s=NO_TIMEOUT_RESEND))
    run = await start_agent(cfg, {"SFSYNC_EDGE_MQTT__RECONNECT_MAX_S": "10"})
    responder: AckResponder | None = None
    try:
        fwd, store = run.agent.forwarder, run.agent.store
        await wait_until_async("store.last_seq() >= 3", lambda: store.last_seq() >= 3, 20, detail="no baseline events")
        good, _ = await produce_for(run, plc, 1.0, 0, 0)
        await wait_until_async(
            "fwd.stats.published_events >= store.last_seq() and fwd.stats.latency_count",
            lambda: fwd.stats.published_events >= store.last_seq() and fwd.stats.latency_count,
            15,
        )
        assert store.acked_through() == 0 and fwd.stats.resends == 0
        assert fwd.early_resend_s == 11
        central = responder = AckResponder(broker.host, broker.port)
        await asyncio.to_thread(central.start)
        await wait_until_async("drained(run)", lambda: drained(run), 30,
                               detail="the dropped batches were never re-sent")
        assert fwd.stats.resends == 1 and fwd.stats.reconnects == 0  # one early re-send, no reconnect
        assert central.seqs(store.stream) == list(range(1, store.last_seq() + 1))
        assert central.qty("count") == good
    finally:
        await run.close()
        if responder is not None:
            responder.stop()
