"""Restart indicators (pure): which tag tells that a source's PLC restarted, and how to read it.

``boot_count``: any change is a restart. ``uptime``: a decrease is a restart. ``first_scan``: a
0 -> 1 change is a restart. :class:`edge.derivation.Deriver` applies them before the counters
of a snapshot and re-stamps the source's counter marks, so their next drop is a certain reset.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.config import EdgeSettings, RestartIndicatorConfig, normalize_code
from protocols.base import Scalar

__all__ = ["RestartWatch", "restart_watches", "restart_seen"]


@dataclass(frozen=True, slots=True)
class RestartWatch:
    """A restart indicator tag and the counter tags of its source."""

    tag: str
    kind: str
    counters: tuple[str, ...]


def restart_watches(settings: EdgeSettings) -> list[RestartWatch]:
    """The configured restart indicators with the counter tags of their sources."""
    counters = {c.tag for m in settings.machines for c in ([m.good] if m.good else []) + list(m.scrap)}
    return [_watch(ind, settings.source_tags(ind.source), counters) for ind in settings.restart_indicators]


def _watch(ind: RestartIndicatorConfig, source_tags: list[str], counters: set[str]) -> RestartWatch:
    return RestartWatch(ind.tag, ind.kind, tuple(t for t in source_tags if t in counters))


def restart_seen(kind: str, last: str | None, value: Scalar) -> tuple[str | None, bool]:
    """``(value as stored, restarted?)`` for a restart indicator reading; ``(None, False)`` if unusable."""
    if kind == "first_scan":
        if not isinstance(value, bool | int | float) or (isinstance(value, float) and value != value):
            return None, False
        flag = "1" if value else "0"
        return flag, last == "0" and flag == "1"
    if kind == "uptime":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None, False
        return repr(float(value)), last is not None and float(value) < float(last)
    code = normalize_code(value)  # boot_count
    return code, code is not None and last is not None and code != last
