"""A periodic background job: one daemon thread running the job every interval, a supervisor
thread restarting it when it dies, and a stop that waits a bounded time.

The rule and recommendation evaluators, the webhook worker and the ledger sealer of
``sfsync central serve`` are each a :class:`SupervisedJob`: a subclass says what one run does
(:meth:`SupervisedJob.run`) and how a failure is logged; a failing run is counted in
:class:`JobState` and retried at the next interval, never raised out of the thread. The
supervisor covers what a run cannot catch (a ``BaseException`` that ends the thread).
"""

from __future__ import annotations

import abc
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

__all__ = ["JobState", "SupervisedJob"]

R = TypeVar("R")

_MIN_PAUSE = 0.05
"""The shortest pause between two runs, so a run longer than the interval cannot spin the thread."""


@dataclass
class JobState:
    """What a background job has done, for logs, health and tests (updated under ``lock``)."""

    runs: int = 0
    failures: int = 0
    restarts: int = 0
    last_error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)


class SupervisedJob(abc.ABC, Generic[R]):
    """``start()`` the job's thread and its supervisor; ``stop()`` ends both.

    Each run starts ``interval`` seconds after the previous one started (at least
    ``_MIN_PAUSE`` after it ended); ``run_at_start=False`` waits one interval before the first.
    """

    def __init__(self, name: str, *, interval: float, state: JobState | None = None, run_at_start: bool = True,
                 supervise_every: float = 1.0) -> None:
        if interval <= 0:
            raise ValueError(f"{name} needs a positive interval")
        self.name, self.interval, self.run_at_start = name, interval, run_at_start
        self.supervise_every = supervise_every
        self.state = state if state is not None else JobState()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._supervisor: threading.Thread | None = None

    @abc.abstractmethod
    def run(self) -> R:
        """One run; may raise (:meth:`run_once` counts and logs the failure)."""

    def log_failure(self, exc: Exception) -> None:
        """How a failed run is logged (default: with its traceback)."""
        log.error("%s: run failed (retried in %.0f s)", self.name, self.interval, exc_info=exc)

    def run_once(self) -> R | None:
        """One run now (the thread's body): its result, or None when it failed (logged and
        counted, never raised)."""
        return self._attempt(self.run)

    def tick(self) -> None:
        """What the thread does each interval (a subclass may vary the run, as the sealer's first)."""
        self.run_once()

    def _attempt(self, body: Callable[[], R]) -> R | None:
        try:
            result = body()
        except Exception as exc:  # noqa: BLE001 - the thread must not die: counted, logged by log_failure
            with self.state.lock:
                self.state.failures += 1
                self.state.last_error = f"{type(exc).__name__}: {str(exc)[:200]}"
            self.log_failure(exc)
            return None
        with self.state.lock:
            self.state.runs += 1
            self.state.last_error = None
        return result

    @property
    def alive(self) -> bool:
        """Whether the job's thread is running."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self._supervisor is not None and self._supervisor.is_alive():
            raise RuntimeError(f"{self.name} is already running")
        self._stop.clear()
        self._start_thread()
        self._supervisor = threading.Thread(target=self._supervise, name=f"{self.name}-supervisor", daemon=True)
        self._supervisor.start()

    def stop(self, timeout: float = 30.0) -> bool:
        """Ask both threads to end and wait for them at most ``timeout`` seconds in all (a run in
        progress finishes first); True when both ended."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        ended = True
        for t in (self._supervisor, self._thread):
            if t is None:
                continue
            t.join(max(deadline - time.monotonic(), 0.0))
            if t.is_alive():
                ended = False
        if not ended:
            log.warning("%s: still running %.0f s after stop (a run in progress); left as a daemon thread",
                        self.name, timeout)
        return ended

    def _start_thread(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def _supervise(self) -> None:
        while not self._stop.wait(self.supervise_every):
            t = self._thread
            if t is not None and not t.is_alive() and not self._stop.is_set():
                with self.state.lock:
                    self.state.restarts += 1
                log.error("%s: thread died; restarting it", self.name)
                self._start_thread()

    def _loop(self) -> None:
        if not self.run_at_start and self._stop.wait(self.interval):
            return
        while not self._stop.is_set():
            started = time.monotonic()
            self.tick()
            self._stop.wait(max(self.interval - (time.monotonic() - started), _MIN_PAUSE))
