"""The truth log: one JSON object per line for everything the simulated machines really did.

Each batch of lines is written with one ``write`` and flushed (``fsync`` too with
``truth.fsync = true``), so a test that crashes still leaves a readable file whose last line
is complete. Keys appear in a fixed order and times are virtual, so one seed (and one
``clock.start``) gives a byte-identical file.

Line kinds (``t`` is the virtual time, UTC ISO 8601 with ms and ``Z``)::

    {"t": T, "machine": M, "kind": "start", "counter": G, "scrap_total": S}
    {"t": T, "machine": M, "kind": "count", "qty": 1, "counter": G}
    {"t": T, "machine": M, "kind": "scrap", "qty": 1, "reason": R, "counter": C, "scrap_total": S}
    {"t": T, "machine": M, "kind": "state", "state": ST, "reason": R}      # reason omitted if none
    {"t": T, "machine": M, "kind": "fault", "fault": F, "counter": G, "scrap_total": S}
    {"t": T, "kind": "fault", "fault": F, "machine"?: M, "protocol"?: P}     # server-side faults
    {"t": T, "kind": "end"}

``count`` lines are good units (``counter`` = good counter after it); ``scrap`` lines are
scrapped units (``counter`` = that reason's scrap counter after it, ``scrap_total`` = the total
scrap counter). ``sum(qty)`` per machine and kind equals the counter increase the PLC showed,
whatever the counters did (wrap, reset). A ``state`` line starts an interval that lasts until
the machine's next ``state`` line or the ``end`` line. ``fault`` lines with ``counter`` are
model faults (counters jumped without units); the others record what the servers did.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from device_sim.model import SimEvent
from shared.contract import format_ts

__all__ = ["TruthLog", "event_record", "iso_ms", "read_truth"]

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso_ms(t_ms: int) -> str:
    """Unix milliseconds to ``2026-11-25T06:00:00.000Z``."""
    return format_ts(_EPOCH + timedelta(milliseconds=t_ms))


def event_record(ev: SimEvent) -> dict[str, Any]:
    """The truth-log object for one model event (key order is part of the format)."""
    rec: dict[str, Any] = {"t": iso_ms(ev.t), "machine": ev.machine, "kind": ev.kind}
    if ev.kind == "count":
        rec["qty"] = ev.qty
        rec["counter"] = ev.good
    elif ev.kind == "scrap":
        rec["qty"] = ev.qty
        rec["reason"] = ev.reason
        rec["counter"] = ev.scrap_counter
        rec["scrap_total"] = ev.scrap_total
    elif ev.kind == "state":
        rec["state"] = ev.state
        if ev.reason is not None:
            rec["reason"] = ev.reason
    else:  # start, fault
        if ev.fault is not None:
            rec["fault"] = ev.fault
        rec["counter"] = ev.good
        rec["scrap_total"] = ev.scrap_total
    return rec


def _line(rec: dict[str, Any]) -> str:
    return json.dumps(rec, separators=(", ", ": "), ensure_ascii=False) + "\n"


class TruthLog:
    """Appends truth lines to ``path`` (``None``: counts lines, writes nothing)."""

    def __init__(self, path: Path | None, fsync: bool = False) -> None:
        self.path = path
        self.fsync = fsync
        self.lines = 0
        self._fh: IO[str] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = path.open("w", encoding="utf-8")

    def write_events(self, events: Iterable[SimEvent]) -> None:
        self.write_records(event_record(ev) for ev in events)

    def write_records(self, records: Iterable[dict[str, Any]]) -> None:
        text = "".join(_line(r) for r in records)
        if not text:
            return
        self.lines += text.count("\n")
        if self._fh is None:
            return
        self._fh.write(text)
        self._fh.flush()
        if self.fsync:
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None
            log.info("truth log %s: %s lines", self.path, self.lines)


def read_truth(path: Path) -> list[dict[str, Any]]:
    """Parse a truth file (every line must be complete JSON)."""
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
