"""Stopping the agent is bounded: a task that ignores cancellation cannot keep it from stopping."""

from __future__ import annotations

import asyncio
import logging

import pytest

from edge.agent import _stop_tasks


async def _stubborn(release: asyncio.Event) -> None:
    while not release.is_set():
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            continue  # a badly behaved library: swallows cancellation


@pytest.mark.timeout(30)
async def test_stop_tasks_returns_after_its_bound_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    release = asyncio.Event()
    stubborn = asyncio.create_task(_stubborn(release))
    polite = asyncio.create_task(asyncio.sleep(3600))
    await asyncio.sleep(0)
    with caplog.at_level(logging.WARNING):
        await _stop_tasks("PLC sources", [stubborn, polite], 0.2)
    assert polite.cancelled()
    assert not stubborn.done()
    assert "PLC sources did not stop within" in caplog.text
    release.set()
    stubborn.cancel()
    await asyncio.wait([stubborn], timeout=5)


@pytest.mark.timeout(30)
async def test_stop_tasks_reports_a_task_that_failed(caplog: pytest.LogCaptureFixture) -> None:
    async def boom() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise RuntimeError("teardown failed") from None

    task = asyncio.create_task(boom())
    await asyncio.sleep(0)
    with caplog.at_level(logging.ERROR):
        await _stop_tasks("forwarder", [task], 5)
    assert "forwarder ended with an error while stopping" in caplog.text
    assert "teardown failed" in caplog.text
