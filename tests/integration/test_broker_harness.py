"""The broker fixture runs a real broker; the kill/restart helper really restarts it."""

from __future__ import annotations

import queue
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from sfsync.broker import BrokerProcess


def client(broker: BrokerProcess, client_id: str, clean: bool = True) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean)
    c.username_pw_set(client_id)
    return c


def connect(c: mqtt.Client, broker: BrokerProcess) -> None:
    connected: queue.Queue[object] = queue.Queue()
    c.on_connect = lambda *a: connected.put(a[3])
    c.connect(broker.host, broker.port)
    c.loop_start()
    assert str(connected.get(timeout=10)) == "Success"


@pytest.mark.timeout(30)
def test_qos1_message_round_trips_through_real_broker(broker: BrokerProcess) -> None:
    got: queue.Queue[tuple[str, bytes, int]] = queue.Queue()
    sub = client(broker, "sub")
    sub.on_message = lambda _c, _u, msg: got.put((msg.topic, msg.payload, msg.qos))
    connect(sub, broker)
    subscribed: queue.Queue[object] = queue.Queue()
    sub.on_subscribe = lambda *a: subscribed.put(a)
    sub.subscribe("sfsync/v1/P1/e1/events", qos=1)
    subscribed.get(timeout=10)
    pub = client(broker, "pub")
    connect(pub, broker)
    pub.publish("sfsync/v1/P1/e1/events", b"hello", qos=1).wait_for_publish(10)
    assert got.get(timeout=10) == ("sfsync/v1/P1/e1/events", b"hello", 1)
    for c in (sub, pub):
        c.disconnect()
        c.loop_stop()


@pytest.mark.timeout(60)
def test_persistent_session_survives_broker_restart(tmp_path: Path) -> None:
    proc = BrokerProcess(workdir=tmp_path / "b", persistence=True)
    if not proc.durable:
        pytest.skip("only the embedded amqtt broker is available: it keeps sessions in memory")
    proc.start()
    try:
        sub = client(proc, "durable-sub", clean=False)
        connect(sub, proc)
        subscribed: queue.Queue[object] = queue.Queue()
        sub.on_subscribe = lambda *a: subscribed.put(a)
        sub.subscribe("t/q", qos=1)
        subscribed.get(timeout=10)
        sub.disconnect()
        sub.loop_stop()
        pub = client(proc, "pub")
        connect(pub, proc)
        pub.publish("t/q", b"queued while offline", qos=1).wait_for_publish(10)
        pub.disconnect()
        pub.loop_stop()
        proc.restart()  # SIGTERM: mosquitto writes its persistence file, then starts again
        got: queue.Queue[bytes] = queue.Queue()
        again = client(proc, "durable-sub", clean=False)
        again.on_message = lambda _c, _u, msg: got.put(msg.payload)
        connect(again, proc)
        assert got.get(timeout=15) == b"queued while offline"
        again.disconnect()
        again.loop_stop()
    finally:
        proc.kill()


@pytest.mark.timeout(60)
def test_embedded_broker_runs_when_forced(tmp_path: Path) -> None:
    proc = BrokerProcess(workdir=tmp_path / "a", kind="amqtt")
    proc.start()
    try:
        got: queue.Queue[bytes] = queue.Queue()
        sub = client(proc, "s")
        sub.on_message = lambda _c, _u, msg: got.put(msg.payload)
        connect(sub, proc)
        subscribed: queue.Queue[object] = queue.Queue()
        sub.on_subscribe = lambda *a: subscribed.put(a)
        sub.subscribe("x/y", qos=1)
        subscribed.get(timeout=10)
        pub = client(proc, "p")
        connect(pub, proc)
        pub.publish("x/y", b"via amqtt", qos=1).wait_for_publish(10)
        assert got.get(timeout=10) == b"via amqtt"
        for c in (sub, pub):
            c.disconnect()
            c.loop_stop()
    finally:
        proc.stop()
    assert not proc.running
