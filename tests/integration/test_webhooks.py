"""Webhooks against a real local HTTP receiver (issue 14): the HMAC-SHA256 signature verifies,
failed attempts are retried with back-off and logged, a delivery is dead-lettered after the bound
and alerted, and while the receiver hangs the ingest keeps acking the edge."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest
from sqlalchemy import select
from support.central import STREAM, FakeEdge, batches, make_container, register, start_ingest

from central.adapters.db.models_ingest import AlertRow
from central.adapters.db.models_purchasing import WebhookAttemptRow, WebhookDeliveryRow
from central.adapters.webhook_http import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from central.bootstrap import Container
from central.service_layer.alerts import raise_alert
from central.service_layer.webhooks import DeliveryPolicy, WebhookMetrics, WebhookWorker, create_webhook, deliver_once
from sfsync.broker import BrokerProcess
from shared.waiting import wait_until

SECRET = "a-shared-secret-of-some-length"
T0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)


class Receiver:
    """An HTTP server in a thread answering with the queued status codes (then 200); ``hang``
    blocks every request until ``release``."""

    def __init__(self) -> None:
        self.codes: list[int] = []
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.hang = threading.Event()
        self.release = threading.Event()
        self.hanging = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append(({k: v for k, v in self.headers.items()}, body))
                if outer.hang.is_set():
                    outer.hanging.set()
                    outer.release.wait(60)
                code = outer.codes.pop(0) if outer.codes else 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def central(central_db_url: str) -> Iterator[Container]:
    c = make_container(central_db_url)
    register(c)
    yield c
    c.dispose()


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _setup(c: Container, url: str) -> int:
    with c.write_sessions() as s, s.begin():
        create_webhook(s, url, SECRET, ["gap"], "warning", "boss", T0)
        alert = raise_alert(s, "gap", "gap:s1", "stream s1 misses seq 5..9", T0, detail={"stream": "s1"})
        s.flush()
        return alert.id


def _delivery(c: Container) -> tuple[WebhookDeliveryRow, list[WebhookAttemptRow]]:
    with c.read_sessions() as s:
        d = s.scalars(select(WebhookDeliveryRow)).one()
        return d, list(s.scalars(select(WebhookAttemptRow).order_by(WebhookAttemptRow.id)))


def test_signed_delivery_retried_after_failures(central: Container, receiver: Receiver) -> None:
    alert_id = _setup(central, receiver.url)
    receiver.codes = [500, 503]
    clock, metrics = Clock(T0), WebhookMetrics()
    policy = DeliveryPolicy(max_attempts=5, backoff_seconds=10, timeout_seconds=5)
    assert deliver_once(central.write_sessions, policy=policy, metrics=metrics, clock=clock) == \
        {"sent": 0, "retry": 1, "dead": 0}
    # backing off: nothing is due yet
    assert deliver_once(central.write_sessions, policy=policy, metrics=metrics, clock=clock)["retry"] == 0
    clock.now = T0 + timedelta(seconds=10)
    assert deliver_once(central.write_sessions, policy=policy, metrics=metrics, clock=clock)["retry"] == 1
    clock.now = T0 + timedelta(seconds=29)  # second back-off is 20 s
    assert deliver_once(central.write_sessions, policy=policy, metrics=metrics, clock=clock)["sent"] == 0
    clock.now = T0 + timedelta(seconds=30)
    assert deliver_once(central.write_sessions, policy=policy, metrics=metrics, clock=clock)["sent"] == 1
    assert len(receiver.requests) == 3
    for headers, body in receiver.requests:
        assert verify(SECRET, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
        assert not verify("another-secret-entirely", headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
        sent = orjson.loads(body)
        assert sent["event"] == "opened" and sent["alert"]["id"] == alert_id and sent["alert"]["kind"] == "gap"
    d, log = _delivery(central)
    assert (d.status, d.attempts) == ("sent", 3)
    assert [(a.ok, a.status_code) for a in log] == [(False, 500), (False, 503), (True, 200)]
    assert (metrics.sent.value("gap"), metrics.failed.value("gap"), metrics.dead.value("gap")) == (1, 2, 0)


def test_dead_letter_after_the_bound_raises_an_alert(central: Container, receiver: Receiver) -> None:
    _setup(central, receiver.url)
    receiver.codes = [500] * 10
    clock, metrics = Clock(T0), WebhookMetrics()
    policy = DeliveryPolicy(max_attempts=3, backoff_seconds=1, timeout_seconds=5)
    outcomes = []
    for i in range(6):
        clock.now = T0 + timedelta(seconds=100 * i)
        outcomes.append(deliver_once(central.write_sessions, policy=policy, metrics=metrics, clock=clock))
    assert [o["dead"] for o in outcomes] == [0, 0, 1, 0, 0, 0]
    assert len(receiver.requests) == 3  # nothing after the bound, and the dead-letter alert is not sent to it
    d, log = _delivery(central)
    assert (d.status, d.attempts, len(log)) == ("dead", 3, 3) and d.last_error == "HTTP 500"
    with central.read_sessions() as s:
        dead = s.scalars(select(AlertRow).where(AlertRow.kind == "webhook_dead")).one()
    assert dead.severity == "critical" and dead.detail["delivery_id"] == d.id and dead.status == "open"
    assert metrics.dead.value("gap") == 1


def test_unreachable_receiver_is_a_failed_attempt_not_a_crash(central: Container) -> None:
    _setup(central, "http://127.0.0.1:9/nothing-listens")
    out = deliver_once(central.write_sessions, policy=DeliveryPolicy(timeout_seconds=2), metrics=WebhookMetrics(),
                       clock=Clock(T0))
    assert out["retry"] == 1
    d, log = _delivery(central)
    assert d.status == "pending" and log[0].status_code is None and log[0].error


@pytest.mark.timeout(120)
def test_acks_continue_while_the_receiver_hangs(central_sqlite_url: str, receiver: Receiver,
                                                broker: BrokerProcess) -> None:
    c = make_container(central_sqlite_url)
    register(c)
    _setup(c, receiver.url)
    receiver.hang.set()
    worker = WebhookWorker(c.write_sessions, policy=DeliveryPolicy(timeout_seconds=60), metrics=WebhookMetrics(),
                           interval=0.1)
    worker.start()
    ingest = start_ingest(c, broker.host, broker.port, "central-webhook-test")
    edge = FakeEdge(broker.host, broker.port)
    try:
        assert receiver.hanging.wait(30), "the webhook worker never reached the receiver"
        for seqs in batches(1, 200, 50):
            edge.publish(seqs)
        edge.wait_ack(STREAM, 200, timeout=30)
        assert receiver.hanging.is_set() and not receiver.release.is_set()  # still hanging while acked
        receiver.release.set()
        wait_until("the delivery is sent", lambda: _delivery(c)[0].status == "sent", 30)
    finally:
        edge.close()
        ingest.stop()
        worker.stop()
        c.dispose()
