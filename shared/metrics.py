"""The Prometheus text exposition format (version 0.0.4), written once for edge and central.

Neither side carries a client library for a few dozen lines of text. Two ways to build a page:

- :class:`Registry` of live :class:`Counter`, :class:`Gauge` and :class:`Histogram` values,
  thread-safe, kept for the life of a process (central's ingest figures);
- :class:`Exposition`, a page assembled from values read at scrape time (the edge's status
  endpoint, central's per-stream figures from the database).

Both write each family's ``# HELP`` and ``# TYPE`` once, escape label values and format numbers
through the same functions, so a figure reads the same whichever side exposes it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Sequence
from typing import TypeVar

__all__ = [
    "Counter", "Exposition", "Gauge", "Histogram", "Registry",
    "escape_label_value", "format_labels", "format_value", "header", "sample",
]

Labels = tuple[str, ...]


def escape_label_value(value: str) -> str:
    """Backslash, newline and double quote escaped, as the format requires inside ``"..."``."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def format_labels(pairs: Iterable[tuple[str, str]]) -> str:
    """``{name="value",...}`` in the order given, or ``""`` without labels."""
    parts = [f'{name}="{escape_label_value(value)}"' for name, value in pairs]
    return "{" + ",".join(parts) + "}" if parts else ""


def format_value(value: float | int | bool) -> str:
    """A sample value: booleans as 1/0, whole numbers without a fraction, ``+Inf``/``-Inf``/``NaN``."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def header(name: str, help_text: str, kind: str) -> list[str]:
    """The ``# HELP`` and ``# TYPE`` lines that open a metric family."""
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]


def sample(name: str, value: float | int | bool, labels: Iterable[tuple[str, str]] = ()) -> str:
    return f"{name}{format_labels(labels)} {format_value(value)}"


class Exposition:
    """A page built from values read now; a family's HELP/TYPE lines come before its first sample."""

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._seen: set[str] = set()

    def add(self, name: str, value: float | int | bool, help_text: str, kind: str = "gauge", **labels: str) -> None:
        """One sample; labels are written sorted by name."""
        self.family(name, help_text, kind)
        self._lines.append(sample(name, value, sorted(labels.items())))

    def family(self, name: str, help_text: str, kind: str = "gauge") -> None:
        """Open a family with no sample yet (a per-stream figure with no stream still documents itself)."""
        if name not in self._seen:
            self._seen.add(name)
            self._lines.extend(header(name, help_text, kind))

    def lines(self) -> list[str]:
        return list(self._lines)

    def text(self) -> str:
        return "\n".join(self._lines) + "\n"


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
        yield from header(self.name, self.help, self.kind)
        with self._lock:
            items = sorted(self._values.items())
        if not items and not self.labels:
            items = [((), 0.0)]
        for key, val in items:
            yield sample(self.name, val, zip(self.labels, key, strict=True))


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
        yield from header(self.name, self.help, self.kind)
        with self._lock:
            counts, total, count = list(self._counts), self._sum, self._count
        for bound, c in zip(self.buckets, counts, strict=True):
            yield sample(f"{self.name}_bucket", c, [("le", format_value(bound))])
        yield sample(f"{self.name}_sum", total)
        yield sample(f"{self.name}_count", count)


_M = TypeVar("_M", Counter, Gauge, Histogram)


class Registry:
    """The live metrics of one process, rendered in the order they were added."""

    def __init__(self) -> None:
        self._metrics: list[_Metric | Histogram] = []

    def add(self, metric: _M) -> _M:
        self._metrics.append(metric)
        return metric

    def render(self, extra: Iterable[str] = ()) -> str:
        """The page: every metric, then ``extra`` lines (figures read at scrape time)."""
        lines: list[str] = []
        for metric in self._metrics:
            lines.extend(metric.render())
        lines.extend(extra)
        return "\n".join(lines) + "\n"
