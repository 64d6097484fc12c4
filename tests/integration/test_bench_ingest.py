"""``bench/bench_ingest.py --quick`` (issue 16, benchmark 1 at smoke size) runs through a real
broker and ``central serve`` processes, ingest alone and with postings, and prints its table
beside the raw baseline; it never writes bench/RESULTS.md. A speed is never asserted."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(600)
def test_ingest_bench_quick_prints_ingest_alone_and_with_postings_beside_the_raw_insert() -> None:
    results = ROOT / "bench" / "RESULTS.md"
    before = results.read_text() if results.exists() else None
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_ingest.py"), "--quick"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert any(line.startswith("| database | processes | ingest alone") for line in lines), done.stdout
    (row,) = [line for line in lines if line.startswith("| SQLite |")]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert len(cells) == 7, row
    number = re.compile(r"^[0-9][0-9,]*(\.[0-9]+)?$")
    assert all(number.match(c) for c in cells[1:]), row  # every rate and ratio was measured
    assert (results.read_text() if results.exists() else None) == before
