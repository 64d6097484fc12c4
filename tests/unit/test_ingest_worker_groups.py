"""Group commit in the ingest worker (no broker: messages queued as paho's thread would): the
events messages waiting behind the first go to the service together, up to
``ingest.group_max_messages``; a status message ends a group and is handled in its place; every
message is acknowledged after its group; each stream's ack is published once per group, the
newest; a group the service cannot take together is handled message by message."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from central.adapters.metrics import IngestMetrics
from central.config import IngestSettings, MqttSettings
from central.entrypoints.consumer import MqttIngest
from central.service_layer.ingest import IngestResult
from sfsync.broker import free_port

EVENTS = "sfsync/v1/P1/edge-1/events"
STATUS = "sfsync/v1/P1/edge-1/status"


class Recorder:
    """Stands in for IngestService; a payload ``sN:T`` is stream N acked through T."""

    def __init__(self, fail_groups: bool = False) -> None:
        self.calls: list[tuple[str, list[bytes]]] = []
        self.fail_groups = fail_groups

    @staticmethod
    def _result(payload: bytes) -> IngestResult:
        stream, through = payload.decode().split(":")
        return IngestResult("stored", ack=("P1", "edge-1", stream, int(through)))

    def handle_events(self, topic: str, payload: bytes) -> IngestResult:
        self.calls.append(("alone", [payload]))
        return self._result(payload)

    def handle_events_group(self, messages: list[tuple[str, bytes]]) -> list[IngestResult]:
        if self.fail_groups:
            raise RuntimeError("a bug in the joint path")
        self.calls.append(("group", [p for _t, p in messages]))
        return [self._result(p) for _t, p in messages]

    def handle_status(self, topic: str, payload: bytes) -> bool:
        self.calls.append(("status", [payload]))
        return True

    def check_gaps(self) -> int:
        return 0


def _worker(service: Recorder, group: int, group_bytes: int = 4 * 1024 * 1024) -> \
        tuple[MqttIngest, list[int], list[tuple[str, int]]]:
    settings = IngestSettings(group_max_messages=group, group_max_bytes=group_bytes)
    worker = MqttIngest(MqttSettings(port=free_port(), client_id="group-test"), settings,
                        service, IngestMetrics())  # type: ignore[arg-type]
    acked: list[int] = []
    published: list[tuple[str, int]] = []
    lock = threading.Lock()

    def ack(mid: int, qos: int) -> Any:
        with lock:
            acked.append(mid)

    def publish_ack(plant: str, edge: str, stream: str, through: int) -> None:
        published.append((stream, through))

    worker.client.ack = ack  # type: ignore[method-assign]
    worker.client.publish_ack = publish_ack  # type: ignore[method-assign]
    return worker, acked, published


def _wait(predicate: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _submit_all(worker: MqttIngest) -> None:
    for mid, (topic, body) in enumerate([(EVENTS, b"a:1"), (EVENTS, b"b:4"), (EVENTS, b"a:2"), (EVENTS, b"b:6"),
                                         (STATUS, b"{}"), (EVENTS, b"a:3")], start=1):
        worker.submit(topic, body, mid=mid, qos=1)


def test_waiting_events_messages_go_together_up_to_the_bound_and_a_status_keeps_its_place() -> None:
    service = Recorder()
    worker, acked, published = _worker(service, group=3)
    _submit_all(worker)  # queued before the worker starts: all of them are waiting
    worker.start_worker()
    try:
        _wait(lambda: len(acked) == 6)
        assert service.calls == [("group", [b"a:1", b"b:4", b"a:2"]), ("alone", [b"b:6"]),
                                 ("status", [b"{}"]), ("alone", [b"a:3"])]
        assert acked == [1, 2, 3, 4, 5, 6]
        assert published == [("a", 2), ("b", 4), ("b", 6), ("a", 3)]  # one ack per stream per group
    finally:
        worker.stop()


def test_a_group_stops_before_its_payloads_pass_the_byte_bound_and_the_next_message_starts_the_next() -> None:
    service = Recorder()
    worker, acked, published = _worker(service, group=50, group_bytes=7)  # each payload is 3 bytes
    _submit_all(worker)
    worker.start_worker()
    try:
        _wait(lambda: len(acked) == 6)
        assert service.calls == [("group", [b"a:1", b"b:4"]), ("group", [b"a:2", b"b:6"]),
                                 ("status", [b"{}"]), ("alone", [b"a:3"])]
        assert acked == [1, 2, 3, 4, 5, 6]
        assert published == [("a", 1), ("b", 4), ("a", 2), ("b", 6), ("a", 3)]
    finally:
        worker.stop()


@pytest.mark.parametrize(("group", "group_bytes"), [(1, 4 * 1024 * 1024), (50, 1)],
                         ids=["group_max_messages-1", "payloads-larger-than-group_max_bytes"])
def test_every_message_is_handed_over_alone_when_no_second_fits_the_bounds(group: int, group_bytes: int) -> None:
    service = Recorder()
    worker, acked, _published = _worker(service, group=group, group_bytes=group_bytes)
    _submit_all(worker)
    worker.start_worker()
    try:
        _wait(lambda: len(acked) == 6)
        assert [kind for kind, _p in service.calls] == ["alone"] * 4 + ["status", "alone"]
    finally:
        worker.stop()


def test_a_group_the_service_cannot_take_together_is_handled_message_by_message() -> None:
    service = Recorder(fail_groups=True)
    worker, acked, published = _worker(service, group=50)
    _submit_all(worker)
    worker.start_worker()
    try:
        _wait(lambda: len(acked) == 6)
        assert service.calls == [("alone", [b"a:1"]), ("alone", [b"b:4"]), ("alone", [b"a:2"]),
                                 ("alone", [b"b:6"]), ("status", [b"{}"]), ("alone", [b"a:3"])]
        assert sorted(acked) == [1, 2, 3, 4, 5, 6] and len(acked) == 6  # each acknowledged once
        assert published == [("a", 1), ("b", 4), ("a", 2), ("b", 6), ("a", 3)]
        assert worker.metrics.worker_errors.value() == 0
    finally:
        worker.stop()
