"""The outbox seen from the event loop: SQLite work on one thread, writes grouped by a window.

Derived entries are collected for ``commit_window_ms`` and written in one transaction, so a
burst of a thousand readings costs one fsync, not a thousand. A failed write (disk full, I/O
error) is never dropped: the group is kept, the condition alarmed and retried with backoff —
the in-memory counter marks are already ahead, so losing the group would lose counts.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from edge.errors import OutboxError
from edge.outbox import Entry, Outbox, OutboxStats

__all__ = ["OutboxStore"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class OutboxStore:
    """Async face of an :class:`Outbox`: one worker thread, grouped commits, budget alarm."""

    def __init__(self, outbox: Outbox, commit_window_ms: int = 50, on_stored: Callable[[], None] | None = None) -> None:
        self._outbox = outbox
        self._window = commit_window_ms / 1000
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="edge-outbox")
        self._pending: list[Entry] = []
        self._pending_since = 0.0
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self.on_stored = on_stored
        self.events_written = 0
        self.commits = 0
        self.write_error = ""
        self.over_budget = False

    @property
    def stream(self) -> str:
        return self._outbox.stream

    def last_seq(self) -> int:
        return self._outbox.last_seq

    def acked_through(self) -> int:
        return self._outbox.acked_through

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    # ------------------------------------------------------------------ writes

    def add(self, entries: Sequence[Entry]) -> None:
        """Queue derived entries for the next grouped commit."""
        if not entries:
            return
        if not self._pending:
            self._pending_since = time.monotonic()
        self._pending.extend(entries)
        self._idle.clear()
        self._wake.set()

    async def run(self) -> None:
        """Commit queued entries every window until cancelled (then commit what is left)."""
        delay = 0.1
        try:
            while True:
                if not self._pending:
                    self._idle.set()
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                wait = self._pending_since + self._window - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if await self._commit():
                    delay = 0.1
                else:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
        finally:
            if self._pending:
                await self._commit()

    async def _commit(self) -> bool:
        group, self._pending = self._pending, []
        try:
            written = await self._run(self._outbox.append, group)
        except OutboxError as exc:
            self._pending = group + self._pending  # keep every event; retry
            if self.write_error != str(exc):
                log.error("outbox write failed, keeping %d entries in memory and retrying: %s", len(group), exc)
            self.write_error = str(exc)
            return False
        if self.write_error:
            log.info("outbox writes work again (was: %s)", self.write_error)
            self.write_error = ""
        self._pending_since = time.monotonic()
        self.events_written += written
        self.commits += 1
        self._check_budget()
        if written and self.on_stored is not None:
            self.on_stored()
        return True

    def _check_budget(self) -> None:
        ob = self._outbox
        over = ob.last_seq - ob.acked_through > ob.max_rows or ob.bytes > ob.max_bytes
        if over and not self.over_budget:
            log.error(
                "outbox over its budget (%d rows / %d bytes; budget %d rows / %d bytes): "
                "keeping every event, but central has not acked for a while — check the broker link and disk",
                ob.last_seq - ob.acked_through, ob.bytes, ob.max_rows, ob.max_bytes,
            )
        elif not over and self.over_budget:
            log.info("outbox back within its budget")
        self.over_budget = over

    async def drained(self, timeout: float | None = None) -> bool:
        """Wait until every queued entry is committed."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    @property
    def queued(self) -> int:
        return len(self._pending)

    # ------------------------------------------------------------------ forwarder port

    async def pending(self, after: int, limit: int, max_bytes: int) -> list[tuple[int, bytes]]:
        return await self._run(self._outbox.pending, after, limit, max_bytes)

    async def ack(self, through: int) -> int:
        deleted = await self._run(self._outbox.ack, through)
        self._check_budget()
        return deleted

    async def stats(self) -> OutboxStats:
        return await self._run(self._outbox.stats)

    async def set_meta(self, key: str, value: str) -> None:
        await self._run(self._outbox.set_meta, key, value)

    async def close(self) -> None:
        await self._run(self._outbox.close)
        self._executor.shutdown(wait=True)
