"""MQTT forwarder: outbox -> broker in seq order; delete only what central's ack covers.

paho-mqtt v2 runs its network loop on its own thread; every callback is handed to the
asyncio loop with ``call_soon_threadsafe`` and all state lives on the loop. Rules (DESIGN.md
"Delivery", PITFALLS.md "paho-mqtt 2.2.0"):

- persistent session (3.1.1 ``clean_session=False``; MQTT 5 ``clean_start=False`` plus a
  session expiry), always a username, a retained ``offline`` will on the status topic and a
  retained ``online`` birth after each connect;
- batches (<= ``batch_max_events``, <= 1 MiB) published at QoS 1 in seq order, at most
  ``max_inflight`` without PUBACK and ``max_unacked_events`` without central's ack;
- the retained ``{"stream", "acked_through"}`` on the ack topic deletes rows; acks of another
  stream are ignored; a PUBACK deletes nothing (a broker can lose its queue);
- everything unacked is re-sent on every (re)connect and when central's ack has not moved for
  ``resend_timeout_s`` while a send is unacked that long (an ack that moves means central is
  working through a backlog: re-sending it all then only queues duplicates in front of it); each
  further timeout re-send without an ack in between waits twice as long, up to 4x (a central
  that is slow, not missing a batch, is not flooded); an ack that moves or a reconnect resets it;
- reconnect waits double from ``reconnect_min_s`` up to ``reconnect_max_s`` (default 2 s), so a
  broker that comes back is used within about that long however long it was away. Central
  reconnects on the same cap, but may subscribe *after* our re-send: a broker that lost its
  sessions (restart without persistence, ``kill -9``) PUBACKs and drops those batches. So once per
  connection, until central acks a seq sent only on this connection, a batch unacked for
  ``reconnect_max_s`` + 1 s while no ack advanced for as long is re-sent (with everything after
  it) instead of waiting the full ``resend_timeout_s``; again after twice that wait, and so on
  while the wait is below ``resend_timeout_s`` (a central that subscribed after the early
  re-send too). An ack of seqs sent before this connection proves nothing: central may have
  committed them before the broker died and re-acks them when it comes back (its retained ack
  was lost with the broker), while what we re-sent before it subscribed is gone.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import ssl
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, runtime_checkable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.config import EdgeSettings
from edge.errors import ForwarderError, OutboxError
from edge.outbox import OutboxStats
from shared.contract import (
    MAX_BATCH_BYTES,
    ContractError,
    Status,
    assemble_batch,
    decode_ack,
    encode_status,
    now_utc,
)
from shared.topics import ack_topic, events_topic, status_topic

__all__ = ["Forwarder", "ForwarderStats", "OutboxPort"]

log = logging.getLogger(__name__)

_HEADER_ROOM = 512  # bytes kept free in a batch for the header around the events


class OutboxPort(Protocol):
    """What the forwarder needs from the outbox (the agent runs the SQLite work off the loop)."""

    @property
    def stream(self) -> str: ...

    async def pending(self, after: int, limit: int, max_bytes: int) -> list[tuple[int, bytes]]: ...

    async def ack(self, through: int) -> int: ...

    def last_seq(self) -> int: ...

    def acked_through(self) -> int: ...


@runtime_checkable
class OutboxStatsPort(Protocol):
    """An outbox that also reports its figures (the agent's store does): the status then carries
    ``oldest_unacked_ts``."""

    async def stats(self) -> OutboxStats: ...


@dataclass
class ForwarderStats:
    connected: bool = False
    connects: int = 0
    reconnects: int = 0
    last_error: str = ""
    session_present: bool = False  # the broker kept our session (subscription, queued acks) at the last connect
    connect_failures: int = 0  # connection attempts that failed: refused by the broker, or TCP/TLS failed
    connect_refused: bool = False  # the broker's last answer was a refusal (bad credentials, not authorised)
    published_batches: int = 0
    published_events: int = 0
    status_published: int = 0  # periodic status messages (issue 14), besides the one at each connect
    resends: int = 0
    acked_events: int = 0
    last_ack_at: float | None = None
    latency_sum: float = 0.0
    latency_count: int = 0
    latency_last: float = 0.0
    drain_rate: float = 0.0
    _acks: collections.deque[tuple[float, int]] = field(default_factory=lambda: collections.deque(maxlen=64))

    def record_ack(self, count: int, now: float) -> None:
        self.acked_events += count
        self.last_ack_at = time.time()
        self._acks.append((now, self.acked_events))
        self.update_rate(now)

    def update_rate(self, now: float) -> None:
        """Events acked per second over the last ~10 s."""
        while len(self._acks) > 1 and now - self._acks[0][0] > 10:
            self._acks.popleft()
        if not self._acks or now - self._acks[-1][0] > 10:
            self.drain_rate = 0.0
            return
        first_t, first_n = self._acks[0]
        span = max(now - first_t, 1.0)
        self.drain_rate = (self.acked_events - first_n) / span


class Forwarder:
    """Publishes the outbox to MQTT and applies central's acks."""

    def __init__(self, settings: EdgeSettings, outbox: OutboxPort, version: str = "") -> None:
        self.settings = settings
        self.outbox = outbox
        self.version = version
        self.stats = ForwarderStats()
        self.events_topic = events_topic(settings.plant, settings.edge)
        self.ack_topic = ack_topic(settings.plant, settings.edge)
        self.status_topic = status_topic(settings.plant, settings.edge)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._connected = False
        self._closing = False
        self._generation = 0  # increments on every connect: PUBACKs of older links are ignored
        self._sent_through = 0
        self._central_acked = 0
        self._outstanding: dict[int, tuple[int, float]] = {}  # mid -> (generation, sent monotonic)
        self._unacked_sends: collections.deque[tuple[int, float]] = collections.deque()  # (last seq, sent at)
        # early re-sends of this connection (see the module docstring): armed at each CONNACK until
        # central acks past ``_connection_floor`` (the highest seq sent before this connection: an
        # ack up to it may be one central committed earlier), ``_early_wait`` doubles per re-send
        self._first_ack_pending = False
        self._early_wait = 0.0
        self._sent_high = 0  # the highest seq ever published by this process
        self._startup_last = 0  # the outbox's last seq at start: a previous run may have sent up to it
        self._connection_floor = 0
        self._last_ack_progress = 0.0  # monotonic time central's ack last advanced (or of the CONNACK)
        self._timeout_factor = 1  # resend_timeout_s x this: doubles per timeout re-send without an ack, max 4
        self._acks: asyncio.Queue[int] = asyncio.Queue()
        self._failure_logged = ""  # the connect failure already logged in this streak (logged once, not per retry)
        self._next_status = 0.0  # monotonic time of the next periodic status (mqtt.status_interval_s)
        self._client = self._make_client()

    # ------------------------------------------------------------------ client set-up

    def _make_client(self) -> mqtt.Client:
        cfg = self.settings.mqtt
        v5 = cfg.protocol == "5"
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.settings.client_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else False,
        )
        client.username_pw_set(
            self.settings.username, cfg.password.get_secret_value() if cfg.password is not None else None
        )
        if cfg.tls is not None:
            try:
                client.tls_set(
                    ca_certs=str(cfg.tls.ca) if cfg.tls.ca else None,
                    certfile=str(cfg.tls.cert) if cfg.tls.cert else None,
                    keyfile=str(cfg.tls.key) if cfg.tls.key else None,
                    cert_reqs=ssl.CERT_NONE if cfg.tls.insecure else ssl.CERT_REQUIRED,
                )
            except (OSError, ssl.SSLError, ValueError) as exc:
                raise ForwarderError(f"mqtt.tls: {exc}") from exc
            client.tls_insecure_set(cfg.tls.insecure)
        client.max_inflight_messages_set(cfg.max_inflight)
        client.max_queued_messages_set(0)
        # paho doubles the wait from min to max (reset on a CONNACK), also between first-connect attempts;
        # it waits with float arithmetic, the int in its signature is only a hint
        client.reconnect_delay_set(cfg.reconnect_min_s, cfg.reconnect_max_s)  # type: ignore[arg-type]
        client.will_set(self.status_topic, self._status_payload("offline"), qos=1, retain=True)
        client.on_connect = self._on_connect_thread
        client.on_connect_fail = self._on_connect_fail_thread
        client.on_disconnect = self._on_disconnect_thread
        client.on_publish = self._on_publish_thread
        client.on_message = self._on_message_thread
        return client

    def _status_payload(self, state: Literal["online", "offline"], backlog: int | None = None,
                        oldest_unacked: datetime | None = None) -> bytes:
        return encode_status(
            Status(
                state=state,
                edge=self.settings.edge,
                version=self.version,
                stream=self.outbox.stream,
                backlog=backlog,
                ts=now_utc(),
                oldest_unacked_ts=oldest_unacked,
            )
        )

    async def _publish_status(self) -> None:
        """The periodic retained ``online`` status: backlog and, when enabled, the oldest unacked event's time."""
        cfg = self.settings.mqtt
        self._next_status = time.monotonic() + cfg.status_interval_s
        backlog = self.outbox.last_seq() - self.outbox.acked_through()
        oldest: datetime | None = None
        if cfg.status_oldest_unacked and backlog > 0 and isinstance(self.outbox, OutboxStatsPort):
            created = (await self.outbox.stats()).oldest_created
            oldest = datetime.fromtimestamp(created, UTC) if created is not None else None
        if self._connected:
            self._client.publish(self.status_topic, self._status_payload("online", backlog, oldest), qos=1,
                                 retain=True)
            self.stats.status_published += 1

    # ------------------------------------------------------------------ paho thread -> loop

    def _call(self, fn: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(fn, *args)

    def _on_connect_thread(self, _c: mqtt.Client, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        self._call(self._on_connect, not reason.is_failure, str(reason), bool(flags.session_present))

    def _on_connect_fail_thread(self, _c: mqtt.Client, _u: Any) -> None:
        # paho calls this inside its ``except OSError`` around the TCP connect and TLS handshake and
        # does not pass the exception: it is the one being handled on this thread.
        exc = sys.exception()
        self._call(self._on_connect_fail, "unknown error" if exc is None else str(exc) or repr(exc))

    def _on_disconnect_thread(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self._call(self._on_disconnect, str(reason))

    def _on_publish_thread(self, _c: mqtt.Client, _u: Any, mid: int, _r: Any, _p: Any) -> None:
        self._call(self._on_puback, mid, time.monotonic())

    def _on_message_thread(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic == self.ack_topic:
            self._call(self._on_ack_payload, bytes(msg.payload))

    # ------------------------------------------------------------------ loop-side handlers

    def _connect_failed(self, error: str) -> None:
        """Count and show a failed attempt; log it once per streak (paho retries with backoff)."""
        self.stats.connect_failures += 1
        self.stats.last_error = error
        cfg = self.settings.mqtt
        if error != self._failure_logged:
            self._failure_logged = error
            log.warning("broker %s:%s: %s (retrying every %g-%g s; logged once until it changes)",
                        cfg.host, cfg.port, error, cfg.reconnect_min_s, cfg.reconnect_max_s)

    def _on_connect_fail(self, error: str) -> None:
        self.stats.connect_refused = False
        self._connect_failed(f"cannot connect: {error}")

    def _on_connect(self, ok: bool, reason: str, session_present: bool = False) -> None:
        if not ok:
            self.stats.connect_refused = True
            self._connect_failed(f"connect refused: {reason}")
            return
        if self._failure_logged:
            log.info("broker accepts the connection again after %d failed attempt(s)", self.stats.connect_failures)
            self._failure_logged = ""
        self.stats.connect_refused = False
        self.stats.session_present = session_present
        self.stats.connects += 1
        if self.stats.connects > 1:
            self.stats.reconnects += 1
        self._connected = self.stats.connected = True
        self._generation += 1
        self._outstanding.clear()
        self._unacked_sends.clear()
        self._sent_through = self._central_acked  # re-send everything central has not acked
        self._first_ack_pending = True
        self._early_wait = self.early_resend_s
        self._connection_floor = max(self._sent_high, self._startup_last)
        self._last_ack_progress = time.monotonic()
        self._timeout_factor = 1
        log.info("connected to broker %s:%s (connect #%d); resending from seq %d",
                 self.settings.mqtt.host, self.settings.mqtt.port, self.stats.connects, self._sent_through + 1)
        self._client.subscribe(self.ack_topic, qos=1)
        backlog = self.outbox.last_seq() - self.outbox.acked_through()
        self._client.publish(self.status_topic, self._status_payload("online", backlog), qos=1, retain=True)
        self._next_status = time.monotonic()  # the publish loop follows up with the full status at once
        self._wake.set()

    def _on_disconnect(self, reason: str) -> None:
        if not self._connected and self.stats.connect_refused:
            return  # paho's disconnect right after a refused CONNACK: keep the refusal as the error
        if self._connected and not self._closing:
            log.warning("disconnected from broker: %s (will reconnect)", reason)
        self.stats.last_error = f"disconnected: {reason}"
        self._connected = self.stats.connected = False
        self._outstanding.clear()
        self._wake.set()

    def _on_puback(self, mid: int, at: float) -> None:
        entry = self._outstanding.pop(mid, None)
        if entry is None:
            return
        generation, sent = entry
        if generation == self._generation:
            latency = at - sent
            self.stats.latency_last = latency
            self.stats.latency_sum += latency
            self.stats.latency_count += 1
        self._wake.set()

    def _on_ack_payload(self, payload: bytes) -> None:
        try:
            ack = decode_ack(payload)
        except ContractError as exc:
            log.warning("ignoring unreadable ack on %s: %s", self.ack_topic, exc)
            return
        if ack.stream != self.outbox.stream:
            log.info("ignoring ack for stream %s (ours is %s)", ack.stream, self.outbox.stream)
            return
        self._acks.put_nowait(ack.acked_through)

    # ------------------------------------------------------------------ running

    async def run(self) -> None:
        """Connect and forward until cancelled; then publish ``offline`` and disconnect."""
        self._loop = asyncio.get_running_loop()
        self._central_acked = self.outbox.acked_through()
        self._startup_last = self.outbox.last_seq()
        cfg = self.settings.mqtt
        props = None
        if cfg.protocol == "5":
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = cfg.session_expiry_s
        kwargs: dict[str, Any] = {"clean_start": False, "properties": props} if cfg.protocol == "5" else {}
        self._client.connect_async(cfg.host, cfg.port, keepalive=cfg.keepalive, **kwargs)
        self._client.loop_start()
        acks = asyncio.create_task(self._apply_acks(), name="edge-acks")
        try:
            await self._publish_loop()
        finally:
            acks.cancel()
            await asyncio.gather(acks, return_exceptions=True)
            await self._say_goodbye()

    async def _say_goodbye(self) -> None:
        self._closing = True
        if self._connected:
            info = self._client.publish(self.status_topic, self._status_payload("offline"), qos=1, retain=True)
            deadline = time.monotonic() + 2.0
            while not info.is_published() and self._connected and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)

    @property
    def early_resend_s(self) -> float:
        """On a new connection, how long a batch waits for central's first ack before the first early re-send."""
        cfg = self.settings.mqtt
        return min(cfg.resend_timeout_s, cfg.reconnect_max_s + 1.0)

    def wake(self) -> None:
        """New events were stored: look at the outbox again."""
        self._wake.set()

    async def _apply_acks(self) -> None:
        while True:
            through = await self._acks.get()
            while not self._acks.empty():  # only the newest ack matters
                through = max(through, self._acks.get_nowait())
            last = self.outbox.last_seq()
            if through > last:
                log.warning("ack through %d is past our last seq %d: applying up to %d", through, last, last)
                through = last
            if through <= self._central_acked:
                continue
            try:
                deleted = await self.outbox.ack(through)
            except OutboxError as exc:
                log.error("cannot apply ack through %d (retrying in 1 s): %s", through, exc)
                await asyncio.sleep(1.0)
                self._acks.put_nowait(through)
                continue
            self._central_acked = max(self._central_acked, through)
            self._last_ack_progress = time.monotonic()
            self._timeout_factor = 1
            if through > self._connection_floor:
                # central got a batch sent on this connection: it delivers. Acks up to the floor may be
                # commits of batches sent before (their acks lost with the broker, or central still working
                # through what it had queued when the broker died), whatever we re-sent since may be gone
                self._first_ack_pending = False
            if self._sent_through < self._central_acked:
                self._sent_through = self._central_acked
            while self._unacked_sends and self._unacked_sends[0][0] <= through:
                self._unacked_sends.popleft()
            self.stats.record_ack(deleted, time.monotonic())
            self._wake.set()

    async def _publish_loop(self) -> None:
        cfg = self.settings.mqtt
        batch_max = self.settings.outbox.batch_max_events
        while True:
            self._wake.clear()
            self._check_resend_timeout()
            self.stats.update_rate(time.monotonic())
            if self._connected and cfg.status_interval_s > 0 and time.monotonic() >= self._next_status:
                await self._publish_status()
            if self._connected and self._can_send():
                batch = await self.outbox.pending(self._sent_through, batch_max, MAX_BATCH_BYTES - _HEADER_ROOM)
                if batch and self._connected:
                    self._send(batch)
                    continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=min(1.0, cfg.resend_timeout_s))

    def _can_send(self) -> bool:
        cfg = self.settings.mqtt
        if len(self._outstanding) >= cfg.max_inflight:
            return False
        return self._sent_through - self._central_acked < cfg.max_unacked_events

    def _send(self, batch: list[tuple[int, bytes]]) -> None:
        payload = assemble_batch(self.settings.plant, self.settings.edge, self.outbox.stream, [b for _, b in batch])
        info = self._client.publish(self.events_topic, payload, qos=1)
        now = time.monotonic()
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            log.warning("publish of seqs %d..%d failed: rc %s; will retry", batch[0][0], batch[-1][0], info.rc)
            return
        self._outstanding[info.mid] = (self._generation, now)
        first, last = batch[0][0], batch[-1][0]
        self._sent_through = last
        self._sent_high = max(self._sent_high, last)
        self._unacked_sends.append((last, now))
        self.stats.published_batches += 1
        self.stats.published_events += len(batch)
        log.debug("published seqs %d..%d (mid %d)", first, last, info.mid)

    def _check_resend_timeout(self) -> None:
        if not self._unacked_sends or not self._connected:
            return  # while disconnected nothing is re-sent: the next connect re-sends everything unacked
        cfg = self.settings.mqtt
        now = time.monotonic()
        oldest = self._unacked_sends[0][1]
        wait = self._early_wait
        if self._first_ack_pending and now - oldest >= wait and now - self._last_ack_progress >= wait:
            # every unacked send was made on this connection (the list is cleared on connect)
            self._early_wait = wait * 2
            if self._early_wait >= cfg.resend_timeout_s:
                self._first_ack_pending = False  # from now on resend_timeout_s applies
            log.warning(
                "no ack for seqs %d..%d %.1f s after sending on a new connection (central may have "
                "subscribed after we sent): re-sending early", self._central_acked + 1, self._sent_through,
                now - oldest,
            )
        elif now - max(oldest, self._last_ack_progress) < cfg.resend_timeout_s * self._timeout_factor:
            return  # central's ack moved within the timeout: it is working through what we sent
        else:
            log.warning(
                "no ack for seqs %d..%d within %.0f s: re-sending",
                self._central_acked + 1, self._sent_through, cfg.resend_timeout_s * self._timeout_factor,
            )
            self._timeout_factor = min(self._timeout_factor * 2, 4)
        self.stats.resends += 1
        self._unacked_sends.clear()
        self._sent_through = self._central_acked
