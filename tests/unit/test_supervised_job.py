"""The one periodic-job runner (evaluators, webhook worker, ledger sealer) without a database:
runs every interval, a failing run is counted and retried, a dead thread is restarted by the
supervisor, and stop waits a bounded time."""

from __future__ import annotations

import threading

import pytest

from central.service_layer.supervised_job import SupervisedJob
from shared.waiting import wait_until


class Job(SupervisedJob[int]):
    def __init__(self, *, fail: int = 0, die: int = 0, run_at_start: bool = True, interval: float = 0.01,
                 block: threading.Event | None = None) -> None:
        super().__init__("test-job", interval=interval, run_at_start=run_at_start, supervise_every=0.01)
        self.calls, self.fail, self.die, self.block = 0, fail, die, block

    def run(self) -> int:
        self.calls += 1
        if self.block is not None:
            self.block.wait(10)
        if self.calls <= self.die:
            raise SystemExit("the thread ends (not an Exception, so no run catches it)")
        if self.calls <= self.die + self.fail:
            raise RuntimeError(f"run {self.calls} failed")
        return self.calls


def test_a_failing_run_is_counted_and_the_next_one_runs() -> None:
    job = Job(fail=2)
    job.start()
    try:
        wait_until("three runs after two failures", lambda: job.state.runs >= 3, 10)
    finally:
        assert job.stop(5)
    assert job.state.failures == 2 and job.state.last_error is None and job.state.restarts == 0


def test_run_once_returns_none_on_failure_and_keeps_the_error() -> None:
    job = Job(fail=1)
    assert job.run_once() is None
    assert (job.state.failures, job.state.runs, job.state.last_error) == (1, 0, "RuntimeError: run 1 failed")
    assert job.run_once() == 2 and job.state.runs == 1


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the thread's death is the point
def test_the_supervisor_restarts_a_dead_thread() -> None:
    job = Job(die=1)
    job.start()
    try:
        wait_until("a restart and a run", lambda: job.state.restarts == 1 and job.state.runs >= 1, 10)
        assert job.alive
    finally:
        assert job.stop(5)
    assert not job.alive


def test_without_run_at_start_the_first_run_waits_an_interval() -> None:
    job = Job(run_at_start=False, interval=30)
    job.start()
    try:
        assert not threading.Event().wait(0.2) and job.calls == 0
    finally:
        assert job.stop(5)  # the wait ends at once on stop
    assert job.calls == 0


def test_stop_is_bounded_while_a_run_hangs() -> None:
    release = threading.Event()
    job = Job(block=release)
    job.start()
    try:
        wait_until("the run to start", lambda: job.calls == 1, 10)
        assert job.stop(0.2) is False  # the run holds the thread; stop gives up after its timeout
    finally:
        release.set()
    wait_until("the thread to end after the run", lambda: not job.alive, 10)


def test_an_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive interval"):
        Job(interval=0)


def test_a_running_job_cannot_start_twice() -> None:
    job = Job(interval=30)
    job.start()
    try:
        with pytest.raises(RuntimeError, match="already running"):
            job.start()
    finally:
        assert job.stop(5)
