"""Stored events as plain values: what the ingest hands the posting seam, and a stream's cursor row.

The ingest writes and reads events with Core statements (no per-event ORM objects on the hot
path); these frozen dataclasses carry what it read. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

__all__ = ["StoredEvent", "StreamState", "EVENT_FIELDS", "MachineLimit", "OpenGap", "RejectedEvent"]


class StoredEvent(NamedTuple):
    """One stored event (a row of ``events``), as the posting seam sees it. ``machine``, ``kind``
    and ``ts`` are None only for a rejected body that did not validate. A named tuple: hundreds
    are made per batch, and a tuple is the cheapest immutable value to build."""

    id: int
    edge: str
    stream: str
    seq: int
    status: str
    machine: str | None
    kind: str | None
    ts: datetime | None
    rx: datetime | None
    posting_ts: datetime | None
    qty: int | None
    state: str | None
    reason: str | None
    flags: Sequence[str]
    raw: Mapping[str, Any] | None

    @classmethod
    def from_values(cls, event_id: int, values: Mapping[str, Any]) -> StoredEvent:
        """From the column values the ingest inserted (a dict with every name of :data:`EVENT_FIELDS`)."""
        return cls(event_id, *map(values.__getitem__, EVENT_FIELDS))


EVENT_FIELDS = ("edge", "stream", "seq", "status", "machine", "kind", "ts", "rx", "posting_ts", "qty", "state",
                "reason", "flags", "raw")
"""The columns of :class:`StoredEvent` after ``id``, in its field order."""


@dataclass(frozen=True, slots=True)
class StreamState:
    """A stream's cursor row: who owns it and how far it is settled."""

    stream: str
    edge: str
    acked_through: int
    last_seq: int
    skipped: int


MachineLimit = tuple[str, str | None, int | None]
"""``(machine, owner edge, max_event_qty)`` of a known machine."""


@dataclass(frozen=True, slots=True)
class OpenGap:
    """A run of missing seqs of a stream that is still open (a row of ``gaps``)."""

    id: int
    from_seq: int
    through_seq: int


@dataclass(frozen=True, slots=True)
class RejectedEvent:
    """An event refused at ingest, kept for a replay (a row of ``rejected_events``): ``body`` is
    the wire form a replay validates again; ``status`` is ``open`` until it is replayed."""

    id: int
    event_id: int
    edge: str
    stream: str
    seq: int
    status: str
    body: Any
