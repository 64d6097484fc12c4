"""The snapshot compactor of ``sfsync central serve``: a supervised job folding the ledger balance
snapshots' rows (:func:`central.service_layer.costing.snapshots.compact`).

The journal writer adds snapshot rows without updating shared ones (so concurrent posting
transactions never wait on each other); between runs a key may have one row per posting
transaction. A run looks only at keys that gained a row since the previous run; the first run of
a process, and every ``full_every``-th run, looks at every key (rows skipped while another process
held them, or committed late under a lower id). A failing run is logged and counted and retried at
the next interval: the reports stay exact meanwhile (they sum a key's rows), only a little slower.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session, sessionmaker

from central.service_layer.costing.snapshots import compact
from central.service_layer.supervised_job import JobState, SupervisedJob

log = logging.getLogger(__name__)

__all__ = ["SnapshotCompactor", "compact_all"]


def compact_all(sessions: sessionmaker[Session], *, since: tuple[int, int] | None = None,
                max_keys: int = 5_000) -> tuple[int, tuple[int, int]]:
    """Compact in transactions of at most ``max_keys`` keys per table until one has looked at every
    candidate key (or folded nothing: the rest is held by another compactor); returns (rows folded
    away, the high-water row ids per table for the next run's ``since``). Rows posted meanwhile
    wait for the next run, so a busy ingest cannot keep one run going."""
    removed, high = 0, since or (0, 0)
    while True:
        with sessions() as session, session.begin():
            done = compact(session, since=since, max_keys=max_keys)
        removed += done.removed
        high = (max(high[0], done.high_water[0]), max(high[1], done.high_water[1]))
        if done.complete or done.removed == 0:
            return removed, high


class SnapshotCompactor(SupervisedJob[int]):
    """A :class:`SupervisedJob` compacting every ``interval``; ``stop()`` ends it (waits for a run)."""

    def __init__(self, sessions: sessionmaker[Session], *, interval: float, full_every: int = 60) -> None:
        super().__init__("snapshot-compactor", interval=interval, state=JobState())
        if full_every < 1:
            raise ValueError("full_every must be at least 1")
        self.sessions = sessions
        self.full_every = full_every
        self._since: tuple[int, int] | None = None
        self._runs = 0

    def run(self) -> int:
        full = self._since is None or self._runs % self.full_every == 0
        removed, high = compact_all(self.sessions, since=None if full else self._since)
        self._since = high
        self._runs += 1
        if removed:
            log.debug("snapshot compactor: %d rows folded", removed)
        return removed
