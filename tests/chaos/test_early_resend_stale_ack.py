"""The early re-send after a broker restart fires even when central's first ack is a stale one.

Staged race (bench_outage_fleet showed it: some edges waited the full ``resend_timeout_s``):
central stored a batch whose ack the broker lost when it was SIGKILLed; after the restart (no
persistence: every session and retained ack gone) the edge re-sends everything unacked before
central is subscribed, so the broker drops it; central then re-acks what it had stored before
the outage. That ack advances the edge's cursor but covers nothing sent on this connection, so
it must not disarm the early re-send, nor must a second such ack (central still working through
what it had queued when the broker died acks in several steps). ``resend_timeout_s`` is an hour: only the early re-send
(``reconnect_max_s`` + 1 s = 3 s here) can deliver the dropped batches within the test's bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from support.edge import AckResponder, ModbusPlc, RunningAgent, edge_toml, start_agent

from sfsync.broker import BrokerProcess
from shared.waiting import wait_until_async

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

NO_TIMEOUT_RESEND = 3600.0


@pytest.fixture
async def plc() -> AsyncIterator[ModbusPlc]:
    p = ModbusPlc()
    await p.set(0, [0, 1, 0, 1, 0])  # good 0, state running, scrap 0, scrap reason 1
    await p.start()
    yield p
    await p.stop()


async def count(run: RunningAgent, plc: ModbusPlc, good: int, parts: int) -> int:
    """Make ``parts`` good parts, one at a time, each stored by the edge before the next."""
    store = run.agent.store
    for _ in range(parts):
        good += 1
        before = store.last_seq()
        await plc.set(0, [good])
        await wait_until_async("store.last_seq() > before", lambda: store.last_seq() > before, 15,  # noqa: B023
                               detail="a PLC change was not stored")
    return good


def publish_ack(broker: BrokerProcess, stream: str, through: int) -> None:
    """One retained ack on edge-1's ack topic, as central publishes it."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="stale-acker")
    client.username_pw_set("central-test")
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        client.publish("sfsync/v1/P1/edge-1/ack", orjson.dumps({"stream": stream, "acked_through": through}),
                       qos=1, retain=True).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.mark.timeout(90)
@pytest.mark.parametrize("stale_acks", [1, 2])
async def test_a_stale_ack_after_a_broker_restart_does_not_disarm_the_early_resend(
    tmp_path: Path, broker: BrokerProcess, plc: ModbusPlc, stale_acks: int
) -> None:
    cfg = tmp_path / "edge.toml"
    cfg.write_text(edge_toml(outbox=tmp_path / "outbox.db", mqtt_port=broker.port, plc_port=plc.port,
                             resend_timeout_s=NO_TIMEOUT_RESEND))
    central = AckResponder(broker.host, broker.port)
    await asyncio.to_thread(central.start)
    run = await start_agent(cfg)
    try:
        fwd, store = run.agent.forwarder, run.agent.store
        assert fwd.early_resend_s == 3
        await wait_until_async("first poll stored", lambda: store.last_seq() >= 1, 20,
                               detail="no state event: the edge did not read the PLC")  # good's baseline is 0
        good = await count(run, plc, 0, 3)
        await wait_until_async("acked", lambda: store.last_seq() > 0 and store.acked_through() == store.last_seq(),
                               20, detail="central did not ack before the outage")
        # central stores the next events but its acks never reach the edge (lost with the broker)
        central.pause()
        good = await count(run, plc, good, 3)
        stored_before = store.last_seq()
        assert central.wait_for(lambda c: (store.stream, stored_before) in c.events, 10)
        acked_before = store.acked_through()
        assert acked_before < stored_before

        await asyncio.to_thread(central.stop)
        broker.kill()
        await wait_until_async("not fwd.stats.connected", lambda: not fwd.stats.connected, 20)
        good = await count(run, plc, good, 3)  # a backlog while the broker is away
        sent = fwd.stats.published_events
        broker.start()  # same port, empty: every session and retained message is gone
        # the edge reconnects and re-sends from acked_before + 1 while nobody is subscribed: dropped
        await wait_until_async("re-sent on the new connection",
                               lambda: fwd.stats.connected and fwd.stats.published_events
                               >= sent + store.last_seq() - acked_before, 20)
        assert fwd.stats.resends == 0
        # central comes back and re-acks what it stored before the outage: the stale ack(s)
        if stale_acks == 2:
            await asyncio.to_thread(publish_ack, broker, store.stream, acked_before + 1)
            await wait_until_async("the first stale ack applied", lambda: store.acked_through() == acked_before + 1,
                                   10)
        central.connected.clear()
        await asyncio.to_thread(central.start)
        central.resume()
        await wait_until_async("the stale ack applied", lambda: store.acked_through() == stored_before, 10,
                               detail=lambda: f"acked through {store.acked_through()}, expected {stored_before}")
        good = await count(run, plc, good, 2)  # live data keeps coming, held behind the gap
        await wait_until_async(
            "everything acked", lambda: store.acked_through() == store.last_seq(), 20,
            detail=lambda: f"acked through {store.acked_through()} of {store.last_seq()}: the batches dropped "
                           f"after the restart were not re-sent early (resends {fwd.stats.resends})",
        )
    finally:
        await run.close()
        central.stop()
    assert fwd.stats.resends >= 1
    assert [e["seq"] for e in central.stream_events(store.stream)] == list(range(1, store.last_seq() + 1))
    assert sum(int(e["qty"]) for e in central.stream_events(store.stream) if e["kind"] == "count") == good
