"""The periodic ledger sealer of ``sfsync central serve``: a supervised job that seals every interval.

Each run seals in transactions of at most ``batch`` entries (SQLite's write lock is held for one
batch at a time, not for a whole backlog). The first run of a process searches the whole journal;
later runs look back ``lookback`` (see :mod:`central.service_layer.governance.seal`). A failing run is
logged and counted, and the thread carries on: sealing is retried at the next interval, and
``/audit/verify`` reports the entries still unsealed meanwhile.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from central.domain.errors import DomainError
from central.errors import CentralError
from central.service_layer.clock import Clock, utc_now
from central.service_layer.governance.seal import SEALER, seal_ledger
from central.service_layer.supervised_job import JobState, SupervisedJob

log = logging.getLogger(__name__)

__all__ = ["LedgerSealer", "SealerState", "seal_once"]


@dataclass
class SealerState(JobState):
    """What the sealer did (for logs and health): runs, seals made, failures, the last error."""

    seals: int = 0
    entries: int = 0
    last_run: datetime | None = None
    busy_skips: int = 0


def seal_once(sessions: sessionmaker[Session], *, lookback: timedelta | None, batch: int,
              state: SealerState | None = None, clock: Clock = utc_now) -> int:
    """One run: seal in batches until nothing is waiting (or another sealer holds the lock);
    returns how many entries were sealed. Each batch's seals are stamped ``clock()``."""
    total = 0
    while True:
        with sessions() as session, session.begin():
            made = seal_ledger(session, SEALER, "periodic", lookback=lookback, batch=batch, wait=False, clock=clock)
        if made is None:
            if state is not None:
                with state.lock:
                    state.busy_skips += 1
            log.debug("ledger sealer: another process is sealing; skipped")
            return total
        sealed = sum(m.entries for m in made)
        total += sealed
        if state is not None:
            with state.lock:
                state.seals += len(made)
                state.entries += sealed
        if sealed < batch:
            return total


class LedgerSealer(SupervisedJob[int]):
    """A :class:`SupervisedJob` sealing every ``interval``; ``stop()`` ends it (waits for a run).
    The first run of the thread searches the whole journal (stragglers of an earlier process)."""

    state: SealerState

    def __init__(self, sessions: sessionmaker[Session], *, interval: float, lookback: float, batch: int,
                 clock: Clock = utc_now) -> None:
        super().__init__("ledger-sealer", interval=interval, state=SealerState())
        self.sessions = sessions
        self.lookback = timedelta(seconds=lookback)
        self.batch = batch
        self.clock = clock
        self._full = True

    def run(self) -> int:
        return self._seal(full=False)

    def run_once(self, *, full: bool = False) -> int | None:
        """One run now: entries sealed, or None when it failed (logged and counted, never raised)."""
        return self._attempt(lambda: self._seal(full=full))

    def tick(self) -> None:
        if self.run_once(full=self._full) is not None:
            self._full = False

    def _seal(self, *, full: bool) -> int:
        sealed = seal_once(self.sessions, lookback=None if full else self.lookback, batch=self.batch,
                           state=self.state, clock=self.clock)
        with self.state.lock:
            self.state.last_run = self.clock()
        return sealed

    def log_failure(self, exc: Exception) -> None:
        if isinstance(exc, SQLAlchemyError | CentralError) and not isinstance(exc, DomainError):
            log.warning("ledger sealer: run failed, retried in %.0f s: %s", self.interval, exc)
        else:  # unforeseen (a domain refusal while sealing is a bug too): keep the traceback
            log.error("ledger sealer: unexpected failure, retried in %.0f s", self.interval, exc_info=exc)
