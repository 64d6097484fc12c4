"""The Mosquitto config and ACL we ship really confine an edge to its own topics."""

from __future__ import annotations

import queue
import shutil
import subprocess
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from sfsync.broker import free_port, mosquitto_binary, wait_port

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto"
USERS = {"central": "c-secret", "edge-1": "e1-secret", "edge-2": "e2-secret"}


@pytest.fixture
def secured_broker(tmp_path: Path) -> tuple[str, int]:
    binary = mosquitto_binary()
    if binary is None or shutil.which("mosquitto_passwd") is None:
        pytest.skip("needs the mosquitto and mosquitto_passwd binaries")
    passwd = tmp_path / "passwd"
    passwd.touch()
    for user, password in USERS.items():
        subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, password], check=True)
    port = free_port()
    shipped = (DEPLOY / "mosquitto.conf").read_text()
    conf = (
        shipped.replace("/mosquitto/config/passwd", str(passwd))
        .replace("/mosquitto/config/acl", str(DEPLOY / "acl"))
        .replace("/mosquitto/data/", f"{tmp_path}/")
        .replace("listener 1883", f"user root\nlistener {port} 127.0.0.1")
    )
    (tmp_path / "m.conf").write_text(conf)
    proc = subprocess.Popen(
        [binary, "-c", str(tmp_path / "m.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        assert wait_port("127.0.0.1", port, 10), "mosquitto did not start with the shipped config"
        yield "127.0.0.1", port
    finally:
        proc.kill()
        proc.wait(10)


def connected(addr: tuple[str, int], user: str, password: str) -> tuple[mqtt.Client, queue.Queue[object]]:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{user}")
    c.username_pw_set(user, password)
    events: queue.Queue[object] = queue.Queue()
    c.on_connect = lambda _c, _u, _f, rc, _p: events.put(("connect", str(rc)))
    c.on_subscribe = lambda *_a: events.put("subscribed")
    c.on_message = lambda _c, _u, msg: events.put((msg.topic, msg.payload))
    c.connect(*addr)
    c.loop_start()
    assert events.get(timeout=10) == ("connect", "Success")
    return c, events


@pytest.mark.timeout(60)
def test_acl_denies_foreign_topics_and_allows_own(secured_broker: tuple[str, int]) -> None:
    central, central_q = connected(secured_broker, "central", USERS["central"])
    central.subscribe("sfsync/v1/+/+/events", qos=1)
    assert central_q.get(timeout=10) == "subscribed"
    reader, reader_q = connected(secured_broker, "edge-1", USERS["edge-1"])
    reader.subscribe("sfsync/v1/P1/edge-2/ack", qos=1)  # someone else's ack: denied
    reader.subscribe("sfsync/v1/P1/edge-1/ack", qos=1)
    assert reader_q.get(timeout=10) == "subscribed"
    assert reader_q.get(timeout=10) == "subscribed"
    central.publish("sfsync/v1/P1/edge-2/ack", b"for edge-2", qos=1).wait_for_publish(10)
    central.publish("sfsync/v1/P1/edge-1/ack", b"for edge-1", qos=1).wait_for_publish(10)
    assert reader_q.get(timeout=10) == ("sfsync/v1/P1/edge-1/ack", b"for edge-1")
    assert reader_q.empty()

    # A denied publish is dropped (Mosquitto may also drop the connection; paho reconnects).
    writer, _ = connected(secured_broker, "edge-1", USERS["edge-1"])
    writer.publish("sfsync/v1/P1/edge-2/events", b"forged", qos=1)
    writer.publish("sfsync/v1/P9/edge-1/events", b"wrong plant", qos=1)
    writer.publish("sfsync/v1/P1/edge-1/events", b"own", qos=1)
    deadline_msgs = []
    while True:
        item = central_q.get(timeout=15)
        deadline_msgs.append(item)
        if item == ("sfsync/v1/P1/edge-1/events", b"own"):
            break
    assert all(m == ("sfsync/v1/P1/edge-1/events", b"own") for m in deadline_msgs)


@pytest.mark.timeout(30)
def test_wrong_password_and_anonymous_are_refused(secured_broker: tuple[str, int]) -> None:
    for user, password in (("edge-1", "wrong"), ("", "")):
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="intruder")
        if user:
            c.username_pw_set(user, password)
        result: queue.Queue[str] = queue.Queue()
        c.on_connect = lambda _c, _u, _f, rc, _p, q=result: q.put(str(rc))
        c.connect(*secured_broker)
        c.loop_start()
        assert result.get(timeout=10) in {"Not authorized", "Bad user name or password"}
        c.loop_stop()
