"""What every source's connection loop needs: backoff, log-once conditions, health updates.

Sources run forever in a loop of connect -> deliver -> lose -> back off; these small
pieces keep that loop honest without flooding logs (a PLC that is down for a night
writes two lines, not forty thousand).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from tenacity import RetryCallState, wait_exponential_jitter

from protocols.base import Quality, Sink, Snapshot, SourceHealth, TagReading

__all__ = ["Backoff", "ConditionLog", "deliver", "raise_if_cancelled", "record_health", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(UTC)


def raise_if_cancelled() -> None:
    """Raise the cancellation of the current task when a library swallowed it.

    On Python 3.11 ``asyncio.wait_for`` can turn a cancellation that arrives as its timeout fires
    into ``TimeoutError`` (gh-86296, fixed in 3.12). pymodbus waits for every response that way and
    reports the timeout as a read without response, so a stopped source whose PLC does not answer
    would reconnect forever and its stop would never end. The task still counts the request
    (``Task.cancelling()``): every source loop checks it after a failure and on every cycle."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class Backoff:
    """Exponential backoff with jitter (tenacity's strategy), reset after a good connection."""

    def __init__(self, min_s: float, max_s: float) -> None:
        self._wait = wait_exponential_jitter(multiplier=min_s, max=max_s, jitter=min_s, min=min_s)
        self._state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
        self._state.attempt_number = 0

    def next_delay(self) -> float:
        """Seconds to wait before the next attempt; grows with each call until :meth:`reset`."""
        self._state.attempt_number += 1
        return float(self._wait(self._state))

    def reset(self) -> None:
        self._state.attempt_number = 0


class ConditionLog:
    """Logs a condition once when it appears or changes, and once when it clears."""

    def __init__(self, logger: logging.Logger, source: str) -> None:
        self._logger = logger
        self._source = source
        self._active: dict[str, str] = {}

    def raise_(self, key: str, message: str, level: int = logging.WARNING) -> None:
        if self._active.get(key) != message:
            self._active[key] = message
            self._logger.log(level, "source %s: %s", self._source, message)

    def clear(self, key: str, message: str = "") -> None:
        if self._active.pop(key, None) is not None:
            self._logger.info("source %s: %s", self._source, message or f"{key} recovered")

    def active(self, key: str) -> bool:
        return key in self._active


def record_health(health: SourceHealth, reading: TagReading) -> None:
    """Per-tag quality, detail and last good time from one reading."""
    health.quality[reading.tag] = reading.quality
    health.detail[reading.tag] = reading.detail
    if reading.quality is Quality.GOOD:
        health.last_good[reading.tag] = reading.received


async def deliver(sink: Sink, snapshot: Snapshot, conditions: ConditionLog) -> bool:
    """Hand one snapshot (readings that arrived together) to the sink; a failing sink is logged once.

    An empty snapshot is not delivered (and counts as accepted). The sink is not ours: its
    failure must not end acquisition.
    """
    if not snapshot:
        return True
    try:
        await sink(snapshot)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - the sink is not ours; its failure must not end acquisition
        tags = ", ".join(r.tag for r in snapshot[:5]) + (", ..." if len(snapshot) > 5 else "")
        conditions.raise_("sink", f"sink failed on tag {tags}: {exc!r}", logging.ERROR)
        return False
    conditions.clear("sink", "sink accepts readings again")
    return True
