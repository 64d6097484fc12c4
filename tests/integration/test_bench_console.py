"""``bench/bench_console.py --quick`` runs (a small history, every console page timed) and prints
its table; it never writes bench/RESULTS.md."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(600)
def test_console_bench_quick_prints_a_row_per_page() -> None:
    results = ROOT / "bench" / "RESULTS.md"
    before = results.read_text() if results.exists() else None
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_console.py"), "--quick"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    rows = [line for line in lines if line.startswith("| ") and " ms |" in line]
    labels = {row.split(" | ")[0].lstrip("| ") for row in rows}
    assert "GET /health (raw baseline)" in labels
    for page in ("console: plant", "console: cost", "console: margin", "console: executive summary",
                 "API: GET /reports/margin", "API: GET /reports/executive-summary"):
        assert page in labels, done.stdout
    assert "not written to bench/RESULTS.md" in done.stdout
    assert (results.read_text() if results.exists() else None) == before
