"""Poll a condition until it holds or a deadline passes: one meaning, a thread and a coroutine form.

The demo launcher waits for child processes to listen and the tests wait for events to arrive;
both used to carry their own loop, one returning ``False`` on timeout, one raising, one checking
the condition a last time after the deadline and one not. Here, in both forms:

- ``ready`` is called at once, then every ``interval`` seconds;
- the last call is made at or after the deadline, so a condition that became true during the
  last sleep is not reported as a timeout;
- success returns ``None``; a timeout raises :class:`WaitTimeout` naming ``what`` was awaited,
  plus ``detail`` when given: a text, or a callable read at the timeout (the state that did not
  match);
- an exception raised by ``ready`` propagates at once: a dead child process is not a timeout.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable

__all__ = ["WaitTimeout", "wait_until", "wait_until_async"]

Detail = str | Callable[[], object]


class WaitTimeout(TimeoutError):
    """What was awaited did not happen in time (an ``AssertionError`` would vanish under ``-O``)."""

    def __init__(self, what: str, timeout: float, detail: str | None = None) -> None:
        self.what = what
        self.timeout = timeout
        message = f"timed out after {timeout:g} s waiting for {what}"
        super().__init__(f"{message}: {detail}" if detail is not None else message)


def _fail(what: str, timeout: float, detail: Detail | None) -> WaitTimeout:
    if detail is None or isinstance(detail, str):
        return WaitTimeout(what, timeout, detail)
    return WaitTimeout(what, timeout, str(detail()))


def wait_until(
    what: str, ready: Callable[[], object], timeout: float, *, interval: float = 0.05, detail: Detail | None = None
) -> None:
    """Block this thread until ``ready()`` is truthy; raise :class:`WaitTimeout` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() >= deadline:
            raise _fail(what, timeout, detail)
        time.sleep(interval)


async def wait_until_async(
    what: str,
    ready: Callable[[], object | Awaitable[object]],
    timeout: float,
    *,
    interval: float = 0.05,
    detail: Detail | None = None,
) -> None:
    """:func:`wait_until` without blocking the event loop; ``ready`` may be a coroutine function."""
    deadline = time.monotonic() + timeout
    while True:
        result = ready()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() >= deadline:
            raise _fail(what, timeout, detail)
        await asyncio.sleep(interval)
