"""OPC UA source: subscribes to data changes, survives server restarts, reports quality.

The connection loop follows the pattern measured reliable for asyncua 2.1 (PITFALLS.md):
asyncua's own ``auto_reconnect`` is not used (it does not retry the first connect and goes
silent when a restarted server's namespace index moved). Instead, each round:

1. builds a new ``Client`` (security mode/policy, certificates, user/password, request
   timeout, session timeout, keep-alive watchdog interval) with ``connection_lost_callback``;
2. connects; reads ``ServerStatus.StartTime`` as the ``epoch`` (a changed epoch tells the
   edge the PLC restarted, so a counter drop is a reset, not a rollover);
3. resolves every tag's node anew (:mod:`protocols.opcua_resolve`: namespace URIs to today's
   index, browse paths to today's node ids) and creates one subscription whose
   monitored items have a server-side queue (``queue_size``, discard oldest) so bursts of
   state transitions between two publishes are all delivered, not just the last one;
4. delivers the data changes of each publish response to the sink as one snapshot
   (:mod:`protocols.opcua_snapshot`: values the PLC changed together stay together), in
   order, until the watchdog, the socket, the session (timeout) or the subscription reports a loss;
   every ``verify_interval_s`` it reads all subscribed nodes in one request and delivers what
   the subscription missed (see :mod:`protocols.opcua_verify`); a failing read is a lost
   connection, a subscription that keeps missing changes is re-created, then reconnected;
5. disconnects with a timeout, marks the tags BAD ("connection lost"), backs off
   (exponential with jitter, reset after a good subscription) and starts over.

A node that does not exist (wrong node id, unknown namespace URI, a browse path with a
segment the server does not have) is one tag BAD with the reason in ``detail``, logged once;
the other tags keep flowing. It is retried at the next reconnect.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import datetime, timedelta
from typing import Any

from asyncua import ua
from asyncua.client.client import Client
from asyncua.common.node import Node
from asyncua.common.subscription import DataChangeEvent, OverflowPolicy, StatusChangeEvent, Subscription
from asyncua.ua.object_ids import ObjectIds
from asyncua.ua.uaerrors import UaError, UaStatusCodeError

from protocols.base import ProbeRow, Quality, Sink, SourceHealth, SourceUnavailable, TagReading
from protocols.config import OpcUaSourceConfig
from protocols.opcua_client import ClientFactory, certificate_uri, configure_client, default_client
from protocols.opcua_resolve import Resolved as _Resolved
from protocols.opcua_resolve import resolve_tags
from protocols.opcua_snapshot import PublishedSnapshot, create_snapshot_subscription
from protocols.opcua_values import aware, quality_of, to_reading
from protocols.opcua_verify import RESUBSCRIBE_AFTER, Action, DeliveryTracker, Verifier
from protocols.supervision import Backoff, ConditionLog, deliver, raise_if_cancelled, record_health, utcnow

__all__ = ["OpcUaSource", "default_client", "configure_client", "certificate_uri"]

logger = logging.getLogger(__name__)

#: client-side buffer of publish responses (one snapshot each) between asyncua's publish loop
#: and our sink; on overflow asyncua forces a reconnect (logged) rather than silently dropping
#: transitions
CLIENT_QUEUE = 100_000

#: nodes per Read request of the verification read (servers limit a request's size)
MAX_NODES_PER_READ = 1000

#: how long the consume loop waits for a notification before it checks its timers
POLL_S = 0.25


class OpcUaSource:
    """A :class:`~protocols.base.TagSource` for one OPC UA server."""

    def __init__(self, config: OpcUaSourceConfig, *, client_factory: ClientFactory = default_client) -> None:
        self.config = config
        self.name = config.name
        self.health = SourceHealth(name=config.name)
        self._client_factory = client_factory
        self._conditions = ConditionLog(logger, config.name)
        self._not_bad: set[str] = set()  # tags whose last delivered reading was not BAD
        self._tags_by_node: dict[ua.NodeId, list[str]] = {}  # this connection's subscribed nodes
        self._connects = 0
        self._tracker = DeliveryTracker()  # last reading delivered per tag, this connection
        self._missed_logged: set[str] = set()  # tags whose missed change was logged, this connection
        self.subscription_id: int | None = None  # the current subscription's server-side id
        #: each tag's node id on the current (or last) connection, as resolved at its connect
        self.node_ids: dict[str, ua.NodeId] = {}

    # ------------------------------------------------------------------ run loop

    async def run(self, sink: Sink) -> None:
        backoff = Backoff(self.config.reconnect_min_s, self.config.reconnect_max_s)
        while True:
            epoch, error = "", ""
            client = self._client_factory(self.config)
            lost: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            self._tracker = DeliveryTracker()
            self._missed_logged = set()
            try:
                epoch = await self._connect(client, lost)
                sub = await self._subscribe(client, sink, epoch)
                backoff.reset()
                error = "connection lost: " + await self._consume(client, sub, sink, epoch, lost)
            except SourceUnavailable as exc:
                error = str(exc)
            except Exception as exc:  # a bug must not end acquisition: log it, reconnect
                logger.exception("source %s: unexpected error", self.name)
                error = f"unexpected error: {exc!r}"
            finally:
                self.health.connected = False
                self.health.connected_since = None
                self.subscription_id = None
                await self._disconnect(client)
            await self._on_lost(sink, epoch, error)
            raise_if_cancelled()
            await asyncio.sleep(backoff.next_delay())

    async def _connect(self, client: Client, lost: asyncio.Future[str] | None = None) -> str:
        """Connect; return the epoch (server start time)."""

        async def on_lost(exc: Exception) -> None:
            if lost is not None and not lost.done():
                lost.set_result(repr(exc))

        client.connection_lost_callback = on_lost
        try:
            await configure_client(client, self.config)
            await asyncio.wait_for(client.connect(), timeout=self.config.request_timeout_s * 2 + 1)
            start = await client.get_node(ObjectIds.Server_ServerStatus_StartTime).read_value()
        except (OSError, TimeoutError, ValueError, UaError) as exc:  # ValueError: unreadable key/certificate
            raise SourceUnavailable(f"cannot connect to {self.config.endpoint}: {exc!r}") from exc
        epoch = aware(start).isoformat() if isinstance(start, datetime) else str(start)
        if lost is not None:
            self._on_connected(epoch)
        return epoch

    def _on_connected(self, epoch: str) -> None:
        self._connects += 1
        if self._connects > 1:
            self.health.reconnects += 1
        self.health.connected = True
        self.health.connected_since = utcnow()
        self.health.epoch = epoch
        self._conditions.clear("connection", f"connected to {self.config.endpoint} (server started {epoch})")

    async def _disconnect(self, client: Client) -> None:
        try:
            await asyncio.wait_for(client.disconnect(), timeout=self.config.request_timeout_s)
        except Exception as exc:  # noqa: BLE001 - teardown of a connection that may be half-open or dead
            logger.debug("source %s: disconnect: %r", self.name, exc)
            client.disconnect_socket()

    async def _on_lost(self, sink: Sink, epoch: str, error: str) -> None:
        self.health.last_error = error
        self._conditions.raise_("connection", error)
        now = utcnow()
        lost: list[TagReading] = []
        for tag in self.config.tags:
            reading = TagReading(tag.name, None, None, Quality.BAD, epoch, now, error)
            record_health(self.health, reading)
            if tag.name in self._not_bad:
                lost.append(reading)
        await deliver(sink, lost, self._conditions)

    # ------------------------------------------------------------------ subscription

    async def _resolve(self, client: Client) -> list[_Resolved]:
        """Every tag's node id on this connection (namespace URIs and browse paths resolved anew)."""
        resolved = await resolve_tags(client, self.config)
        for r in resolved:
            if r.node_id is None:
                self.node_ids.pop(r.tag.name, None)
                continue
            before = self.node_ids.get(r.tag.name)
            if r.tag.path is not None and before != r.node_id:
                logger.info(
                    "source %s: tag %s: path %s resolves to %s%s", self.name, r.tag.name, r.tag.path,
                    r.node_id.to_string(), "" if before is None else f" (was {before.to_string()})",
                )
            self.node_ids[r.tag.name] = r.node_id
        return resolved

    async def _subscribe(self, client: Client, sink: Sink, epoch: str) -> Subscription:
        resolved = await self._resolve(client)
        cfg = self.config
        try:
            sub = await create_snapshot_subscription(
                client, cfg.publishing_interval_ms, queue_maxsize=CLIENT_QUEUE, overflow=OverflowPolicy.DISCONNECT
            )
            ok = [r for r in resolved if r.node_id is not None]
            sampling: Any = float(cfg.sampling_interval_ms)  # asyncua types it as ua.Duration
            nodes = [client.get_node(r.node_id) for r in ok if r.node_id is not None]
            results: list[int | ua.StatusCode] = []
            if nodes:  # an empty CreateMonitoredItems is BadNothingToDo
                results = await sub.subscribe_data_change(nodes, queuesize=cfg.queue_size, sampling_interval=sampling)
        except (OSError, TimeoutError, UaError) as exc:
            raise SourceUnavailable(f"creating the subscription: {exc!r}") from exc
        self.subscription_id = sub.subscription_id
        failed = [r for r in resolved if r.node_id is None]
        self._tags_by_node = {}
        for r, result in zip(ok, results, strict=True):
            if isinstance(result, ua.StatusCode):
                failed.append(_Resolved(r.tag, r.node_id, f"node {r.address}: {quality_of(result)[1]}"))
            else:
                assert r.node_id is not None
                self._tags_by_node.setdefault(r.node_id, []).append(r.tag.name)
                self._conditions.clear(f"tag {r.tag.name}", f"tag {r.tag.name}: node {r.address} subscribed")
        now = utcnow()
        for r in failed:
            self._conditions.raise_(f"tag {r.tag.name}", f"tag {r.tag.name}: {r.error}")
        await self._handle(sink, [TagReading(r.tag.name, None, None, Quality.BAD, epoch, now, r.error) for r in failed])
        return sub

    async def _consume(
        self, client: Client, sub: Subscription, sink: Sink, epoch: str, lost: asyncio.Future[str]
    ) -> str:
        """Deliver notifications in order (and what verification finds) until the connection is lost; return why."""
        cfg = self.config
        verifier: Verifier | None = None
        if cfg.verify_interval_s > 0:
            grace = max(cfg.verify_grace_s, 2 * cfg.publishing_interval_ms / 1000)
            verifier = Verifier(cfg.verify_interval_s, grace, self._tracker)
        while True:
            timeout = POLL_S if verifier is None else min(POLL_S, verifier.wait_s())
            try:
                event = await sub.next_event(timeout=max(timeout, 0.001))
            except StopAsyncIteration:
                return "subscription closed"
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                # Python 3.11's asyncio.wait_for (inside next_event) returns the item instead of raising
                # when a cancel races it: without this check a cancelled source would run on for ever
                raise asyncio.CancelledError
            if event is None and lost.done():
                return lost.result()
            loss = await self._on_event(event, sink, epoch)
            if loss:
                return loss
            if verifier is not None:
                action = await self._verify(client, verifier, sink, epoch)
                if action is Action.RESUBSCRIBE:
                    sub = await self._resubscribe(client, sub, sink, epoch)
                elif action is Action.RECONNECT:
                    return "the subscription still misses changes after it was re-created"

    async def _on_event(self, event: object, sink: Sink, epoch: str) -> str:
        """Deliver one publish response's data changes together; a bad status returns why the connection is lost."""
        events = event.events if isinstance(event, PublishedSnapshot) else (event,)
        received = utcnow()
        readings: list[TagReading] = []
        loss = ""
        for ev in events:
            if isinstance(ev, StatusChangeEvent):
                status = ev.notification.Status
                if status is not None and not status.is_good() and not loss:
                    loss = f"subscription status {quality_of(status)[1]}"
            elif isinstance(ev, DataChangeEvent):
                dv = ev.data.monitored_item.Value
                for name in self._tags_by_node.get(ev.node.nodeid, []):
                    readings.append(self._with_prev_seen(to_reading(name, dv, epoch, received)))
        await self._on_notification(sink, readings)  # the data changes first: they happened before the loss
        return loss

    def _with_prev_seen(self, reading: TagReading) -> TagReading:
        """A subscription reading with ``prev_seen``: the server samples the node every sampling interval
        (the publishing interval when 0) and queues every change, so on one subscription the tag held its
        previous value until one sampling interval before this change was seen."""
        last = self._tracker.last(reading.tag)
        if last is None or last.quality is not Quality.GOOD:
            return reading
        window_ms = self.config.sampling_interval_ms or self.config.publishing_interval_ms
        seen = max(last.received, reading.received - timedelta(milliseconds=window_ms))
        return dataclasses.replace(reading, prev_seen=seen)

    async def _on_notification(self, sink: Sink, readings: list[TagReading]) -> None:
        """The readings of one publish response, less those the verification read already delivered."""
        fresh = []
        for reading in readings:
            if self._tracker.notification(reading):
                fresh.append(reading)
            else:
                logger.debug("source %s: tag %s: late notification dropped: %s", self.name, reading.tag, reading)
        await self._on_readings(sink, fresh)

    async def _on_readings(self, sink: Sink, readings: list[TagReading]) -> None:
        for reading in readings:
            name = reading.tag
            if reading.quality is not Quality.GOOD:
                self._conditions.raise_(f"value {name}", f"tag {name}: {reading.quality.value} {reading.detail}")
            else:
                self._conditions.clear(f"value {name}", f"tag {name}: good again")
        await self._handle(sink, readings)

    # ------------------------------------------------------------------ verification read

    async def _verify(self, client: Client, verifier: Verifier, sink: Sink, epoch: str) -> Action:
        """Run the verification step that is due (if any): read, or settle and deliver what was missed."""
        if verifier.read_due():
            verifier.begin(await self._read_current(client, epoch))
        if not verifier.settle_due():
            return Action.NONE
        settled = verifier.settle()
        for reading in settled.missed:
            self.health.missed_changes += 1
            if reading.tag not in self._missed_logged:
                self._missed_logged.add(reading.tag)
                logger.warning(
                    "source %s: tag %s: the subscription missed a change (%s %r, source time %s); "
                    "delivered from the verification read",
                    self.name, reading.tag, reading.quality.value, reading.value, reading.source_ts,
                )
        await self._on_readings(sink, settled.missed)  # one read: one snapshot
        return settled.action

    async def _read_current(self, client: Client, epoch: str) -> list[TagReading]:
        """Every subscribed node's current DataValue (one Read per MAX_NODES_PER_READ nodes)."""
        pairs = list(self._tags_by_node.items())
        nodes = [client.get_node(node_id) for node_id, _ in pairs]
        values: list[ua.DataValue] = []
        try:
            for start in range(0, len(nodes), MAX_NODES_PER_READ):
                chunk = nodes[start : start + MAX_NODES_PER_READ]
                values += await asyncio.wait_for(client.read_attributes(chunk), timeout=self.config.request_timeout_s)
        except (OSError, TimeoutError, UaError) as exc:
            raise SourceUnavailable(f"verification read failed: {exc!r}") from exc
        if len(values) != len(nodes):
            raise SourceUnavailable(f"verification read: {len(values)} values for {len(nodes)} nodes")
        received = utcnow()
        out = []
        for (_, names), dv in zip(pairs, values, strict=True):
            out += [to_reading(name, dv, epoch, received) for name in names]
        return out

    async def _resubscribe(self, client: Client, sub: Subscription, sink: Sink, epoch: str) -> Subscription:
        self.health.resubscribes += 1
        logger.warning(
            "source %s: the subscription missed changes in %s verification reads in a row (%s missed in all): "
            "re-creating it",
            self.name, RESUBSCRIBE_AFTER, self.health.missed_changes,
        )
        try:
            await asyncio.wait_for(sub.delete(), timeout=self.config.request_timeout_s)
        except UaStatusCodeError as exc:  # e.g. BadSubscriptionIdInvalid: the server had dropped it already
            logger.warning("source %s: deleting the old subscription: %s", self.name, exc)
        except (OSError, TimeoutError, UaError) as exc:
            raise SourceUnavailable(f"deleting the subscription: {exc!r}") from exc
        while True:  # notifications the old subscription had already received still count
            try:
                event = await sub.next_event(timeout=0.001)
            except StopAsyncIteration:
                break
            if event is None:
                break
            await self._on_event(event, sink, epoch)  # its status no longer matters
        return await self._subscribe(client, sink, epoch)

    async def _handle(self, sink: Sink, readings: list[TagReading]) -> None:
        for reading in readings:
            record_health(self.health, reading)
        if await deliver(sink, readings, self._conditions):
            for reading in readings:
                if reading.quality is Quality.BAD:
                    self._not_bad.discard(reading.tag)
                else:
                    self._not_bad.add(reading.tag)


    # ------------------------------------------------------------------ probe

    async def probe(self) -> list[ProbeRow]:
        """Connect once, read every tag's value and data type once, disconnect."""
        client = self._client_factory(self.config)
        try:
            await self._connect(client)
            return [await self._probe_row(client, r) for r in await self._resolve(client)]
        finally:
            await self._disconnect(client)

    async def _probe_row(self, client: Client, r: _Resolved) -> ProbeRow:
        if r.node_id is None:
            return ProbeRow(r.tag.name, r.probe_address, "", "", None, Quality.BAD, error=r.error)
        node: Node = client.get_node(r.node_id)
        try:
            dv = await node.read_data_value(raise_on_bad_status=False)
            data_type = await _data_type_name(client, node)
        except (OSError, TimeoutError) as exc:
            raise SourceUnavailable(f"reading {r.address}: {exc!r}") from exc
        except UaError as exc:
            return ProbeRow(r.tag.name, r.probe_address, "", "", None, Quality.BAD, error=f"node {r.address}: {exc}")
        reading = to_reading(r.tag.name, dv, "", utcnow())
        raw = dv.Value.Value if dv.Value is not None else None
        variant = dv.Value.VariantType.name if dv.Value is not None else ""
        raw_text = f"{variant} {raw!r}" if variant and variant != "Null" else repr(raw)
        error = reading.detail
        if reading.quality is Quality.BAD and not error.startswith("node"):
            error = f"node {r.address}: {error}"
        if reading.quality is Quality.GOOD:
            error = ""
        return ProbeRow(r.tag.name, r.probe_address, data_type, raw_text, reading.value, reading.quality, error=error)


async def _data_type_name(client: Client, node: Node) -> str:
    try:
        dtype = await node.read_data_type()
        name = await client.get_node(dtype).read_browse_name()
    except UaStatusCodeError as exc:
        return f"? ({quality_of(ua.StatusCode(exc.code))[1]})"
    return str(name.Name)
