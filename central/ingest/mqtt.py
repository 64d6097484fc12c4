"""MQTT ingest adapter (paho-mqtt v2) and the worker that feeds the ingest service.

paho's network thread only enqueues (``on_message`` -> bounded queue); one worker thread
takes messages in arrival order, calls the service (one database transaction per batch),
publishes the retained ack after the commit, and only then acknowledges the MQTT message
(``manual_ack``), so a message the process never finished is redelivered by the broker —
and the edge re-sends anything unacked anyway. Persistent session: MQTT 3.1.1
``clean_session=False``; MQTT 5 ``clean_start=False`` with a session expiry. With
``ingest.workers > 1`` (or ``shared_subscription``) the events filter is the shared
subscription ``$share/central/sfsync/v1/+/+/events``; per-stream order and exactly-once then
come from the cursor row lock, not from worker affinity.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from central.config import FaultSettings, IngestSettings, MqttSettings
from central.errors import IngestUnavailable
from central.ingest.metrics import IngestMetrics
from central.services.ingest import IngestService
from shared.contract import Ack, ContractError, encode_ack
from shared.topics import EVENTS_FILTER, SHARED_EVENTS_FILTER, STATUS_FILTER, ack_topic, parse_topic

log = logging.getLogger(__name__)

__all__ = ["MqttIngest", "CRASH_EXIT_CODE"]

CRASH_EXIT_CODE = 17
_STOP = object()


@dataclass(frozen=True, slots=True)
class _Message:
    topic: str
    payload: bytes
    mid: int
    qos: int


class MqttIngest:
    """One MQTT client + one worker thread; ``start()``/``stop()``; state in ``state``."""

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
        self._queue: queue.Queue[_Message | object] = queue.Queue(maxsize=ingest_settings.queue_size)
        self._worker: threading.Thread | None = None
        self._commits = 0
        self.events_filter = SHARED_EVENTS_FILTER if ingest_settings.use_shared_subscription else EVENTS_FILTER
        self.connected = threading.Event()
        """Set once connected AND subscribed (the broker confirmed the subscription)."""
        self.client = self._make_client()

    # -- paho side (network thread: enqueue only) -------------------------------------------
    def _make_client(self) -> mqtt.Client:
        s = self.mqtt_settings
        v5 = s.protocol == "5"
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=s.client_id,
            clean_session=None if v5 else False,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            manual_ack=True,
        )
        client.username_pw_set(s.username, s.password or None)
        client.max_queued_messages_set(0)
        client.max_inflight_messages_set(20)
        # paho doubles its wait up to this cap (1 s first, or the cap when smaller); it waits with float
        # arithmetic, the int in its signature is only a hint
        client.reconnect_delay_set(min(1.0, s.reconnect_max_s), s.reconnect_max_s)  # type: ignore[arg-type]
        if s.tls:
            client.tls_set(ca_certs=str(s.ca_file) if s.ca_file else None)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        return client

    def _on_connect(self, client: mqtt.Client, _ud: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            log.error("ingest: broker refused connection: %s", reason)
            return
        client.subscribe([(self.events_filter, 1), (STATUS_FILTER, 1)])
        self.metrics.connected.set(1)
        self.state.update(connected=True, subscription=self.events_filter)
        log.info("ingest connected to %s:%s, subscribed to %s", self.mqtt_settings.host, self.mqtt_settings.port,
                 self.events_filter)

    def _on_subscribe(self, _c: mqtt.Client, _ud: Any, _mid: int, reasons: Any, _props: Any) -> None:
        failed = [r for r in reasons if getattr(r, "is_failure", False)]
        if failed:
            log.error("ingest: broker refused subscription %s: %s", self.events_filter, failed)
            self.state.update(subscribed=False)
            return
        self.state.update(subscribed=True)
        self.connected.set()

    def _on_disconnect(self, _c: mqtt.Client, _ud: Any, _flags: Any, reason: Any, _props: Any) -> None:
        self.metrics.connected.set(0)
        self.state.update(connected=False)
        self.connected.clear()
        log.warning("ingest disconnected from broker: %s (paho reconnects)", reason)

    def _on_message(self, _c: mqtt.Client, _ud: Any, msg: mqtt.MQTTMessage) -> None:
        self._queue.put(_Message(msg.topic, bytes(msg.payload), msg.mid, msg.qos))
        self.metrics.queue.set(self._queue.qsize())

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        s = self.mqtt_settings
        self._worker = threading.Thread(target=self._run, name="sfsync-ingest", daemon=True)
        self._worker.start()
        if s.protocol == "5":
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = s.session_expiry
            self.client.connect_async(s.host, s.port, s.keepalive, clean_start=False, properties=props)
        else:
            self.client.connect_async(s.host, s.port, s.keepalive)
        self.client.loop_start()

    def stop(self, timeout: float = 10.0) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        self._queue.put(_STOP)
        if self._worker is not None:
            self._worker.join(timeout)

    # -- worker side --------------------------------------------------------------------------
    def _run(self) -> None:
        next_gap_check = time.monotonic() + 1.0
        while True:
            try:
                item = self._queue.get(timeout=1.0)
            except queue.Empty:
                item = None
            if item is _STOP:
                return
            if isinstance(item, _Message):
                self._handle(item)
                self.metrics.queue.set(self._queue.qsize())
            if time.monotonic() >= next_gap_check:
                next_gap_check = time.monotonic() + 1.0
                self.service.check_gaps()

    def _handle(self, msg: _Message) -> None:
        try:
            _plant, _edge, channel = parse_topic(msg.topic)
        except ContractError:
            channel = "events"  # quarantined with the reason by the service
        try:
            if channel == "events":
                self._handle_events(msg)
            elif channel == "status":
                self.service.handle_status(msg.topic, msg.payload)
            # "ack": our own acks echoed back by brokers that deliver retained messages for
            # every filter (amqtt); nothing to do
        except IngestUnavailable as exc:
            log.error("batch on %s not stored (not acked, the edge will re-send): %s", msg.topic, exc)
        finally:
            if msg.qos > 0:
                self.client.ack(msg.mid, msg.qos)

    def _handle_events(self, msg: _Message) -> None:
        result = self.service.handle_events(msg.topic, msg.payload)
        if result.ack is None:
            return
        self._commits += 1
        if self.faults.crash_after_commit and self._commits >= self.faults.crash_after_commit:
            log.error("fault injection: exiting after commit %s, before the ack", self._commits)
            logging.shutdown()
            self._crash(CRASH_EXIT_CODE)
        plant, edge, stream, through = result.ack
        info = self.client.publish(ack_topic(plant, edge), encode_ack(Ack(stream=stream, acked_through=through)),
                                   qos=1, retain=True)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            log.warning("ack publish for %s failed with rc %s", stream, info.rc)
        self.metrics.acks.inc()
