"""Run an MQTT broker in a child process: Mosquitto when installed, else the embedded amqtt.

Used by the demo (one box, no services installed) and by the test harness (a real broker
on a free port, which a fault test can kill and restart). The generated Mosquitto config
follows PITFALLS.md: ``user root`` so a root-started broker can write its own data dir,
``allow_anonymous true``, and ``max_queued_messages 0`` so queued QoS 1 messages are never
silently dropped. amqtt keeps sessions only with ``allow_anonymous: false``; every client of
ours sends a username, so that is what we generate.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

__all__ = ["BrokerProcess", "BrokerError", "free_port", "wait_port", "mosquitto_binary"]

Kind = Literal["mosquitto", "amqtt"]


class BrokerError(RuntimeError):
    """The broker process could not be started or did not become ready."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_port(host: str, port: int, timeout: float) -> bool:
    """Poll until something accepts TCP connections on ``host:port``; False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.02)
    return False


def mosquitto_binary() -> str | None:
    """Path of the mosquitto binary, or None (``SFSYNC_BROKER=amqtt`` forces None)."""
    if os.environ.get("SFSYNC_BROKER", "").lower() == "amqtt":
        return None
    return shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )


@dataclass
class BrokerProcess:
    """A broker child process on ``host:port`` with its config and data under ``workdir``."""

    workdir: Path
    host: str = "127.0.0.1"
    port: int = 0
    kind: Kind | None = None
    persistence: bool = True
    extra_config: str = ""
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.kind is None:
            self.kind = "mosquitto" if mosquitto_binary() else "amqtt"
        if self.port == 0:
            self.port = free_port(self.host)
        self.workdir.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def durable(self) -> bool:
        """True when queued messages of persistent sessions survive a broker restart."""
        return self.kind == "mosquitto" and self.persistence

    def _config(self) -> tuple[list[str], Path]:
        if self.kind == "mosquitto":
            conf = self.workdir / "mosquitto.conf"
            data = self.workdir / "data"
            data.mkdir(exist_ok=True)
            lines = [
                "user root",
                f"listener {self.port} {self.host}",
                "allow_anonymous true",
                "max_queued_messages 0",
                "max_inflight_messages 0",
                f"persistence {'true' if self.persistence else 'false'}",
                f"persistence_location {data}/",
                f"log_dest file {self.workdir / 'mosquitto.log'}",
                "log_type error",
                "log_type warning",
                "log_type notice",
                self.extra_config,
            ]
            conf.write_text("\n".join(lines) + "\n")
            binary = mosquitto_binary() or "mosquitto"
            return [binary, "-c", str(conf)], self.workdir / "mosquitto.log"
        conf = self.workdir / "amqtt.yaml"
        conf.write_text(
            "listeners:\n"
            "  default:\n"
            "    type: tcp\n"
            f"    bind: {self.host}:{self.port}\n"
            "plugins:\n"
            "  amqtt.plugins.authentication.AnonymousAuthPlugin:\n"
            "    allow_anonymous: false\n"
        )
        cmd = [sys.executable, "-m", "amqtt.scripts.broker_script", "-c", str(conf)]
        return cmd, self.workdir / "amqtt.log"

    def start(self, timeout: float = 15.0) -> None:
        """Start the broker and wait until it accepts connections."""
        if self.proc is not None and self.proc.poll() is None:
            return
        cmd, logfile = self._config()
        out = logfile.open("ab")
        self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        out.close()
        if not wait_port(self.host, self.port, timeout):
            self.kill()
            tail = logfile.read_text(errors="replace")[-2000:] if logfile.exists() else ""
            raise BrokerError(f"{self.kind} did not listen on {self.host}:{self.port}: {tail}")
        log.info("%s broker ready on %s:%s (pid %s)", self.kind, self.host, self.port, self.proc.pid)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop gracefully with SIGTERM (Mosquitto then saves its persistence file)."""
        self._signal(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """SIGKILL: the broker dies with whatever it held in memory."""
        self._signal(signal.SIGKILL, 10.0)

    def restart(self, hard: bool = False) -> None:
        """Stop (or kill) and start again on the same port and data dir."""
        self.kill() if hard else self.stop()
        self.start()

    def _signal(self, sig: signal.Signals, timeout: float) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("broker pid %s ignored %s; killing", proc.pid, sig.name)
            proc.kill()
            proc.wait(timeout)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None
