"""The supervised MQTT consumer: one worker thread feeding the ingest service, and its supervisor.

The MQTT side is :class:`central.adapters.mqtt.IngestClient` (paho; the only paho import in
central): its network thread only hands messages over (-> bounded queue here); one worker thread
takes them in arrival order, calls the service (one database transaction per batch; group commit:
the events messages already waiting behind the first, up to ``ingest.group_max_messages``, go in
one transaction with one posting call, so a central that falls behind catches up instead of
paying a transaction and a posting per small batch), publishes the retained acks after the
commit, and only then acknowledges the MQTT messages (manual ack), so a message the process
never finished is redelivered by the broker — and the edge re-sends anything unacked anyway.
With ``ingest.shared_subscription`` the events filter is the shared
subscription ``$share/central/sfsync/v1/+/+/events``; per-stream order and exactly-once then
come from the cursor row lock, not from worker affinity.

Supervised: nothing raised while handling one message stops the worker (it is logged with
its traceback, counted in ``sfsync_ingest_worker_errors_total`` and the message is
acknowledged: the service has already quarantined or rejected what it could not take). A
database outage (:class:`~central.errors.IngestUnavailable`) is different: the same message
is retried with backoff (0.5 s doubling to 30 s), never acknowledged meanwhile, and the state
says ``retrying``. The worker beats a heartbeat at least every second (also while backing
off); ``/health`` and ``/ready`` turn degraded when it is older than
``ingest.heartbeat_stale_seconds``. A supervisor thread restarts a worker thread that died;
if it dies again and again (:data:`MAX_RESTARTS` within a minute) or its heartbeat is older
than ``ingest.worker_stuck_exit_seconds``, the process exits with :data:`WORKER_DEAD_EXIT_CODE`
so systemd or compose restarts it.
"""

from __future__ import annotations

import functools
import logging
import os
import queue
import threading
import time
from collections.abc import Callable

from central.adapters.metrics import IngestMetrics
from central.adapters.mqtt import IngestClient, Message
from central.config import FaultSettings, IngestSettings, MqttSettings
from central.errors import IngestUnavailable
from central.service_layer.ingest import IngestService
from shared.contract import ContractError
from shared.topics import EVENTS_FILTER, SHARED_EVENTS_FILTER, parse_topic

log = logging.getLogger(__name__)

__all__ = ["MqttIngest", "CRASH_EXIT_CODE", "WORKER_DEAD_EXIT_CODE", "MAX_RESTARTS"]

CRASH_EXIT_CODE = 17
WORKER_DEAD_EXIT_CODE = 18
"""Exit status when the ingest worker cannot be kept alive (a service manager restarts us)."""
MAX_RESTARTS = 5
_STOP = object()
_BACKOFF_FIRST, _BACKOFF_MAX = 0.5, 30.0


class MqttIngest:
    """One MQTT client + one worker thread; ``start()``/``stop()``; state in ``state``.

    It is the client's :class:`~central.adapters.mqtt.IngestListener`: the ``broker_*`` and
    ``message_received`` methods run on paho's network thread and only update state or queue."""

    def __init__(
        self,
        mqtt_settings: MqttSettings,
        ingest_settings: IngestSettings,
        service: IngestService,
        metrics: IngestMetrics,
        faults: FaultSettings | None = None,
        state: dict[str, object] | None = None,
        crash: Callable[[int], None] = os._exit,
    ) -> None:
        self.mqtt_settings = mqtt_settings
        self.settings = ingest_settings
        self.service = service
        self.metrics = metrics
        self.faults = faults or FaultSettings()
        self.state = state if state is not None else {}
        self._crash = crash
        self._queue: queue.Queue[Message | object] = queue.Queue(maxsize=ingest_settings.queue_size)
        self._worker: threading.Thread | None = None
        self._supervisor: threading.Thread | None = None
        self._stopping = threading.Event()
        self._restarts: list[float] = []
        self._commits = 0
        self.events_filter = SHARED_EVENTS_FILTER if ingest_settings.use_shared_subscription else EVENTS_FILTER
        self.connected = threading.Event()
        """Set once connected AND subscribed (the broker confirmed the subscription)."""
        self.client = IngestClient(mqtt_settings, self.events_filter, self)

    # -- the client's listener (paho's network thread: state and queue only) -------------------
    def broker_connected(self, subscription: str) -> None:
        self.metrics.connected.set(1)
        self.state.update(connected=True, subscription=subscription)
        log.info("ingest connected to %s:%s, subscribed to %s", self.mqtt_settings.host, self.mqtt_settings.port,
                 subscription)

    def broker_subscribed(self, refused: str | None) -> None:
        if refused is not None:
            log.error("ingest: broker refused subscription %s: %s", self.events_filter, refused)
            self.state.update(subscribed=False)
            return
        self.state.update(subscribed=True)
        self.connected.set()

    def broker_disconnected(self, reason: str) -> None:
        self.metrics.connected.set(0)
        self.state.update(connected=False)
        self.connected.clear()
        log.warning("ingest disconnected from broker: %s (paho reconnects)", reason)

    def message_received(self, message: Message) -> None:
        # A full queue holds paho's thread (back-pressure) but never past a stop: a message left
        # here is unacked, so the broker delivers it again to the next session.
        while not self._stopping.is_set():
            try:
                self._queue.put(message, timeout=0.5)
            except queue.Full:
                continue
            self.metrics.queue.set(self._queue.qsize())
            return

    def callback_failed(self, what: str) -> None:
        self.metrics.worker_errors.inc()

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        self.start_worker()
        self.client.open()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self.client.close()
        try:  # after what is queued: handled, though acks no longer reach the closed client
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            log.warning("ingest: queue still full after %.0f s at stop; its messages stay unacked "
                        "and the broker delivers them again", timeout)
        if self._worker is not None:
            self._worker.join(timeout)
        if self._supervisor is not None:
            self._supervisor.join(timeout)
        self.state.update(worker="stopped")

    # -- supervision --------------------------------------------------------------------------
    def start_worker(self) -> None:
        """Start the worker and its supervisor (``start`` does, then connects to the broker)."""
        self._stopping.clear()
        self._start_worker()
        self._supervisor = threading.Thread(target=self._supervise, name="sfsync-ingest-supervisor", daemon=True)
        self._supervisor.start()

    def submit(self, topic: str, payload: bytes, mid: int = 0, qos: int = 0) -> None:
        """Queue a message as paho's thread does (tests, tools)."""
        self._queue.put(Message(topic, payload, mid, qos))

    def _beat(self) -> None:
        self.state["heartbeat"] = time.monotonic()

    def _start_worker(self) -> None:
        self._beat()
        self.state.update(worker="running", worker_restarts=len(self._restarts))
        self._worker = threading.Thread(target=self._run, name="sfsync-ingest", daemon=True)
        self._worker.start()

    def _supervise(self) -> None:
        """Restart a dead worker; exit the process when it cannot be kept alive."""
        while not self._stopping.wait(1.0):
            worker = self._worker
            if worker is not None and not worker.is_alive() and not self._stopping.is_set():
                now = time.monotonic()
                self._restarts = [t for t in self._restarts if now - t < 60.0] + [now]
                self.metrics.worker_restarts.inc()
                if len(self._restarts) > MAX_RESTARTS:
                    self._give_up(f"the ingest worker died {len(self._restarts)} times within a minute")
                    return
                log.error("ingest worker thread died; restarting it (%s in the last minute)", len(self._restarts))
                self._start_worker()
                continue
            stuck = self.settings.worker_stuck_exit_seconds
            age = time.monotonic() - float(self.state.get("heartbeat", time.monotonic()))  # type: ignore[arg-type]
            if stuck > 0 and age > stuck:
                self._give_up(f"the ingest worker has not beaten its heartbeat for {age:.0f}s")
                return

    def _give_up(self, why: str) -> None:
        self.state.update(worker="dead")
        log.critical("%s: exiting with status %s so the service manager restarts central", why,
                     WORKER_DEAD_EXIT_CODE)
        logging.shutdown()
        self._crash(WORKER_DEAD_EXIT_CODE)

    def _pause(self, seconds: float) -> bool:
        """Wait ``seconds`` while beating the heartbeat; False when stopping."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self._stopping.wait(min(1.0, left)):
                return False
            self._beat()
        return not self._stopping.is_set()

    # -- worker side --------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._loop()
        except BaseException:  # the supervisor restarts the thread; logged here
            self.state.update(worker="dead")
            log.critical("ingest worker thread died", exc_info=True)

    def _loop(self) -> None:
        next_gap_check = time.monotonic() + 1.0
        carry: Message | object | None = None
        while True:
            self._beat()
            if carry is not None:
                item, carry = carry, None
            else:
                try:
                    item = self._queue.get(timeout=1.0)
                except queue.Empty:
                    if self._stopping.is_set():
                        return  # stopped while _STOP could not be queued: what was queued is handled
                    item = None
            if item is _STOP:
                return
            if isinstance(item, Message):
                if _is_events(item):
                    group, carry = self._take_group(item)
                    self._handle(group)
                else:
                    self._handle([item])
                self.metrics.queue.set(self._queue.qsize())
            if time.monotonic() >= next_gap_check:
                next_gap_check = time.monotonic() + 1.0
                self._guarded("gap check", self.service.check_gaps)

    def _take_group(self, first: Message) -> tuple[list[Message], Message | object | None]:
        """``first`` and the events messages already waiting behind it (group commit), up to
        ``ingest.group_max_messages`` and ``ingest.group_max_bytes`` of payload; the item that
        ended the group (a status message, the stop, an events message past the byte bound)
        comes back to be handled next, in its place."""
        group, size = [first], len(first.payload)
        while len(group) < self.settings.group_max_messages:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if not (isinstance(item, Message) and _is_events(item)):
                return group, item
            size += len(item.payload)
            if size > self.settings.group_max_bytes:
                return group, item  # starts the next group
            group.append(item)
        return group, None

    def _guarded(self, what: str, work: Callable[[], object]) -> None:
        try:
            work()
        except Exception:  # never the reason the worker stops
            self.metrics.worker_errors.inc()
            log.exception("ingest %s failed (the worker carries on)", what)

    def _handle(self, msgs: list[Message]) -> None:
        """Handle messages (several only when all are events: one group); retry them while the
        database is unavailable; then acknowledge each; never raise."""
        delay = _BACKOFF_FIRST
        while True:
            try:
                self._dispatch(msgs)
            except IngestUnavailable as exc:
                self.state.update(worker="retrying", database="unavailable", last_error=exc.message)
                log.error("%s on %s not stored (%s); retrying in %.1fs, not acked meanwhile",
                          "message" if len(msgs) == 1 else f"{len(msgs)} messages", msgs[0].topic[:200],
                          exc.message, delay)
                if not self._pause(delay):
                    return  # stopping: not acked, the broker redelivers them to the next session
                delay = min(delay * 2, _BACKOFF_MAX)
                continue
            except Exception:
                if len(msgs) > 1:  # one message's fault must not cost the others: each alone, as it came
                    log.warning("handling %s messages together failed; handling each alone", len(msgs),
                                exc_info=True)
                    for msg in msgs:
                        self._handle([msg])
                    return
                self.metrics.worker_errors.inc()
                self.state.update(last_error="an unexpected error while handling a message (see the log)")
                log.exception("handling a message on %s failed (acknowledged; the worker carries on)",
                              msgs[0].topic[:200])
            else:
                if self.state.get("database") != "ok" or self.state.get("worker") != "running":
                    self.state.update(worker="running", database="ok")
            break
        for msg in msgs:
            if msg.qos > 0:
                self._guarded("MQTT ack", functools.partial(self.client.ack, msg.mid, msg.qos))

    def _dispatch(self, msgs: list[Message]) -> None:
        if len(msgs) > 1 or _is_events(msgs[0]):
            self._handle_events(msgs)
        elif _channel(msgs[0]) == "status":
            self.service.handle_status(msgs[0].topic, msgs[0].payload)
        # "ack": our own acks echoed back by brokers that deliver retained messages for
        # every filter (amqtt); nothing to do

    def _handle_events(self, msgs: list[Message]) -> None:
        """Store the group, then publish each stream's ack (the newest of the group) after the commit."""
        if len(msgs) == 1:
            results = [self.service.handle_events(msgs[0].topic, msgs[0].payload)]
        else:
            results = self.service.handle_events_group([(m.topic, m.payload) for m in msgs])
        acks: dict[tuple[str, str, str], int] = {}
        for result in results:
            if result.ack is None:
                continue
            plant, edge, stream, through = result.ack
            acks[(plant, edge, stream)] = max(through, acks.get((plant, edge, stream), through))
        if not acks:
            return
        self._commits += 1
        if self.faults.crash_after_commit and self._commits >= self.faults.crash_after_commit:
            log.error("fault injection: exiting after commit %s, before the ack", self._commits)
            logging.shutdown()
            self._crash(CRASH_EXIT_CODE)
        for (plant, edge, stream), through in acks.items():
            self.client.publish_ack(plant, edge, stream, through)
            self.metrics.acks.inc()


def _channel(msg: Message) -> str:
    try:
        return parse_topic(msg.topic)[2]
    except ContractError:
        return "events"  # quarantined with the reason by the service


def _is_events(msg: Message) -> bool:
    return _channel(msg) == "events"
