"""A small TCP proxy that can cut, black-hole and heal a connection on demand.

There is no toxiproxy or netem on these machines (PITFALLS.md), so the demo and the chaos
tests put this proxy between an edge agent and the broker:

* ``cut()``   closes every open connection and refuses new ones (a pulled cable that the
  OS notices at once);
* ``blackhole()`` keeps connections open but silently drops bytes both ways (a hung
  network: only keep-alives notice);
* ``heal()``  accepts and forwards again.

It runs in its own thread with its own event loop, so synchronous tests and the demo's
terminal loop can drive it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import Literal

log = logging.getLogger(__name__)

__all__ = ["TcpProxy"]

Mode = Literal["open", "cut", "blackhole"]


class TcpProxy:
    """Forward ``listen_host:listen_port`` to ``target_host:target_port`` with fault switches."""

    def __init__(self, target_host: str, target_port: int, listen_host: str = "127.0.0.1", listen_port: int = 0):
        self.target = (target_host, target_port)
        self.listen_host = listen_host
        self.listen_port = listen_port
        self.mode: Mode = "open"
        self.connections_made = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy", daemon=True)
        self._started = False

    def start(self) -> TcpProxy:
        self._thread.start()
        self._started = True
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(10)
        return self

    async def _serve(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.listen_host, self.listen_port)
        self.listen_port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "cut":
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError as exc:
            log.warning("proxy cannot reach %s:%s: %s", *self.target, exc)
            writer.close()
            return
        self.connections_made += 1
        self._writers.update((writer, up_writer))
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        self._writers.difference_update((writer, up_writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                if self.mode == "open":
                    writer.write(data)
                    await writer.drain()
                elif self.mode == "cut":
                    break
                # blackhole: read and drop
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    def _set(self, mode: Mode) -> None:
        async def apply() -> None:
            self.mode = mode
            if mode == "cut":
                for w in list(self._writers):
                    w.close()

        asyncio.run_coroutine_threadsafe(apply(), self._loop).result(10)
        log.info("proxy %s:%s -> %s:%s now %s", self.listen_host, self.listen_port, *self.target, mode)

    def cut(self) -> None:
        self._set("cut")

    def blackhole(self) -> None:
        self._set("blackhole")

    def heal(self) -> None:
        self._set("open")

    def stop(self) -> None:
        if not self._started:
            return

        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for w in list(self._writers):
                w.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._started = False

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
