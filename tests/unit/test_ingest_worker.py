"""The supervised ingest worker (no broker needed: messages are queued as paho's thread would):
an exception in one message never stops it, a database outage is retried with the same
message and not acknowledged meanwhile, a dead thread is restarted, and a worker that cannot
be kept alive makes the process exit with WORKER_DEAD_EXIT_CODE."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from central.adapters.metrics import IngestMetrics
from central.adapters.mqtt import Message
from central.config import IngestSettings, MqttSettings
from central.entrypoints.consumer import MAX_RESTARTS, WORKER_DEAD_EXIT_CODE, MqttIngest
from central.errors import IngestUnavailable
from central.service_layer.ingest import IngestResult
from sfsync.broker import free_port

TOPIC = "sfsync/v1/P1/edge-1/events"


class FakeService:
    """Stands in for IngestService: each payload names what to do with it."""

    def __init__(self) -> None:
        self.handled: list[bytes] = []
        self.unavailable_left = 0
        self.done = threading.Condition()

    def handle_events(self, topic: str, payload: bytes) -> IngestResult:
        if payload == b"boom":
            raise RuntimeError("a bug in one message")
        if payload == b"die":
            raise SystemExit("something that is not an Exception")
        if payload == b"outage" and self.unavailable_left > 0:
            self.unavailable_left -= 1
            raise IngestUnavailable("database unavailable after 3 attempts")
        with self.done:
            self.handled.append(payload)
            self.done.notify_all()
        return IngestResult("quarantined")

    def handle_events_group(self, messages: list[tuple[str, bytes]]) -> list[IngestResult]:
        return [self.handle_events(topic, payload) for topic, payload in messages]

    def handle_status(self, topic: str, payload: bytes) -> bool:
        return True

    def check_gaps(self) -> int:
        return 0

    def wait_for(self, payload: bytes, timeout: float = 30) -> None:
        with self.done:
            assert self.done.wait_for(lambda: payload in self.handled, timeout), f"{payload!r} never handled"


@pytest.fixture
def service() -> FakeService:
    return FakeService()


@pytest.fixture
def exits() -> list[int]:
    return []


@pytest.fixture
def ingest(service: FakeService, exits: list[int]) -> Iterator[MqttIngest]:
    worker = MqttIngest(MqttSettings(port=free_port(), client_id="worker-test"), IngestSettings(),
                        service, IngestMetrics(), crash=exits.append)  # type: ignore[arg-type]
    acks: list[int] = []

    def ack(mid: int, qos: int) -> Any:
        acks.append(mid)

    worker.client.ack = ack  # type: ignore[method-assign]
    worker.acks = acks  # type: ignore[attr-defined]
    worker.start_worker()
    yield worker
    worker.stop()


def wait(predicate: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_an_exception_in_one_message_never_stops_the_worker(ingest: MqttIngest, service: FakeService) -> None:
    ingest.submit(TOPIC, b"boom", mid=1, qos=1)
    ingest.submit(TOPIC, b"after", mid=2, qos=1)
    service.wait_for(b"after")
    assert ingest.metrics.worker_errors.value() == 1
    assert ingest.acks == [1, 2]  # type: ignore[attr-defined]
    assert ingest.state["worker"] == "running" and ingest._worker is not None and ingest._worker.is_alive()
    assert ingest.metrics.worker_restarts.value() == 0


def test_a_database_outage_retries_the_same_message_unacked(ingest: MqttIngest, service: FakeService) -> None:
    service.unavailable_left = 2
    ingest.submit(TOPIC, b"outage", mid=7, qos=1)
    wait(lambda: ingest.state.get("worker") == "retrying", "retrying state")
    assert ingest.state["database"] == "unavailable"
    assert ingest.acks == []  # type: ignore[attr-defined]
    service.wait_for(b"outage")
    wait(lambda: ingest.acks == [7], "ack after the retry")  # type: ignore[attr-defined]
    state: dict[str, object] = dict(ingest.state)  # read again: the worker changed it meanwhile
    assert service.handled == [b"outage"] and state["worker"] == "running" and state["database"] == "ok"


def test_a_dead_worker_thread_is_restarted(ingest: MqttIngest, service: FakeService) -> None:
    first = ingest._worker
    ingest.submit(TOPIC, b"die")
    wait(lambda: ingest.metrics.worker_restarts.value() == 1, "a restart")
    ingest.submit(TOPIC, b"after")
    service.wait_for(b"after")
    assert ingest._worker is not first and ingest._worker is not None and ingest._worker.is_alive()
    assert ingest.state["worker"] == "running" and ingest.state["worker_restarts"] == 1


def test_a_worker_that_keeps_dying_exits_the_process(ingest: MqttIngest, exits: list[int]) -> None:
    for _ in range(MAX_RESTARTS + 1):
        restarts = ingest.metrics.worker_restarts.value()
        ingest.submit(TOPIC, b"die")
        wait(lambda r=restarts: ingest.metrics.worker_restarts.value() > r, "the next death")  # type: ignore[misc]
    wait(lambda: exits == [WORKER_DEAD_EXIT_CODE], "the exit")
    assert ingest.state["worker"] == "dead"


def test_a_stuck_worker_exits_the_process(service: FakeService, exits: list[int]) -> None:
    release = threading.Event()

    def stuck(topic: str, payload: bytes) -> Any:
        release.wait(30)
        return IngestResult("quarantined")

    service.handle_events = stuck  # type: ignore[method-assign]
    worker = MqttIngest(MqttSettings(port=free_port(), client_id="stuck-test"),
                        IngestSettings(worker_stuck_exit_seconds=1.5), service, IngestMetrics(),  # type: ignore[arg-type]
                        crash=exits.append)
    worker.start_worker()
    try:
        worker.submit(TOPIC, b"hang")
        wait(lambda: exits == [WORKER_DEAD_EXIT_CODE], "the exit of a stuck worker")
    finally:
        release.set()
        worker.stop()


def test_a_full_queue_never_holds_pahos_thread_past_a_stop(exits: list[int]) -> None:
    """paho's network thread waits while the queue is full (back-pressure), but a stop releases it:
    the message it held stays unacked, for the broker to deliver again."""
    release = threading.Event()

    class Holding(FakeService):
        def handle_events(self, topic: str, payload: bytes) -> IngestResult:
            if payload == b"hold":
                release.wait(30)
            return super().handle_events(topic, payload)

    service = Holding()
    worker = MqttIngest(MqttSettings(port=free_port(), client_id="full-queue-test"), IngestSettings(queue_size=1),
                        service, IngestMetrics(), crash=exits.append)  # type: ignore[arg-type]
    worker.client.ack = lambda mid, qos: None  # type: ignore[method-assign,assignment,return-value]
    worker.start_worker()
    worker.submit(TOPIC, b"hold", mid=1, qos=1)
    wait(lambda: worker._queue.empty(), "the worker holding the first message")
    worker.message_received(Message(TOPIC, b"queued", 2, 1))  # fills the queue
    paho = threading.Thread(target=worker.message_received, args=(Message(TOPIC, b"waits", 3, 1),))
    paho.start()
    paho.join(0.3)
    assert paho.is_alive()  # back-pressure while the queue is full
    worker.stop(timeout=0.5)
    paho.join(5)
    assert not paho.is_alive()  # released by the stop, not by the queue
    release.set()
    service.wait_for(b"queued")
    assert b"waits" not in service.handled
    assert worker._worker is not None
    worker._worker.join(5)
    assert not worker._worker.is_alive()  # the worker ends once the queue is empty
