"""Scale benchmark 4 (issue 16): report latency over a one-day window with 1M and with 10M stored
events, beside a raw baseline measured in the same run.

Each size gets a fresh migrated SQLite database with the demo master data, then machine events
written straight into ``events`` and ``event_postings`` with ``executemany`` (not through the
ingest: the figure is the report's read, not the build), at the same density per day for every size
(``--per-day`` events a day over 4 machines), so a one-day window holds the same rows whether the
history is 1M or 10M events long: only the history before the window grows. A machine's stream is
runs of ~10 min with a stop (equipment failure, material shortage or a planned break) between, a
unit every cycle (1 in 20 scrapped); one work order per machine per day, dispatched for the day.

Timed over the last full day, ``--repeat`` times each (median): OEE of the plant (every machine),
downtime, cost of quality, and OEE of each machine one by one (the console's plant page). The raw
baseline is ``SELECT`` of the window's ``event_postings`` rows (every column, all machines) with
the driver alone. Goal: each report at 10M <= 1.5x its time at 1M.

Not in this benchmark: variances and the trial balance (they read journal lines, which this
history has none of; see bench/RESULTS.md).

``--quick`` (smoke test): 20k and 200k events, 3 repeats; prints the table, never writes RESULTS.md.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.results import table
from bench.scale_common import publish

TITLE = "Scale 4: report latency over a one-day window, 1M vs 10M events"
MACHINES = {"PRESS-1": "BR-100", "PRESS-2": "PL-200", "CNC-1": "SH-300", "CNC-2": "SH-300"}
DEMO_MASTER = Path(__file__).resolve().parents[1] / "central" / "demo_master.yaml"
CHUNK = 50_000
STOPS = [("down", "EQ_FAIL"), ("idle", "MAT_SHORT"), ("idle", "BREAK")]


def _day0(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def _rows(n: int, per_day: int, end: datetime, seed: int) -> Iterator[tuple[str, datetime, str, int, str | None,
                                                                            str | None, str | None]]:
    """(machine, ts, kind, qty, state, reason, work_order) of ``n`` events ending at ``end``, in time order
    per machine; ``per_day`` events a day over the machines."""
    rnd = random.Random(seed)
    per_machine = n // len(MACHINES)
    step = timedelta(seconds=86_400 * len(MACHINES) / per_day)
    start = end - step * per_machine
    for machine in MACHINES:
        ts = start
        left = per_machine
        while left > 0:
            yield machine, ts, "state", 0, "running", None, None
            left -= 1
            run_units = min(left, int(600 / step.total_seconds()) + rnd.randint(-5, 5))
            for _ in range(max(run_units, 0)):
                ts += step
                kind = "scrap" if rnd.random() < 0.05 else "count"
                yield machine, ts, kind, 1, None, ("BURR" if kind == "scrap" else None), f"WO-{machine}-{ts:%Y%m%d}"
                left -= 1
            if left <= 0:
                break
            ts += step
            state, reason = rnd.choice(STOPS)
            yield machine, ts, "state", 0, state, reason, None
            left -= 1
            ts += step * rnd.randint(1, 20)


def _load_events(db_path: Path, n: int, per_day: int, end: datetime) -> None:
    """``events`` and ``event_postings`` rows by the driver's ``executemany`` (timestamps in the form
    the ORM stores on SQLite: naive UTC text), their indexes dropped during the load and rebuilt after."""
    con = sqlite3.connect(db_path)
    try:
        indexes = con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND "
                              "tbl_name IN ('events', 'event_postings')").fetchall()
        for name, _sql in indexes:
            con.execute(f'DROP INDEX "{name}"')
        con.execute("PRAGMA synchronous = OFF")
        seqs = dict.fromkeys(MACHINES, 0)
        batch_e: list[tuple[object, ...]] = []
        batch_p: list[tuple[object, ...]] = []

        def flush() -> None:
            con.executemany("INSERT INTO events (id, plant, edge, stream, seq, status, machine, kind, ts, received, "
                            "accepted_at, qty, state, reason, flags) VALUES "
                            "(?, 'P1', 'edge-1', ?, ?, 'accepted', ?, ?, ?, ?, ?, ?, ?, ?, '[]')", batch_e)
            con.executemany("INSERT INTO event_postings (event_id, machine, kind, ts, qty, state, reason, work_order, "
                            "status, late) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'posted', 0)", batch_p)
            batch_e.clear()
            batch_p.clear()

        for event_id, (machine, ts, kind, qty, state, reason, wo) in enumerate(_rows(n, per_day, end, 7), 1):
            seqs[machine] += 1
            text = ts.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
            batch_e.append((event_id, f"s-{machine}", seqs[machine], machine, kind, text, text, text, qty, state,
                            reason))
            batch_p.append((event_id, machine, kind, text, qty, state, reason, wo))
            if len(batch_e) >= CHUNK:
                flush()
        flush()
        for _name, sql in indexes:
            con.execute(sql)
        con.execute("ANALYZE")
        con.commit()
    finally:
        con.close()


def build(db_path: Path, n: int, per_day: int, end: datetime) -> tuple[Any, float]:
    """A migrated database holding ``n`` events; returns the container and the build seconds."""
    from sqlalchemy import insert

    from central.adapters.db.models_costing import DispatchRow, WorkOrderRow
    from central.bootstrap import bootstrap
    from central.config import CentralSettings, DatabaseSettings
    from central.service_layer.costing.master_data import load_file

    t0 = time.perf_counter()
    container = bootstrap(CentralSettings(database=DatabaseSettings(url=f"sqlite:///{db_path}")), migrate=True)
    with container.write_sessions() as s, s.begin():
        load_file(s, DEMO_MASTER, "bench")
    days = n // per_day + 2
    first = _day0(end) - timedelta(days=days)
    with container.write_sessions() as s, s.begin():
        orders, dispatches = [], []
        for d in range(days + 1):
            day = first + timedelta(days=d)
            for machine, item in MACHINES.items():
                wo = f"WO-{machine}-{day:%Y%m%d}"
                orders.append({"id": wo, "item": item, "qty": Decimal(100_000), "status": "released",
                               "machine": machine, "created": day, "created_by": "bench", "accruals": {}})
                dispatches.append({"work_order": wo, "machine": machine, "start": day,
                                   "end": day + timedelta(days=1), "created_by": "bench"})
        s.execute(insert(WorkOrderRow), orders)
        s.execute(insert(DispatchRow), dispatches)
    container.dispose()
    _load_events(db_path, n, per_day, end)
    container = bootstrap(CentralSettings(database=DatabaseSettings(url=f"sqlite:///{db_path}")))
    return container, time.perf_counter() - t0


def timed(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up (master-data snapshot cache, page cache)
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def measure(container: Any, db_path: Path, window: tuple[datetime, datetime], now: datetime,
            repeat: int) -> dict[str, float]:
    from central.service_layer.costing import reports

    w = reports.Window(*window)
    lo, hi = (t.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds") for t in window)

    def raw() -> object:
        con = sqlite3.connect(db_path)
        try:
            return con.execute("SELECT * FROM event_postings WHERE machine IN (?, ?, ?, ?) AND ts >= ? AND ts < ?",
                               (*MACHINES, lo, hi)).fetchall()
        finally:
            con.close()

    def run(fn: Callable[[Any], object]) -> Callable[[], object]:
        def go() -> object:
            with container.read_sessions() as s:
                return fn(s)
        return go

    clock = lambda: now  # noqa: E731
    out = {
        "raw SELECT of the window's rows (baseline)": timed(raw, repeat),
        "OEE, plant": timed(run(lambda s: reports.oee(s, w, None, clock=clock)), repeat),
        "OEE, each machine": timed(run(lambda s: [reports.oee(s, w, m, clock=clock) for m in MACHINES]), repeat),
        "downtime": timed(run(lambda s: reports.downtime(s, w, None, clock=clock)), repeat),
        "cost of quality": timed(run(lambda s: reports.cost_of_quality(s, w, None)), repeat),
    }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000000,10000000", help="stored events, comma-separated (two)")
    parser.add_argument("--per-day", type=int, default=20_000, help="events a day (all machines)")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per report (median)")
    parser.add_argument("--quick", action="store_true", help="smoke test: 20k and 200k events")
    args = parser.parse_args()
    sizes = [20_000, 200_000] if args.quick else [int(x) for x in args.sizes.split(",")]
    per_day = 2_000 if args.quick else args.per_day
    repeat = 3 if args.quick else args.repeat
    now = _day0(datetime.now(UTC)) + timedelta(hours=6)
    window = (_day0(now) - timedelta(days=1), _day0(now))
    results: list[dict[str, float]] = []
    builds: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = Path(tmp) / f"reports-{n}.db"
            print(f"building {n:,} events ...", flush=True)
            container, secs = build(path, n, per_day, window[1])
            builds.append(secs)
            print(f"built in {secs:.0f} s; timing", flush=True)
            try:
                results.append(measure(container, path, window, now, repeat))
            finally:
                container.dispose()
    small, big = results[0], results[-1]
    base_s, base_b = (r["raw SELECT of the window's rows (baseline)"] for r in (small, big))
    rows: list[list[object]] = []
    for name in small:
        ratio = big[name] / small[name]
        rows.append([name, f"{small[name] * 1000:.1f} ms", f"{big[name] * 1000:.1f} ms",
                     f"{small[name] / base_s:.1f}x", f"{big[name] / base_b:.1f}x", f"{ratio:.2f}x",
                     "" if name.startswith("raw") else ("yes" if ratio <= 1.5 else "NO")])
    head = (f"SQLite, demo master data (4 machines), {per_day:,} events a day (the same one-day window in every "
            f"size), events written with executemany ({sizes[0]:,}: {builds[0]:.0f} s, {sizes[-1]:,}: "
            f"{builds[-1]:.0f} s). Window: the last full day; median of {repeat} runs after a warm-up. "
            "Goal: each report at the large size <= 1.5x its time at the small.\n\n")
    body = head + table(["read over one day", f"{sizes[0]:,} events", f"{sizes[-1]:,} events",
                         "vs baseline (small)", "vs baseline (large)", "large / small", "<= 1.5x"], rows)
    publish(TITLE, body, args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
