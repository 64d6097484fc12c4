"""Every benchmark with a ``--quick`` size runs it: it exits 0, prints its table, and leaves
bench/RESULTS.md alone. A smoke check of ``make bench`` inside ``make test``: it asserts that each
benchmark runs and prints its table, never a speed (machines are shared and noisy).

The benchmarks are found, not listed: every ``bench/bench_*.py`` whose argument parser has a
``--quick`` option. They run at the same time (separate processes, free ports, their own
temporary directories). They run from a copy of ``bench/`` beside links to the rest of the
checkout, so a quick run that wrote RESULTS.md would change the copy (caught here) and never the
real file, and a full benchmark another process runs meanwhile cannot make this test fail.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
QUICK = re.compile(r"add_argument\(\s*[\"']--quick[\"']")
TABLE_RULE = re.compile(r"^\|(-+\|)+\s*$", re.M)


OWN_TESTS = frozenset({"bench_ingest.py", "bench_console.py", "bench_scenarios.py"})
"""Quick benchmarks with a test of their own (test_bench_ingest.py, test_bench_console.py,
test_bench_scenarios.py): not run twice."""


def quick_benchmarks() -> list[Path]:
    return sorted(p for p in BENCH.glob("bench_*.py") if QUICK.search(p.read_text()) and p.name not in OWN_TESTS)


def mirror(dst: Path) -> Path:
    """``dst`` with a copy of bench/ and a link to every other top-level entry of the checkout."""
    dst.mkdir()
    for entry in ROOT.iterdir():
        if entry.name == "bench":
            shutil.copytree(entry, dst / "bench", ignore=shutil.ignore_patterns("__pycache__"))
        elif not entry.name.startswith("."):
            (dst / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    return dst


def run_quick(root: Path, script: Path) -> tuple[Path, int, str, str, float]:
    t0 = time.monotonic()
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.run([sys.executable, str(root / "bench" / script.name), "--quick"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=270)
    return script, proc.returncode, proc.stdout, proc.stderr, time.monotonic() - t0


@pytest.mark.timeout(300)
def test_every_benchmark_runs_at_its_quick_size_and_prints_its_table(tmp_path: Path) -> None:
    scripts = quick_benchmarks()
    mine = {"bench_backlog.py", "bench_latency.py", "bench_tags.py", "bench_outage_fleet.py"}
    assert mine <= {s.name for s in scripts}, f"the issue-16 benchmarks lost --quick: {[s.name for s in scripts]}"
    root = mirror(tmp_path / "checkout")
    results_md = root / "bench" / "RESULTS.md"
    before = results_md.read_bytes() if results_md.exists() else None
    with ThreadPoolExecutor(max_workers=len(scripts)) as pool:
        results = list(pool.map(lambda script: run_quick(root, script), scripts))
    problems = []
    for script, code, out, err, _took in results:
        if code != 0:
            problems.append(f"{script.name} --quick exited {code}:\n{out[-1500:]}\n{err[-2500:]}")
        elif not TABLE_RULE.search(out):
            problems.append(f"{script.name} --quick printed no table:\n{out[-1500:]}")
    assert problems == [], "\n\n".join(problems)
    after = results_md.read_bytes() if results_md.exists() else None
    assert after == before, "a --quick run changed bench/RESULTS.md"
    print("; ".join(f"{s.name} {took:.0f} s" for s, _c, _o, _e, took in results))
