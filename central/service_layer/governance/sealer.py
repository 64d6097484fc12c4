"""The periodic ledger sealer of ``sfsync central serve``: a thread that seals every interval.

Each run seals in transactions of at most ``batch`` entries (SQLite's write lock is held for one
batch at a time, not for a whole backlog). The first run of a process searches the whole journal;
later runs look back ``lookback`` (see :mod:`central.service_layer.governance.seal`). A failing run is
logged and counted, and the thread carries on: sealing is retried at the next interval, and
``/audit/verify`` reports the entries still unsealed meanwhile.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from central.domain.errors import DomainError
from central.errors import CentralError
from central.service_layer.clock import Clock, utc_now
from central.service_layer.governance.seal import SEALER, seal_ledger

log = logging.getLogger(__name__)

__all__ = ["LedgerSealer", "SealerState", "seal_once"]


@dataclass(slots=True)
class SealerState:
    """What the sealer did (for logs and health): runs, seals made, failures, the last error."""

    runs: int = 0
    seals: int = 0
    entries: int = 0
    failures: int = 0
    last_run: datetime | None = None
    last_error: str | None = None
    busy_skips: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


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


class LedgerSealer:
    """``start()`` a daemon thread sealing every ``interval``; ``stop()`` ends it (waits for a run)."""

    def __init__(self, sessions: sessionmaker[Session], *, interval: float, lookback: float, batch: int,
                 clock: Clock = utc_now) -> None:
        if interval <= 0:
            raise ValueError("the sealer needs a positive interval")
        self.sessions = sessions
        self.interval = interval
        self.lookback = timedelta(seconds=lookback)
        self.batch = batch
        self.clock = clock
        self.state = SealerState()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ledger-sealer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run_once(self, *, full: bool = False) -> int | None:
        """One run now (the thread's body): entries sealed, or None when it failed (logged and
        counted, never raised)."""
        try:
            sealed = seal_once(self.sessions, lookback=None if full else self.lookback, batch=self.batch,
                               state=self.state, clock=self.clock)
        except Exception as exc:  # the thread must not die: log, count, carry on
            self._failed(exc)
            if isinstance(exc, SQLAlchemyError | CentralError) and not isinstance(exc, DomainError):
                log.warning("ledger sealer: run failed, retried in %.0f s: %s", self.interval, exc)
            else:  # unforeseen (a domain refusal while sealing is a bug too): keep the traceback
                log.exception("ledger sealer: unexpected failure, retried in %.0f s", self.interval)
            return None
        with self.state.lock:
            self.state.runs += 1
            self.state.last_run = self.clock()
            self.state.last_error = None
        return sealed

    def _failed(self, exc: BaseException) -> None:
        with self.state.lock:
            self.state.failures += 1
            self.state.last_error = f"{type(exc).__name__}: {str(exc)[:200]}"

    def _run(self) -> None:
        full = True  # the first run searches the whole journal (stragglers of an earlier process)
        while not self._stop.is_set():
            if self.run_once(full=full) is not None:
                full = False
            self._stop.wait(self.interval)
