"""The alert merge rule: a fault that repeats is one alert, not thousands.

An occurrence either opens an alert or, while an alert with the same key is still open (not
acknowledged), is merged into it: ``count`` + 1, ``last_seen`` at the occurrence, the message of
the latest occurrence, and its ``detail`` laid over the earlier one (so identifying keys of the
first occurrence stay and figures such as ``on_hand`` show the latest value). Ingest and costing
both raise alerts through this one rule (``central.service_layer.alerts``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["KEY_MAX", "AlertOccurrence", "AlertState"]

KEY_MAX = 200  # the width of ``alerts.key``: a longer key is cut, so it still merges with itself


@dataclass(frozen=True)
class AlertOccurrence:
    """One sighting of a fault at ``at`` (the caller's clock)."""

    kind: str
    key: str
    message: str
    at: datetime
    severity: str = "warning"
    detail: Mapping[str, Any] = field(default_factory=dict)

    @property
    def stored_key(self) -> str:
        return self.key[:KEY_MAX]


@dataclass(frozen=True)
class AlertState:
    """What an open alert says after the occurrences merged into it."""

    kind: str
    severity: str
    key: str
    message: str
    detail: Mapping[str, Any]
    count: int
    created: datetime
    last_seen: datetime

    @classmethod
    def opened(cls, occ: AlertOccurrence) -> AlertState:
        return cls(kind=occ.kind, severity=occ.severity, key=occ.stored_key, message=occ.message,
                   detail=dict(occ.detail), count=1, created=occ.at, last_seen=occ.at)

    def merged(self, occ: AlertOccurrence) -> AlertState:
        """The open alert after ``occ`` repeated it; kind, severity and ``created`` stay the first."""
        detail = {**self.detail, **occ.detail} if occ.detail else dict(self.detail)
        return AlertState(kind=self.kind, severity=self.severity, key=self.key, message=occ.message, detail=detail,
                          count=self.count + 1, created=self.created, last_seen=occ.at)
