"""The edge does not re-send while central's ack keeps moving, and does once it stops.

bench_outage_fleet (20 edges back from a 10-minute outage, central slow on a loaded machine)
showed every edge re-sending its whole unacked range every ``resend_timeout_s`` while central
was acking, slowly, through it: the duplicates queued in front of the real work and no stream
became live. The timeout now counts from the later of the oldest unacked send and central's
last ack that moved. A slow central stand-in here acks one event per tick, so the oldest unacked
send ages far past a 2 s timeout while the ack moves: no re-send and every seq arrives once.
Then it stops acking: the edge re-sends after the timeout, and again only after twice that (a
slow central is not flooded with a copy of everything every timeout).
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from support.edge import ModbusPlc, edge_toml, start_agent

from sfsync.broker import BrokerProcess
from shared.waiting import wait_until_async

pytestmark = pytest.mark.slow

TICK_S = 0.6
RESEND_TIMEOUT_S = 2.0


class SlowCentral:
    """Records every delivered seq of edge-1's stream and acks one more event per tick (retained),
    only once that seq arrived; ``stop_acking`` freezes the ack."""

    def __init__(self, broker: BrokerProcess) -> None:
        self.deliveries: list[int] = []
        self.acked = 0
        self.stream = ""
        self.acking = True
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="slow-central")
        self._client.username_pw_set("central-test")
        self._client.on_message = self._on_message
        subscribed = threading.Event()
        self._client.on_subscribe = lambda *_a: subscribed.set()
        self._client.connect(broker.host, broker.port)
        self._client.loop_start()
        self._client.subscribe("sfsync/v1/P1/edge-1/events", 1)
        if not subscribed.wait(10):
            raise TimeoutError("slow central did not subscribe")
        self._thread = threading.Thread(target=self._ticks, daemon=True)
        self._thread.start()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        doc = orjson.loads(msg.payload)
        with self._lock:
            self.stream = str(doc["stream"])
            self.deliveries += [int(e["seq"]) for e in doc["events"]]

    def _ticks(self) -> None:
        while not self._stop.wait(TICK_S):
            with self._lock:
                if not self.acking or self.acked + 1 not in self.deliveries:
                    continue
                self.acked += 1
                ack = orjson.dumps({"stream": self.stream, "acked_through": self.acked})
            self._client.publish("sfsync/v1/P1/edge-1/ack", ack, qos=1, retain=True)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._client.disconnect()
        self._client.loop_stop()


@pytest.fixture
async def plc() -> AsyncIterator[ModbusPlc]:
    p = ModbusPlc()
    await p.set(0, [0, 1, 0, 1, 0])  # good 0, state running, scrap 0, scrap reason 1
    await p.start()
    yield p
    await p.stop()


@pytest.fixture
def central(broker: BrokerProcess) -> Iterator[SlowCentral]:
    c = SlowCentral(broker)
    yield c
    c.close()


@pytest.mark.timeout(90)
async def test_no_resend_while_the_ack_moves_and_one_once_it_stops(
    tmp_path: Path, broker: BrokerProcess, plc: ModbusPlc, central: SlowCentral
) -> None:
    cfg = tmp_path / "edge.toml"
    cfg.write_text(edge_toml(outbox=tmp_path / "outbox.db", mqtt_port=broker.port, plc_port=plc.port,
                             resend_timeout_s=RESEND_TIMEOUT_S))
    run = await start_agent(cfg, {"SFSYNC_EDGE_OUTBOX__BATCH_MAX_EVENTS": "1"})  # one event per batch
    try:
        fwd, store = run.agent.forwarder, run.agent.store
        await wait_until_async("first poll stored", lambda: store.last_seq() >= 1, 20)
        for good in range(1, 9):  # a backlog of single-event batches, sent at once, acked one per tick
            before = store.last_seq()
            await plc.set(0, [good])
            await wait_until_async("stored", lambda: store.last_seq() > before, 15)  # noqa: B023
        last = store.last_seq()
        sent_at = time.monotonic()
        await wait_until_async("everything acked", lambda: store.acked_through() == last, 30,
                               detail=lambda: f"acked through {store.acked_through()} of {last}")
        assert time.monotonic() - sent_at > RESEND_TIMEOUT_S * 1.5, "the backlog was acked too fast to test"
        assert fwd.stats.resends == 0, "re-sent while central's ack kept moving"
        assert sorted(central.deliveries) == list(range(1, last + 1)), "a seq delivered twice or not at all"

        central.acking = False  # central stops acking: now the timeout re-sends
        await plc.set(0, [100])
        await wait_until_async("stored", lambda: store.last_seq() > last, 15)
        await wait_until_async("re-sent after the timeout", lambda: fwd.stats.resends >= 1,
                               RESEND_TIMEOUT_S * 4)
        first = time.monotonic()
        assert central.deliveries.count(store.last_seq()) >= 1
        await wait_until_async("re-sent again", lambda: fwd.stats.resends >= 2, RESEND_TIMEOUT_S * 6)
        gap = time.monotonic() - first
        # the second waits 2x the timeout (the old rule re-sent after 1x, plus at most the loop's 1 s tick)
        assert gap > RESEND_TIMEOUT_S * 1.75, f"second re-send {gap:.1f} s after the first"
        assert central.deliveries.count(store.last_seq()) >= 2
    finally:
        await run.close()
