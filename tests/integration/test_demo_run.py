"""``sfsync demo --duration 60`` end to end: data arrives through the printed API and token, the demo stops cleanly."""

from __future__ import annotations

import queue
import re
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from sfsync.broker import wait_port

pytestmark = [pytest.mark.slow]


def _pump(stream: Any, lines: queue.Queue[str], keep: list[str]) -> None:
    for line in stream:
        keep.append(line)
        lines.put(line)


def _wait_line(lines: queue.Queue[str], pattern: str, deadline: float, proc: subprocess.Popen[str]) -> re.Match[str]:
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1.0)
        except queue.Empty:
            assert proc.poll() is None, f"demo exited early with status {proc.returncode}"
            continue
        if m := re.search(pattern, line):
            return m
    raise AssertionError(f"no line matching {pattern!r} before the deadline")


@pytest.mark.timeout(240)
def test_demo_runs_and_stops_cleanly(tmp_path: Path) -> None:
    data = tmp_path / "demo-data"
    stderr = (tmp_path / "demo.stderr").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sfsync.cli", "demo", "--duration", "60", "--fresh", "--data-dir", str(data)],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    out: list[str] = []
    threading.Thread(target=_pump, args=(proc.stdout, lines, out), daemon=True).start()
    try:
        deadline = time.monotonic() + 120
        api = _wait_line(lines, r"API at (http://\S+)/api/v1", deadline, proc).group(1)
        token = _wait_line(lines, r"admin token: (\S+)", deadline, proc).group(1)
        http = httpx.Client(base_url=f"{api}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=10)

        assert http.get("/trial-balance").status_code == 200
        assert httpx.get(f"{api}/api/v1/trial-balance", timeout=10).status_code == 401  # the token matters

        cut = subprocess.run(
            [sys.executable, "-m", "sfsync.cli", "demo", "cut", "--seconds", "3", "--data-dir", str(data)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert cut.returncode == 0 and "CUT" in cut.stdout, cut.stderr

        seen: dict[str, Any] = {}
        demo_end = time.monotonic() + 75  # the demo runs 60 s after start-up
        while time.monotonic() < demo_end and proc.poll() is None:
            seen = _observe(http)
            if all(seen[k] for k in ("good", "scrap", "downtime", "journal")):
                break
            time.sleep(1.0)
        assert seen.get("good"), seen
        assert seen.get("scrap"), seen
        assert seen.get("downtime"), seen
        assert seen.get("journal"), seen
        tb = http.get("/trial-balance").json()
        assert Decimal(tb["total_debit"]) == Decimal(tb["total_credit"]) > 0, tb

        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(60)
        stderr.close()
    text = "".join(out)
    errors = (tmp_path / "demo.stderr").read_text()
    assert proc.returncode == 0, f"demo exited with {proc.returncode}\n{errors[-3000:]}"
    assert re.search(r"demo: t=\d+s good=\d+ scrap=\d+ .*balanced=yes", text), text[-2000:]
    assert "link=CUT" in text and "link=up" in text.split("link=CUT")[-1]  # cut, then healed
    assert f"stopped. Data in {data.resolve()}" in text
    assert not (data / "control.json").exists()
    port = int(api.rsplit(":", 1)[1])
    assert not wait_port("127.0.0.1", port, 0.5), "central still listens after the demo stopped"
    assert (data / "central" / "central.db").exists() and (data / "sim" / "truth.jsonl").stat().st_size > 0


def _observe(http: httpx.Client) -> dict[str, Any]:
    """What has arrived so far: good and scrap units, downtime rows, journal entries, balance."""
    events_count = http.get("/events", params={"kind": "count"})
    events_scrap = http.get("/events", params={"kind": "scrap"})
    downtime = http.get("/reports/downtime")
    journal = http.get("/journal")
    for resp in (events_count, events_scrap, downtime, journal):
        assert resp.status_code == 200, (resp.request.url, resp.status_code, resp.text[:500])
    return {
        "good": sum(int(e.get("qty") or 0) for e in _items(events_count.json())),
        "scrap": sum(int(e.get("qty") or 0) for e in _items(events_scrap.json())),
        "downtime": sum((Decimal(r["hours"]) for r in downtime.json()["rows"]), Decimal(0)) > 0,
        "journal": len(_items(journal.json())),
    }


def _items(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, list):
        return body
    for key in ("items", "events", "entries", "journal", "data"):
        if isinstance(body.get(key), list):
            return list(body[key])
    raise AssertionError(f"unexpected list response: {str(body)[:300]}")
