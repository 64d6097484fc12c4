"""Ingest metrics in the Prometheus text format (no client library needed: counters, gauges
with labels and one histogram), thread-safe, one registry per process."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Sequence
from typing import TypeVar

__all__ = ["Counter", "Gauge", "Histogram", "Registry", "IngestMetrics"]

Labels = tuple[str, ...]


def _fmt_labels(names: Sequence[str], values: Labels, extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _num(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class _Metric:
    kind = "untyped"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help_text
        self.labels = tuple(labels)
        self._lock = threading.Lock()
        self._values: dict[Labels, float] = {}

    def _key(self, labels: Sequence[str]) -> Labels:
        if len(labels) != len(self.labels):
            raise ValueError(f"{self.name} takes labels {self.labels}, got {tuple(labels)}")
        return tuple(labels)

    def value(self, *labels: str) -> float:
        with self._lock:
            return self._values.get(self._key(labels), 0.0)

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} {self.kind}"
        with self._lock:
            items = sorted(self._values.items())
        if not items and not self.labels:
            items = [((), 0.0)]
        for key, val in items:
            yield f"{self.name}{_fmt_labels(self.labels, key)} {_num(val)}"


class Counter(_Metric):
    kind = "counter"

    def inc(self, step: float = 1.0, *labels: str) -> None:
        """Add ``step`` (an event count or seconds: Prometheus samples, never money) to the counter."""
        if step < 0:
            raise ValueError("a counter only goes up")
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + step


class Gauge(_Metric):
    kind = "gauge"

    def set(self, value: float, *labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = value


class Histogram:
    kind = "histogram"

    def __init__(self, name: str, help_text: str, buckets: Sequence[float]) -> None:
        self.name = name
        self.help = help_text
        self.buckets = (*sorted(buckets), math.inf)
        self._counts = [0] * len(self.buckets)
        self._sum = 0.0
        self._count = 0
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        with self._lock:
            self._sum += value
            self._count += 1
            for i, bound in enumerate(self.buckets):
                if value <= bound:
                    self._counts[i] += 1

    @property
    def count(self) -> int:
        return self._count

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} histogram"
        with self._lock:
            counts, total, count = list(self._counts), self._sum, self._count
        for bound, c in zip(self.buckets, counts, strict=True):
            yield f'{self.name}_bucket{{le="{_num(bound)}"}} {c}'
        yield f"{self.name}_sum {_num(total)}"
        yield f"{self.name}_count {count}"


_M = TypeVar("_M", Counter, Gauge, Histogram)


class Registry:
    def __init__(self) -> None:
        self._metrics: list[_Metric | Histogram] = []

    def add(self, metric: _M) -> _M:
        self._metrics.append(metric)
        return metric

    def render(self, extra: Iterable[str] = ()) -> str:
        lines: list[str] = []
        for metric in self._metrics:
            lines.extend(metric.render())
        lines.extend(extra)
        return "\n".join(lines) + "\n"


class IngestMetrics:
    """Every figure the ingest exposes on ``/metrics`` (per process)."""

    def __init__(self) -> None:
        r = self.registry = Registry()
        self.batches = r.add(Counter("sfsync_ingest_batches_total", "Batches committed"))
        self.accepted = r.add(Counter("sfsync_ingest_events_accepted_total", "Events accepted (posted)"))
        self.duplicates = r.add(Counter("sfsync_ingest_duplicates_total", "Events received again (no-ops)"))
        self.held = r.add(Counter("sfsync_ingest_events_held_total", "Events stored behind a gap"))
        self.rejected = r.add(
            Counter("sfsync_ingest_events_rejected_total", "Events stored as rejected", ["reason"])
        )
        self.gaps = r.add(Counter("sfsync_ingest_gaps_total", "Gaps opened in a stream's sequence"))
        self.gaps_accepted = r.add(Counter("sfsync_ingest_gaps_accepted_total", "Gaps accepted by a controller"))
        self.quarantined = r.add(
            Counter("sfsync_ingest_quarantined_total", "Payloads quarantined whole", ["reason"])
        )
        self.clock_skew = r.add(Counter("sfsync_ingest_clock_skew_total", "Events stamped too far ahead"))
        self.db_retries = r.add(Counter("sfsync_ingest_db_retries_total", "Batch transactions retried"))
        self.failures = r.add(Counter("sfsync_ingest_failures_total", "Batches not stored (not acked)"))
        self.fallbacks = r.add(Counter("sfsync_ingest_event_by_event_total",
                                       "Batches stored again event by event after the fast path failed"))
        self.over_limit = r.add(Counter("sfsync_ingest_events_over_limit_total",
                                        "Events over their machine's max_event_qty, held as suspect"))
        self.worker_errors = r.add(Counter("sfsync_ingest_worker_errors_total",
                                           "Unexpected errors the ingest worker survived (logged with a traceback)"))
        self.worker_restarts = r.add(Counter("sfsync_ingest_worker_restarts_total",
                                             "Ingest worker threads restarted after dying"))
        self.heartbeat_age = r.add(Gauge("sfsync_ingest_heartbeat_age_seconds",
                                         "Seconds since the ingest worker's last heartbeat (set when scraped)"))
        self.acks = r.add(Counter("sfsync_ingest_acks_published_total", "Acks published"))
        self.status = r.add(Counter("sfsync_ingest_status_messages_total", "Edge status messages"))
        self.queue = r.add(Gauge("sfsync_ingest_queue_depth", "Messages waiting for the ingest worker"))
        self.connected = r.add(Gauge("sfsync_ingest_broker_connected", "1 when the ingest is connected"))
        self.lag = r.add(
            Gauge("sfsync_ingest_lag_seconds", "Commit time minus timestamp of the newest accepted event", ["stream"])
        )
        self.commit_latency = r.add(
            Histogram(
                "sfsync_ingest_batch_commit_seconds",
                "Time to store and commit one batch",
                (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            )
        )
