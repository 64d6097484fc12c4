"""The ingest's MQTT client (paho-mqtt v2): the only module of central that imports paho.

:class:`IngestClient` is paho's client set up for the ingest: a persistent session (MQTT 3.1.1
``clean_session=False``; MQTT 5 ``clean_start=False`` with a session expiry), manual
acknowledgement (``manual_ack``: a message is acked only once it is handled, so one the process
never finished is redelivered by the broker), paho's doubling reconnect wait capped at
``mqtt.reconnect_max_s``, and the subscription to the events filter and the status filter on
every connect. paho's network thread runs the callbacks here; they only hand work over to an
:class:`IngestListener` (the supervised consumer, :mod:`central.entrypoints.consumer`), which
queues it for its worker thread, and never let an exception into paho's loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from central.config import MqttSettings
from shared.contract import Ack, encode_ack
from shared.topics import STATUS_FILTER, ack_topic

log = logging.getLogger(__name__)

__all__ = ["IngestClient", "IngestListener", "Message"]


@dataclass(frozen=True, slots=True)
class Message:
    """One delivered MQTT message: what the worker needs to handle it and then acknowledge it."""

    topic: str
    payload: bytes
    mid: int
    qos: int


class IngestListener(Protocol):
    """What the client hands over, on paho's network thread (so: quickly, without blocking)."""

    def broker_connected(self, subscription: str) -> None:
        """Connected; the subscription to ``subscription`` (and the status filter) was sent."""

    def broker_subscribed(self, refused: str | None) -> None:
        """The broker answered the subscription: ``refused`` is its refusal, None when granted."""

    def broker_disconnected(self, reason: str) -> None:
        """The connection is gone; paho reconnects on its own."""

    def message_received(self, message: Message) -> None:
        """A message arrived; it stays unacknowledged until :meth:`IngestClient.ack`."""

    def callback_failed(self, what: str) -> None:
        """A callback raised (it was logged with its traceback and kept out of paho's loop)."""


class IngestClient(mqtt.Client):
    """paho's client with the ingest's settings and callbacks; ``open()`` / ``close()``.

    A subclass rather than a wrapper so what paho knows (its reconnect wait, its ``ack``) is
    the object itself: nothing is copied that could drift from what paho does."""

    def __init__(self, settings: MqttSettings, events_filter: str, listener: IngestListener) -> None:
        v5 = settings.protocol == "5"
        super().__init__(
            CallbackAPIVersion.VERSION2,
            client_id=settings.client_id,
            clean_session=None if v5 else False,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            manual_ack=True,
        )
        self.settings = settings
        self.events_filter = events_filter
        self.listener = listener
        self.username_pw_set(settings.username, settings.password or None)
        self.max_queued_messages_set(0)
        self.max_inflight_messages_set(20)
        # paho doubles its wait up to this cap (1 s first, or the cap when smaller); it waits with float
        # arithmetic, the int in its signature is only a hint
        self.reconnect_delay_set(min(1.0, settings.reconnect_max_s), settings.reconnect_max_s)  # type: ignore[arg-type]
        if settings.tls:
            self.tls_set(ca_certs=str(settings.ca_file) if settings.ca_file else None)
        self.on_connect = self._connected
        self.on_disconnect = self._disconnected
        self.on_subscribe = self._subscribed
        self.on_message = self._received

    # -- lifecycle ---------------------------------------------------------------------------
    def open(self) -> None:
        """Connect in the background (paho's thread) and keep reconnecting until :meth:`close`."""
        s = self.settings
        if s.protocol == "5":
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = s.session_expiry
            self.connect_async(s.host, s.port, s.keepalive, clean_start=False, properties=props)
        else:
            self.connect_async(s.host, s.port, s.keepalive)
        self.loop_start()

    def close(self) -> None:
        """Disconnect and stop paho's thread (unacknowledged messages are redelivered later)."""
        self.disconnect()
        self.loop_stop()

    def publish_ack(self, plant: str, edge: str, stream: str, through: int) -> None:
        """Publish the retained ack of ``stream`` up to ``through`` (QoS 1); a failure is logged:
        the edge re-sends what stays unacked, and the next ack covers it."""
        info = self.publish(ack_topic(plant, edge), encode_ack(Ack(stream=stream, acked_through=through)),
                            qos=1, retain=True)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            log.warning("ack publish for %s failed with rc %s", stream, info.rc)

    # -- paho callbacks (network thread: hand over only) ----------------------------------------
    def _connected(self, _c: mqtt.Client, _ud: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            log.error("ingest: broker refused connection: %s", reason)
            return
        self.subscribe([(self.events_filter, 1), (STATUS_FILTER, 1)])
        self._hand_over("connect", self.listener.broker_connected, self.events_filter)

    def _subscribed(self, _c: mqtt.Client, _ud: Any, _mid: int, reasons: Any, _props: Any) -> None:
        failed = [r for r in reasons if getattr(r, "is_failure", False)]
        self._hand_over("subscribe", self.listener.broker_subscribed, str(failed) if failed else None)

    def _disconnected(self, _c: mqtt.Client, _ud: Any, _flags: Any, reason: Any, _props: Any) -> None:
        self._hand_over("disconnect", self.listener.broker_disconnected, str(reason))

    def _received(self, _c: mqtt.Client, _ud: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            try:
                topic = msg.topic
            except UnicodeDecodeError:  # quarantined as bad_topic by the service, not a dead network thread
                topic = bytes(msg._topic).decode("utf-8", "replace")
            self.listener.message_received(Message(topic, bytes(msg.payload), msg.mid, msg.qos))
        except Exception:  # paho re-raises callback errors into its network loop: never let one out
            log.exception("ingest: could not queue a message (not acked; the broker redelivers it)")
            self.listener.callback_failed("message")

    def _hand_over(self, what: str, call: Callable[[Any], None], argument: str | None) -> None:
        try:
            call(argument)
        except Exception:  # as in _received: never into paho's loop
            log.exception("ingest: the %s callback failed", what)
            self.listener.callback_failed(what)
