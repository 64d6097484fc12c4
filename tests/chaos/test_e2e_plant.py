"""sim -> edge -> broker -> central with the broker killed and the edge kill -9'd: central's totals equal the truth log.

The whole system runs as in ``sfsync demo`` (separate processes on free ports, the edge behind the
fault proxy). Mid-run the broker is killed with SIGKILL and restarted on the same port (amqtt loses
every queue and session: only the edge's outbox and central's ack protect the data), and the edge
process is SIGKILLed and restarted (its outbox and counter state survive on disk). Production then
stops (the simulated PLCs keep serving their last values) and central's per-machine good and scrap
totals must equal the simulator's truth log exactly: nothing lost, nothing twice. (Units made
before the edge's first read of a counter are not the edge's to count: its ``baseline`` event
names that counter value, and the truth log's units up to it are left out.)
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.demo import all_items, baselines, central_totals, truth_totals

from sfsync.demo_procs import DemoError, log_tail, wait_ready
from sfsync.demo_run import Demo, DemoOptions
from sfsync.demo_view import parse_metrics

pytestmark = [pytest.mark.chaos, pytest.mark.slow]


@pytest.fixture
def plant(tmp_path: Path) -> Iterator[Demo]:
    demo = Demo(
        DemoOptions(data_dir=tmp_path / "plant", mode="fresh", broker="amqtt", sim_run_for_s=45.0, master_data=False),
        io.StringIO(),
    )
    try:
        demo.start()
        yield demo
    finally:
        problems = demo.stop()
        assert problems == [], problems


def _diagnosis(demo: Demo) -> str:
    """What the edge last saw per tag vs. what the PLCs serve now, plus the logs' ends (for a failure message)."""
    from edge.config import load_edge_settings
    from protocols.opcua import OpcUaSource

    parts: list[str] = []
    try:
        health = httpx.get(f"{demo.edge_status}/health", timeout=5).json()
        parts.append("edge sources: " + json.dumps(health.get("sources"), sort_keys=True))
        parts.append("edge tag problems: " + json.dumps(health.get("tag_problems"), sort_keys=True))
    except (httpx.HTTPError, ValueError) as exc:
        parts.append(f"edge /health unreadable: {exc!r}")
    try:
        settings = load_edge_settings(demo.paths.config / "edge.toml")
        for cfg in settings.sources:
            if cfg.protocol == "opcua":
                rows = asyncio.run(OpcUaSource(cfg).probe())
                parts.append(f"fresh OPC UA read ({cfg.name}): " + ", ".join(f"{r.tag}={r.value!r}" for r in rows))
    except Exception as exc:  # noqa: BLE001 - diagnostics of a failure must not hide it
        parts.append(f"fresh OPC UA read failed: {exc!r}")
    for name in ("edge", "sim"):
        parts.append(f"--- {name} log:\n{log_tail(demo.paths.logs / f'{name}.log', 3000)}")
    return "\n".join(parts)


def _metric(demo: Demo, name: str) -> float | None:
    try:
        return parse_metrics(httpx.get(f"{demo.edge_status}/metrics", timeout=3).text).get(name)
    except httpx.HTTPError:
        return None


@pytest.mark.timeout(240)
def test_broker_killed_and_edge_killed_lose_and_duplicate_nothing(plant: Demo) -> None:
    http = httpx.Client(base_url=f"{plant.api}/api/v1", headers={"Authorization": f"Bearer {plant.token}"})
    events = lambda: all_items(http, "/events", "events")  # noqa: E731
    wait_ready("first events at central", lambda: len(events()) > 0, 60, list(plant.children.values()))

    assert plant.broker is not None
    plant.broker.kill()
    wait_ready("edge notices the broker is gone", lambda: _metric(plant, "sfsync_edge_mqtt_connected") == 0, 30)
    before = len(events())
    backlog = lambda: _metric(plant, "sfsync_edge_backlog_events") or 0  # noqa: E731
    wait_ready("backlog grows while the broker is down", lambda: backlog() > 0, 30)
    plant.broker.start()
    wait_ready("events flow again after the broker restart", lambda: len(events()) > before, 60)

    edge = plant.children["edge"]
    truth_path = plant.paths.truth
    truth_lines = lambda: len(truth_path.read_text().splitlines())  # noqa: E731
    lines_before = truth_lines()
    edge.kill()
    wait_ready("the plant produces while the edge is dead", lambda: truth_lines() > lines_before + 5, 30)
    edge.start()

    wait_ready("production ends", lambda: truth_totals(truth_path)[1], 120, [edge])
    got: dict[tuple[str, str], int] = {}
    truth: dict[tuple[str, str], int] = {}

    def converged() -> bool:
        nonlocal got, truth
        stored = events()
        got = central_totals(stored)
        truth = truth_totals(truth_path, baselines(stored))[0]
        return got == truth

    try:
        wait_ready("central's totals equal the truth log", converged, 90, [edge])
    except DemoError:
        pytest.fail(f"central {sorted(got.items())} != truth {sorted(truth.items())}\n{_diagnosis(plant)}")
    assert got == truth
    assert sum(truth.values()) > 0 and len({m for m, _ in truth}) == 4
