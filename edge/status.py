"""The agent's status endpoint: ``GET /health`` (JSON) and ``GET /metrics`` (Prometheus text,
built with :class:`shared.metrics.Exposition`, the renderer central uses too).

A deliberately tiny HTTP/1.1 server on asyncio (one request per connection): the edge box
should not carry a web framework for two read-only pages.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import orjson

__all__ = ["StatusServer"]

log = logging.getLogger(__name__)

Page = Callable[[], Awaitable[bytes]]


class StatusServer:
    """Serves ``/health`` and ``/metrics`` from callbacks; ``port=0`` picks a free port."""

    def __init__(self, host: str, port: int, health: Page, metrics: Page) -> None:
        self.host = host
        self.port = port
        self._pages: dict[str, tuple[Page, bytes]] = {
            "/health": (health, b"application/json"),
            "/metrics": (metrics, b"text/plain; version=0.0.4; charset=utf-8"),
        }
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("status endpoint listening on %s (/health, /metrics)", self.url)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), timeout=5)
            while True:  # skip headers
                line = await asyncio.wait_for(reader.readline(), timeout=5)
                if line in (b"\r\n", b"\n", b""):
                    break
            parts = request.decode("latin-1").split()
            path = parts[1].split("?", 1)[0] if len(parts) >= 2 else ""
            page = self._pages.get(path)
            if len(parts) < 2 or parts[0] != "GET":
                status, ctype, body = b"405 Method Not Allowed", b"text/plain", b"only GET\n"
            elif page is None:
                status, ctype, body = b"404 Not Found", b"text/plain", b"try /health or /metrics\n"
            else:
                status, ctype, body = b"200 OK", page[1], await page[0]()
        except (TimeoutError, ConnectionError, UnicodeDecodeError):
            writer.close()
            return
        except Exception as exc:  # a broken page must not kill the endpoint: answer 500, log
            log.exception("status page failed")
            status, ctype, body = b"500 Internal Server Error", b"text/plain", f"{exc!r}\n".encode()
        head = b"HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % (
            status, ctype, len(body))
        try:
            writer.write(head + body)
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()


def json_page(doc: object) -> bytes:
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
