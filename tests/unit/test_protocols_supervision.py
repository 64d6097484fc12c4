"""Backoff grows and resets; conditions are logged once per change, once on recovery."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest

from protocols.supervision import Backoff, ConditionLog

log = logging.getLogger("test.protocols.supervision")


def test_backoff_grows_to_the_cap_and_resets() -> None:
    backoff = Backoff(0.5, 8.0)
    delays = [backoff.next_delay() for _ in range(10)]
    assert all(0.5 <= d <= 8.0 for d in delays)
    assert delays[-1] == 8.0 and delays[0] < 2.0  # 0.5 + jitter at most 0.5
    backoff.reset()
    assert backoff.next_delay() < 2.0


def test_condition_logged_once_until_it_changes_or_clears(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=log.name)
    conditions = ConditionLog(log, "plc-1")
    for _ in range(100):
        conditions.raise_("tag a", "tag a: exception 2")
    conditions.raise_("tag a", "tag a: exception 4")
    conditions.clear("tag a", "tag a good again")
    conditions.clear("tag a", "tag a good again")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "source plc-1: tag a: exception 2",
        "source plc-1: tag a: exception 4",
        "source plc-1: tag a good again",
    ]
    assert not conditions.active("tag a")


async def test_deliver_survives_a_failing_sink_and_says_so_once(caplog: pytest.LogCaptureFixture) -> None:
    from datetime import UTC, datetime

    from protocols.base import Quality, TagReading
    from protocols.supervision import deliver

    caplog.set_level(logging.INFO, logger=log.name)
    conditions = ConditionLog(log, "plc-1")
    got: list[str] = []
    fail = True

    async def sink(snapshot: Sequence[TagReading]) -> None:
        if fail:
            raise RuntimeError("outbox full")
        got.extend(r.tag for r in snapshot)

    now = datetime.now(UTC)
    reading = TagReading("good", 1, now, Quality.GOOD, "e1", now)
    assert [await deliver(sink, [reading], conditions) for _ in range(3)] == [False, False, False]
    fail = False
    assert await deliver(sink, [reading], conditions)
    assert await deliver(sink, [], conditions)  # nothing to deliver: not handed to the sink
    assert got == ["good"]
    assert caplog.text.count("sink failed on tag good") == 1
    assert caplog.text.count("sink accepts readings again") == 1
