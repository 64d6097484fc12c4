"""The edge agent: sources -> derivation -> outbox -> forwarder, plus the status endpoint.

Everything runs on one asyncio loop; SQLite work is on the outbox thread and paho's network
loop on its own thread. One PLC's fault never stalls another: each source is its own task,
restarted if it ever ends, and a source whose adapter cannot even be built (bad tag config,
adapter missing) is reported on status/metrics while the others keep flowing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from edge.config import EdgeSettings
from edge.derivation import Deriver
from edge.forwarder import Forwarder
from edge.outbox import Outbox
from edge.status import StatusServer, json_page
from edge.store import OutboxStore
from protocols import Snapshot, SourceConfig, TagSource, build_source
from shared.metrics import Exposition

__all__ = ["Agent", "agent_version"]

log = logging.getLogger(__name__)

SourceFactory = Callable[[Any], TagSource]


STOP_SOURCES_S = 5.0
STOP_STORE_S = 10.0
STOP_FORWARDER_S = 4.0


async def _stop_tasks(what: str, tasks: list[asyncio.Task[Any]], timeout: float) -> None:
    """Cancel ``tasks`` and wait at most ``timeout`` seconds for them to end; say so when they don't."""
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    done, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            log.error("%s ended with an error while stopping: %r", what, task.exception())
    if pending:
        log.warning("%s did not stop within %.0f s; leaving %d task(s) behind", what, timeout, len(pending))


def agent_version() -> str:
    try:
        return version("shopfloor-sync")
    except PackageNotFoundError:
        return "0+unknown"


class Agent:
    """One edge agent process; :meth:`run` until ``stop`` is set."""

    def __init__(self, settings: EdgeSettings, source_factory: SourceFactory = build_source) -> None:
        self.settings = settings
        self.version = agent_version()
        self._source_factory = source_factory
        self.sources: list[TagSource] = []
        self.source_errors: dict[str, str] = {}
        self.readings = 0
        self.started = time.time()
        self.status: StatusServer | None = None
        self._store: OutboxStore | None = None
        self._forwarder: Forwarder | None = None
        self._deriver: Deriver | None = None
        self.ready = asyncio.Event()

    @property
    def store(self) -> OutboxStore:
        assert self._store is not None, "agent not started"
        return self._store

    @property
    def forwarder(self) -> Forwarder:
        assert self._forwarder is not None, "agent not started"
        return self._forwarder

    @property
    def deriver(self) -> Deriver:
        assert self._deriver is not None, "agent not started"
        return self._deriver

    # ------------------------------------------------------------------ wiring

    async def _open(self) -> None:
        cfg = self.settings.outbox
        outbox = await asyncio.to_thread(
            Outbox, cfg.path, self.settings.plant, self.settings.edge, max_rows=cfg.max_rows, max_bytes=cfg.max_bytes
        )
        self._deriver = Deriver.from_settings(self.settings, outbox.marks())
        self._store = OutboxStore(outbox, cfg.commit_window_ms)
        self._forwarder = Forwarder(self.settings, self._store, self.version)
        self._store.on_stored = self._forwarder.wake
        log.info("edge %s/%s: outbox %s, stream %s, last seq %d, acked through %d",
                 self.settings.plant, self.settings.edge, cfg.path, outbox.stream, outbox.last_seq,
                 outbox.acked_through)

    def _build_sources(self) -> None:
        for cfg in self.settings.sources:
            try:
                self.sources.append(self._source_factory(cfg))
            except Exception as exc:  # noqa: BLE001 - one bad source must not stop the others: report, go on
                self.source_errors[cfg.name] = f"cannot start source: {exc!r}"
                log.error("source %s cannot start (other sources keep running): %r", cfg.name, exc)

    async def _sink(self, snapshot: Snapshot) -> None:
        """One source's snapshot (readings that arrived together) -> derived events and marks, queued."""
        self.readings += len(snapshot)
        derived = self.deriver.feed(snapshot)
        if derived:
            self.store.add([(d.body, d.key, d.mark) for d in derived])

    async def _supervise(self, source: TagSource) -> None:
        """Run one source forever; if its loop ever ends or crashes, say so and restart it."""
        while True:
            try:
                await source.run(self._sink)
                self.source_errors[source.name] = "source loop ended unexpectedly"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug in one adapter must not end acquisition
                self.source_errors[source.name] = f"source crashed: {exc!r}"
                log.exception("source %s crashed; restarting in 5 s", source.name)
            await asyncio.sleep(5)

    async def _tick(self) -> None:
        """Emit debounced state changes when their time comes, even without new readings."""
        from protocols.supervision import utcnow

        while True:
            due = self.deriver.next_due()
            if due is not None:
                now = utcnow()
                if now >= due:
                    derived = self.deriver.tick(now)
                    self.store.add([(d.body, d.key, d.mark) for d in derived])
            await asyncio.sleep(0.05)

    # ------------------------------------------------------------------ running

    async def run(self, stop: asyncio.Event) -> None:
        await self._open()
        self._build_sources()
        store, forwarder = self.store, self.forwarder
        store_task = asyncio.create_task(store.run(), name="edge-outbox")
        fwd_task = asyncio.create_task(forwarder.run(), name="edge-forwarder")
        if self.settings.status.enabled:
            st = self.settings.status
            self.status = StatusServer(st.host, st.port, self._health, self._metrics)
            await self.status.start()
            await store.set_meta("status_url", self.status.url)
        tasks = [asyncio.create_task(self._supervise(s), name=f"source-{s.name}") for s in self.sources]
        tasks.append(asyncio.create_task(self._tick(), name="edge-tick"))
        self.ready.set()
        try:
            await stop.wait()
        finally:
            log.info("edge agent stopping")
            # Each step is bounded, so a PLC library that hangs in its teardown cannot keep the
            # agent from stopping (systemd or the demo would SIGKILL it). The outbox flush comes
            # right after the sources stop and gets the longest bound: it holds derived events.
            await _stop_tasks("PLC sources", tasks, STOP_SOURCES_S)
            # scrap counts still waiting for a late reason go out with the reason known now
            store.add([(d.body, d.key, d.mark) for d in self.deriver.release_held()])
            await _stop_tasks("outbox writer", [store_task], STOP_STORE_S)  # commits what is queued
            await _stop_tasks("forwarder", [fwd_task], STOP_FORWARDER_S)  # "offline" status, disconnect
            if self.status is not None:
                await self.status.close()
            await store.close()
            log.info("edge agent stopped")

    # ------------------------------------------------------------------ status

    async def health(self) -> dict[str, Any]:
        """What ``/health`` shows: backlog, last ack, broker and PLC connections, tag problems."""
        stats = await self.store.stats()
        fwd = self.forwarder.stats
        now = time.time()
        sources = {}
        for s in self.sources:
            h = s.health
            sources[s.name] = {
                "connected": h.connected,
                "reconnects": h.reconnects,
                "missed_changes": h.missed_changes,
                "resubscribes": h.resubscribes,
                "last_error": h.last_error,
                "tags": {
                    tag: {"quality": q.value, "detail": h.detail.get(tag, ""),
                          "last_good": h.last_good[tag].isoformat() if tag in h.last_good else None}
                    for tag, q in h.quality.items()
                },
            }
        for name, err in self.source_errors.items():
            sources.setdefault(name, {"connected": False})["error"] = err
        ok = (fwd.connected and not self.store.write_error and not stats.over_budget
              and all(s.health.connected for s in self.sources))
        return {
            "status": "ok" if ok else "degraded",
            "plant": self.settings.plant,
            "edge": self.settings.edge,
            "version": self.version,
            "stream": stats.stream,
            "backlog": {
                "rows": stats.rows,
                "bytes": stats.bytes,
                "oldest_unacked_age_s": None if stats.oldest_created is None else round(now - stats.oldest_created, 3),
                "last_seq": stats.last_seq,
                "acked_through": stats.acked_through,
                "last_ack_age_s": None if stats.acked_at is None else round(now - stats.acked_at, 3),
                "over_budget": stats.over_budget,
                "budget_rows": stats.max_rows,
                "budget_bytes": stats.max_bytes,
                "disk_free_bytes": stats.disk_free,
                "write_error": self.store.write_error,
            },
            "broker": {
                "connected": fwd.connected,
                "reconnects": fwd.reconnects,
                "last_error": fwd.last_error,
                "connect_refused": fwd.connect_refused,
                "connect_failures": fwd.connect_failures,
                "session_present": fwd.session_present,
                "resends": fwd.resends,
                "drain_rate_events_per_s": round(fwd.drain_rate, 1),
            },
            "sources": sources,
            "tag_problems": dict(self.deriver.problems),
        }

    async def _health(self) -> bytes:
        return json_page(await self.health())

    async def _metrics(self) -> bytes:
        stats = await self.store.stats()
        fwd = self.forwarder.stats
        fwd.update_rate(time.monotonic())
        now = time.time()
        m = Exposition()
        p = "sfsync_edge_"
        m.add(p + "backlog_events", stats.rows, "events stored and not yet acked by central")
        m.add(p + "backlog_bytes", stats.bytes, "bytes of stored, unacked events")
        m.add(p + "oldest_unacked_age_seconds", 0.0 if stats.oldest_created is None else now - stats.oldest_created,
              "age of the oldest unacked event")
        m.add(p + "last_seq", stats.last_seq, "last seq assigned in this stream")
        m.add(p + "acked_through", stats.acked_through, "highest seq central acked")
        m.add(p + "outbox_over_budget", stats.over_budget, "1 when the backlog exceeds outbox.max_rows/max_bytes")
        m.add(p + "outbox_write_error", bool(self.store.write_error), "1 while outbox writes fail")
        m.add(p + "disk_free_bytes", stats.disk_free, "free bytes on the outbox file system")
        m.add(p + "events_written_total", self.store.events_written, "events stored since start", "counter")
        m.add(p + "readings_total", self.readings, "tag readings received since start", "counter")
        m.add(p + "drain_rate_events_per_second", fwd.drain_rate, "events acked per second (last 10 s)")
        m.add(p + "publish_latency_seconds_sum", fwd.latency_sum, "publish-to-PUBACK time, sum", "counter")
        m.add(p + "publish_latency_seconds_count", fwd.latency_count, "publish-to-PUBACK time, count", "counter")
        m.add(p + "publish_latency_seconds_last", fwd.latency_last, "last publish-to-PUBACK time")
        m.add(p + "published_events_total", fwd.published_events, "events published (with re-sends)", "counter")
        m.add(p + "resends_total", fwd.resends,
              "re-sends of unacked events for a missing ack: after resend_timeout_s, or early (reconnect_max_s + 1 s, "
              "doubling) on a new connection that central has not acked yet (not the re-send made at every "
              "connect)", "counter")
        m.add(p + "mqtt_connected", fwd.connected, "1 while connected to the broker")
        m.add(p + "mqtt_reconnects_total", fwd.reconnects, "broker reconnections", "counter")
        m.add(p + "mqtt_connect_failures_total", fwd.connect_failures,
              "connection attempts refused by the broker or failed (TCP, TLS)", "counter")
        m.add(p + "mqtt_connect_refused", fwd.connect_refused,
              "1 while the broker refuses the connection (credentials, authorisation)")
        m.add(p + "mqtt_session_present", fwd.session_present, "1 when the broker kept our session at the last connect")
        for s in self.sources:
            h = s.health
            m.add(p + "source_connected", h.connected, "1 while the PLC connection is up", source=s.name)
            m.add(p + "source_reconnects_total", h.reconnects, "PLC reconnections", "counter", source=s.name)
            m.add(p + "source_missed_changes_total", h.missed_changes,
                  "changes the OPC UA subscription missed and the verification read delivered", "counter",
                  source=s.name)
            m.add(p + "source_resubscribes_total", h.resubscribes,
                  "OPC UA subscriptions re-created after repeated misses", "counter", source=s.name)
            for tag, ts in h.last_good.items():
                m.add(p + "tag_last_good_timestamp_seconds", ts.timestamp(), "time of the tag's last good read",
                      tag=tag, source=s.name)
            for tag, q in h.quality.items():
                m.add(p + "tag_good", q.value == "good", "1 when the tag's last read was good", tag=tag,
                      source=s.name, quality=q.value)
        for name in self.source_errors:
            m.add(p + "source_error", 1, "1 when a source cannot run (see /health)", source=name)
        for tag in self.deriver.problems:
            m.add(p + "tag_problem", 1, "1 while a tag's values cannot be used (see /health)", tag=tag)
        return m.text().encode()


def describe_sources(configs: list[SourceConfig]) -> str:
    return ", ".join(f"{c.name} ({c.protocol})" for c in configs)
