"""The posting seam: where the costing layer hooks into the ingest transaction.

The ingest service calls the configured :class:`PostingHandler` INSIDE the database
transaction that stores a stream's events, with the events that have just become accepted,
in seq order, as plain :class:`~central.domain.stored_events.StoredEvent` values (no ORM objects):

* events of a batch that continue the stream's sequence;
* events held behind a gap, when the gap fills or a controller accepts it (``accept-gap``);
* a rejected event, when a controller replays it successfully.

The handler writes its own rows through the same ``session`` and must not commit. If it
raises, the ingest retries the events one by one (each in a savepoint) and stores the ones
that still fail as rejected with reason ``posting failed: ...`` — so one event the costing
layer cannot post never blocks the stream. A database error the handler's own rows cause
(``IntegrityError``, ``DataError``) is such a refusal too: the event is stored as rejected.
Only a database outage (``OperationalError``, ``InterfaceError``) is not caught: the whole
batch rolls back, is not acked, and the edge re-sends it (``posting.post_events``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from sqlalchemy import event
from sqlalchemy.orm import Session

from central.domain.stored_events import StoredEvent

__all__ = ["PostingHandler", "NoCostingHandler", "RecordingHandler"]


@runtime_checkable
class PostingHandler(Protocol):
    """Turns newly accepted events into operational records and journal entries."""

    def __call__(self, session: Session, events: Sequence[StoredEvent]) -> None: ...


class NoCostingHandler:
    """The "no costing" handler: events are stored and acked, nothing is posted.

    Never a default: a caller passes it to :func:`central.bootstrap.bootstrap` (``posting=``) to
    run ingest alone on purpose (the ingest benchmark); ``/health`` reports it by name so such a
    process is never mistaken for one that posts.
    """

    name = "no-costing"

    def __call__(self, session: Session, events: Sequence[StoredEvent]) -> None:
        return None


class RecordingHandler:
    """Keeps ``(stream, seq)`` of every event it was given, in call order, counting only calls
    whose transaction committed (tests, benchmarks)."""

    name = "recording"

    def __init__(self) -> None:
        self.calls: list[list[tuple[str, int]]] = []
        self._lock = threading.Lock()

    def __call__(self, session: Session, events: Sequence[StoredEvent]) -> None:
        pending: list[list[tuple[str, int]]] | None = session.info.get("sfsync_recording")
        if pending is None:
            pending = session.info["sfsync_recording"] = []
            event.listen(session, "after_commit", self._committed, once=True)
            event.listen(session, "after_rollback", lambda s: s.info.pop("sfsync_recording", None), once=True)
        pending.append([(e.stream, e.seq) for e in events])

    def _committed(self, session: Session) -> None:
        with self._lock:
            self.calls.extend(session.info.pop("sfsync_recording", None) or [])

    @property
    def seen(self) -> list[tuple[str, int]]:
        return [item for call in self.calls for item in call]
