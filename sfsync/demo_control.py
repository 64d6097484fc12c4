"""The running demo's control port: ``sfsync demo cut --seconds 20`` cuts the edge off the broker.

The demo listens on a free local port and writes ``control.json`` (port and pid) into its data
directory; ``sfsync demo cut`` reads that file and POSTs ``/cut?seconds=N``. The cut goes
through :class:`sfsync.proxy.TcpProxy` between the edge and the broker, and heals by itself
after N seconds: the edge's backlog grows while it is cut and drains when it heals.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from sfsync.proxy import TcpProxy

log = logging.getLogger(__name__)

__all__ = ["LinkControl", "ControlServer", "CONTROL_FILE", "request_cut", "MAX_CUT_SECONDS"]

CONTROL_FILE = "control.json"
MAX_CUT_SECONDS = 3600.0


class LinkControl:
    """Cut and heal the edge-to-broker link; remembers when a timed cut heals."""

    def __init__(self, proxy: TcpProxy) -> None:
        self.proxy = proxy
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self.heal_at: float | None = None  # time.monotonic() when the current cut heals
        self.cuts = 0

    def cut(self, seconds: float) -> None:
        if not 0 < seconds <= MAX_CUT_SECONDS:
            raise ValueError(f"seconds must be in (0, {MAX_CUT_SECONDS:.0f}], not {seconds}")
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self.proxy.cut()
            self.cuts += 1
            self.heal_at = time.monotonic() + seconds
            self._timer = threading.Timer(seconds, self.heal)
            self._timer.daemon = True
            self._timer.start()
        log.info("edge link cut for %.0f s", seconds)

    def heal(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self.heal_at = None
            self.proxy.heal()
        log.info("edge link healed")

    @property
    def state(self) -> str:
        """``up`` or ``CUT (heals in N s)`` for the terminal view."""
        heal_at = self.heal_at
        if heal_at is None:
            return "up"
        return f"CUT (heals in {max(0.0, heal_at - time.monotonic()):.0f} s)"

    def close(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None


class ControlServer:
    """A tiny HTTP server on 127.0.0.1: ``POST /cut?seconds=N``, ``POST /heal``, ``GET /status``."""

    def __init__(self, link: LinkControl, data_dir: Path) -> None:
        self.link = link
        self.path = data_dir / CONTROL_FILE
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                log.debug("control: " + format, *args)

            def _reply(self, status: int, body: dict[str, object]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if urllib.parse.urlsplit(self.path).path == "/status":
                    self._reply(200, {"link": server.link.state, "cuts": server.link.cuts})
                else:
                    self._reply(404, {"error": "unknown path"})

            def do_POST(self) -> None:
                parts = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(parts.query)
                if parts.path == "/cut":
                    try:
                        seconds = float(query.get("seconds", ["20"])[0])
                        server.link.cut(seconds)
                    except ValueError as exc:
                        self._reply(400, {"error": str(exc)})
                        return
                    self._reply(200, {"link": server.link.state})
                elif parts.path == "/heal":
                    server.link.heal()
                    self._reply(200, {"link": server.link.state})
                else:
                    self._reply(404, {"error": "unknown path"})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port: int = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="demo-control", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self.path.write_text(json.dumps({"port": self.port, "pid": os.getpid()}))

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.link.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def request_cut(data_dir: Path, seconds: float) -> str:
    """Ask the demo running on ``data_dir`` to cut the edge link; returns its answer."""
    path = data_dir / CONTROL_FILE
    try:
        info = json.loads(path.read_text())
        port = int(info["port"])
    except FileNotFoundError:
        raise RuntimeError(f"no demo is running on {data_dir} ({path} does not exist)") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise RuntimeError(f"{path} is unreadable: {exc}") from exc
    try:
        resp = httpx.post(f"http://127.0.0.1:{port}/cut", params={"seconds": str(seconds)}, timeout=10.0)
    except httpx.HTTPError as exc:
        raise RuntimeError(f"the demo's control port {port} does not answer ({exc}); is the demo running?") from exc
    body = resp.json()
    if resp.status_code != 200:
        raise RuntimeError(str(body.get("error", body)))
    return str(body.get("link"))
