"""Timing helpers shared by the benchmarks: best per-call time over repeated runs."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any


def best_of(fn: Callable[[], object], repeat: int = 7, number: int = 20) -> float:
    """Best per-call seconds over ``repeat`` runs of ``number`` calls (least disturbed by noise)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


async def async_best_of(fn: Callable[[], Awaitable[Any]], repeat: int = 5, number: int = 40) -> float:
    """:func:`best_of` for a coroutine function: each call is awaited in turn."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            await fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best
