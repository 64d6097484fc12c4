"""Helpers for tests that use the simulated plant (device_sim): settings, truth-log sums, waits."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

from device_sim.config import SimSettings
from sfsync.broker import free_port

__all__ = ["plant_settings", "truth_lines", "truth_qty", "state_intervals", "PAST"]

#: a virtual start well in the past, so a fast clock ends before "now"
PAST = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=6)


def plant_settings(machines: list[dict[str, Any]], **over: Any) -> SimSettings:
    """Settings on free loopback ports, starting in the past at a high speed unless overridden."""
    doc: dict[str, Any] = {
        "seed": 7,
        "clock": {"start": PAST.isoformat(), "speed": 3600.0},
        "opcua": {"port": free_port()},
        "modbus": {"port": free_port()},
        "machines": machines,
    }
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(doc.get(key), dict):
            doc[key] = {**doc[key], **value}
        else:
            doc[key] = value
    return SimSettings.model_validate(doc)


def truth_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def truth_qty(lines: list[dict[str, Any]]) -> dict[tuple[str, str, str | None], int]:
    """sum(qty) per (machine, kind, reason) over count and scrap lines."""
    out: dict[tuple[str, str, str | None], int] = defaultdict(int)
    for rec in lines:
        if rec["kind"] in ("count", "scrap"):
            out[(rec["machine"], rec["kind"], rec.get("reason"))] += rec["qty"]
    return dict(out)


def state_intervals(lines: list[dict[str, Any]], machine: str) -> list[tuple[str, str | None, float]]:
    """(state, reason, seconds) per interval of one machine, closed by the next state or the end line."""
    marks = [r for r in lines if (r.get("machine") == machine and r["kind"] == "state") or r["kind"] == "end"]
    out = []
    for cur, nxt in pairwise(marks):
        if cur["kind"] == "end":
            break
        secs = (datetime.fromisoformat(nxt["t"]) - datetime.fromisoformat(cur["t"])).total_seconds()
        out.append((cur["state"], cur.get("reason"), secs))
    return out
