"""``bench/bench_scenarios.py --quick`` (issue 14's scenario set through the real edge: simulated
OPC UA PLCs, an edge agent, a broker behind a fault proxy, central's MQTT ingest) runs, prints its
table with a row per injected anomaly and its summary, and does not write bench/RESULTS.md. It
asserts that it runs and what it prints, never a speed or a detection result."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INJECTED = ("scrap 3x, 30 min", "cycle +25 %, 1 h", "edge cut off 15 min", "PO line 1 day late",
            "order run hours +20 % (3 h)", "material +15 % (2 h)")

pytestmark = pytest.mark.slow


@pytest.mark.timeout(300)
def test_scenario_bench_quick_prints_a_row_per_injection() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_scenarios.py"), "--quick"], cwd=ROOT,
                          capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line.split(" | ") for line in done.stdout.splitlines() if line.startswith("| ")]
    labels = {row[0].lstrip("| ") for row in rows}
    for name in INJECTED:
        assert name in labels, done.stdout
    by_name = {row[0].lstrip("| "): row for row in rows}
    for name in INJECTED:
        assert by_name[name][1] in ("detected", "missed"), by_name[name]
    assert any(row[0] == "| 1" for row in rows), done.stdout  # the summary row: one machine
    assert "false alarms / machine-week" in done.stdout and "(quick size)" in done.stdout
