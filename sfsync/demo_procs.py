"""Child processes of the demo: start with a log file, await readiness by polling, stop in order.

Every child runs in its own session (``start_new_session``) so a Ctrl-C in the terminal reaches
only the demo, which then stops the children itself in the right order: SIGTERM first (the edge
drains its last commit window, Mosquitto saves its state), SIGKILL after a timeout.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from shared.waiting import WaitTimeout, wait_until

log = logging.getLogger(__name__)

__all__ = ["ChildProcess", "DemoError", "sfsync_argv", "wait_ready", "wait_http", "log_tail"]


class DemoError(RuntimeError):
    """The demo could not start a part of the system; the message says which and why."""


def sfsync_argv(*args: str) -> list[str]:
    """``python -m sfsync.cli ARGS`` with this interpreter (works without the console script)."""
    return [sys.executable, "-m", "sfsync.cli", *args]


def log_tail(path: Path, chars: int = 1500) -> str:
    """The end of a log file, for error messages (empty when there is none)."""
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


@dataclass
class ChildProcess:
    """One named child process whose stdout and stderr go to ``logfile``."""

    name: str
    argv: list[str]
    logfile: Path
    env: dict[str, str] | None = None
    cwd: Path | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        self.logfile.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update(self.env or {})
        env.setdefault("PYTHONUNBUFFERED", "1")
        with self.logfile.open("ab") as out:
            out.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} start: {' '.join(self.argv)}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                self.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=self.cwd,
                start_new_session=True,
            )
        log.info("started %s (pid %s), log %s", self.name, self.proc.pid, self.logfile)

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def check_alive(self) -> None:
        """Raise :class:`DemoError` with the log's end when the child has exited."""
        if self.proc is not None and self.proc.poll() is not None:
            raise DemoError(
                f"{self.name} exited with status {self.proc.returncode}; log {self.logfile}:\n{log_tail(self.logfile)}"
            )

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, wait up to ``timeout``, then SIGKILL. Returns the exit status (None if never started)."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s (pid %s) did not stop within %.0f s of SIGTERM; killing", self.name, proc.pid, timeout)
                proc.kill()
                proc.wait(10)
        return proc.returncode

    def kill(self) -> None:
        """SIGKILL (chaos tests: the process dies with whatever it held in memory)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def wait_ready(
    what: str,
    ready: Callable[[], bool],
    timeout: float,
    children: Sequence[ChildProcess] = (),
    interval: float = 0.2,
) -> None:
    """:func:`shared.waiting.wait_until`, failing early with :class:`DemoError` when one of
    ``children`` died, and on timeout with the tail of every child's log."""

    def ready_while_alive() -> bool:
        for child in children:
            child.check_alive()
        return ready()

    try:
        wait_until(what, ready_while_alive, timeout, interval=interval)
    except WaitTimeout as exc:
        logs = "".join(f"\n--- {c.name} ({c.logfile}):\n{log_tail(c.logfile)}" for c in children)
        raise DemoError(f"{exc}{logs}") from exc


def http_ok(url: str) -> bool:
    """True when GET ``url`` answers 2xx."""
    try:
        return httpx.get(url, timeout=2.0).is_success
    except httpx.HTTPError:
        return False


def wait_http(url: str, timeout: float, children: Sequence[ChildProcess] = ()) -> None:
    """Poll GET ``url`` until it answers 2xx."""
    wait_ready(url, lambda: http_ok(url), timeout, children)
