"""The events repository of the unit of work: what the ingest handler reads and writes, in bulk.

Every method is one or two set-level statements (Core, no per-event ORM objects): the ingest
stores hundreds of events per batch, and the pure :class:`~central.domain.stream_cursor.StreamCursor`
decides what happens to each; this interface only applies its decisions.
:class:`central.adapters.repositories.SqlEventRepository` implements it on SQLAlchemy; the
handler tests use ``tests/support/fake_uow.FakeEvents`` over lists.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from central.domain.stored_events import MachineLimit, OpenGap, RejectedEvent, StoredEvent, StreamState

__all__ = ["EventRepository", "MachineLimit"]


class EventRepository(Protocol):
    def edge_plant(self, edge: str) -> str | None:
        """The plant ``edge`` is registered in, or None when it is not registered."""
        ...

    def lock_stream(self, stream: str) -> StreamState | None:
        """The stream's cursor row, locked for the transaction (``FOR UPDATE`` where rows lock)."""
        ...

    def create_stream(self, stream: str, edge: str, plant: str, now: datetime) -> None:
        """Insert the cursor row of a new stream (nothing when a concurrent batch just did)."""
        ...

    def save_stream(self, stream: str, *, acked_through: int, last_seq: int, accepted: int, duplicates: int,
                    rejected: int, now: datetime) -> None:
        """Write the cursor a batch reached and add its counts (one ``UPDATE``)."""
        ...

    def held(self, edge: str, stream: str, above: int) -> list[tuple[int, str]]:
        """``(seq, status)`` of the stream's events stored above seq ``above``."""
        ...

    def stored_seqs(self, edge: str, stream: str, lo: int, hi: int) -> set[int]:
        """Which seqs in ``[lo, hi]`` are stored."""
        ...

    def machines(self, machines: Collection[str]) -> list[MachineLimit]:
        """Owner and qty bound of each known machine among ``machines``."""
        ...

    def insert(self, rows: Sequence[Mapping[str, Any]]) -> dict[int, int]:
        """Insert event rows of one stream (column values, ``seq`` ascending); their ids by seq."""
        ...

    def accept_pending(self, edge: str, stream: str, above: int, through: int, now: datetime) -> list[StoredEvent]:
        """Accept the stream's pending events with seq in ``(above, through]`` (a gap filled);
        they are returned accepted, in seq order."""
        ...

    def close_gaps(self, stream: str, through: int, now: datetime) -> None:
        """Close the stream's open gaps that end at or below ``through`` (filled)."""
        ...

    def open_gaps(self, edge: str, stream: str, gaps: Sequence[tuple[int, int]], now: datetime) -> None:
        """Record the runs of missing seqs a batch opened."""
        ...

    def reject(self, rows: Sequence[Mapping[str, Any]], *, mark: bool = False) -> None:
        """Insert ``rejected_events`` rows; ``mark``: also set those events' status to rejected
        (a posting the costing layer refused after they were stored as accepted)."""
        ...

    # --- a controller's operations (accept a gap, replay a rejected event): one stream, rarely

    def open_gaps_of(self, stream: str) -> list[OpenGap]:
        """The stream's open gaps, by first seq."""
        ...

    def settle_gap(self, gap_id: int, *, resolution: str, by: str, reason: str, now: datetime) -> None:
        """Close a gap a controller's acceptance settled (``accepted`` or ``filled``)."""
        ...

    def trim_gap(self, gap_id: int, from_seq: int) -> None:
        """Move an open gap's first seq up (the cursor moved into it)."""
        ...

    def advance_stream(self, stream: str, *, accepted: int, skipped: int = 0, acked_through: int | None = None) -> None:
        """Add to the stream's ``accepted`` and ``skipped`` counts; move its cursor to
        ``acked_through`` when given."""
        ...

    def rejected(self, rejected_id: int) -> RejectedEvent | None:
        """A stored rejection, locked for the transaction."""
        ...

    def replace_event(self, event_id: int, values: Mapping[str, Any]) -> StoredEvent:
        """Overwrite the stored event's columns with ``values`` (a replay's corrected event,
        ``status`` and ``accepted_at`` included); the event as it is now."""
        ...

    def mark_replayed(self, rejected_id: int, by: str, now: datetime) -> None:
        """Mark a rejection replayed by ``by`` at ``now``."""
        ...
