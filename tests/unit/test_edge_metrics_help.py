"""The edge's metric help texts say what the numbers count."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from edge.agent import Agent
from edge.forwarder import ForwarderStats
from edge.outbox import OutboxStats


class FakeStore:
    events_written = 0
    write_error = ""

    async def stats(self) -> OutboxStats:
        return OutboxStats("s1", 0, 0, 0, 0, None, None, 10**9, 1000, 10**6)


def help_texts() -> dict[str, str]:
    agent: Any = Agent.__new__(Agent)
    agent.readings, agent.sources, agent.source_errors = 0, [], {}
    agent._store = FakeStore()
    agent._forwarder = SimpleNamespace(stats=ForwarderStats(resends=2))
    agent._deriver = SimpleNamespace(problems={})
    text = asyncio.run(agent._metrics()).decode()
    helps = [line.split(" ", 3)[2:] for line in text.splitlines() if line.startswith("# HELP ")]
    return {name: doc for name, doc in helps}


def test_resends_total_help_names_the_early_resend_after_a_reconnect() -> None:
    doc = help_texts()["sfsync_edge_resends_total"]
    assert "resend_timeout_s" in doc and "early" in doc and "connection" in doc, doc
