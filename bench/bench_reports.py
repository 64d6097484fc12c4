"""Scale benchmark 4 (issue 16): report latency over a one-day window with 1M and with 10M stored
events, beside a raw baseline measured in the same run.

Each size gets a fresh migrated SQLite database with the demo master data, then machine events
written straight into ``events`` and ``event_postings`` with ``executemany`` (not through the
ingest: the figure is the report's read, not the build), at the same density per day for every size
(``--per-day`` events a day over 4 machines), so a one-day window holds the same rows whether the
history is 1M or 10M events long: only the history before the window grows. A machine's stream is
runs of ~10 min with a stop (equipment failure, material shortage or a planned break) between, a
unit every cycle (1 in 20 scrapped); one work order per machine per day, dispatched for the day.

The journal beside the events: per machine and hour a backflush, a conversion and a finished-goods
entry for the day's order (8 lines), and per order at the end of its day its close (variances, WIP
to zero), written with ``executemany`` too, in monthly periods; then the ledger balance snapshots are
filled from those lines by ``snapshots.rebuild`` (what migration ``0014`` does for an existing
database). Orders before the window's day are closed.

Timed over the last full day, ``--repeat`` times each (median): OEE of the plant (every machine),
downtime, cost of quality, OEE of each machine one by one (the console's plant page), the trial
balance of the day, of its period and cumulative (as of the day), variances of the period and of one
order, WIP and the inventory valuation (from the snapshots); and, for comparison, the cumulative
trial balance and WIP by the full scan of the journal every ledger report did before the snapshots
(``ScanBalances``). The raw baseline is ``SELECT`` of the window's ``event_postings`` rows (every
column, all machines) with the driver alone. Each database file is read once, whole, before its
timing (so neither size pays for disk reads the other does not); both sizes are built first and
then timed in alternating rounds (a row keeps its better round), so both see the same machine load.
Goal: each report at 10M <= 1.5x its time at 1M.

``--quick`` (smoke test): 20k and 200k events, 3 repeats; prints the table, never writes RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
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
ROUNDS = 2
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


ROLE_ACCOUNTS = {"raw_materials": "1300", "wip": "1400", "finished_goods": "1500", "labor_control": "5100",
                 "voh_control": "5110", "foh_control": "5120", "material_usage_variance": "5210",
                 "labor_efficiency_variance": "5320"}
COMPONENT = {"BR-100": "S", "PL-200": "S", "SH-300": "B"}


Line = tuple[str, int, int, str, str | None, str | None]
"""(role, debit cents, credit cents, work order, item, reason)."""


def _ledger(first: datetime, days: int) -> Iterator[tuple[tuple[date, str, str, str], list[Line]]]:
    """(entry, lines) of the bench's journal: per machine and hour three entries of the day's order,
    per order a close at the end of its day that takes its WIP to zero through two variances.
    Amounts in cents (the stored form)."""
    rnd = random.Random(11)
    for d in range(days):
        day = (first + timedelta(days=d)).date()
        period = f"{day:%Y-%m}"
        for machine, item in MACHINES.items():
            wo = f"WO-{machine}-{day:%Y%m%d}"
            wip = 0
            for _hour in range(24):
                mat, conv = rnd.randint(5_000, 9_000), rnd.randint(3_000, 6_000)
                fg = (mat + conv) * 95 // 100
                wip += mat + conv - fg
                third = conv // 3
                yield (day, period, "backflush", wo), [
                    ("wip", mat, 0, wo, COMPONENT[item], None), ("raw_materials", 0, mat, wo, COMPONENT[item], None)]
                yield (day, period, "conversion_applied", wo), [
                    ("wip", conv, 0, wo, None, None), ("labor_control", 0, third, wo, None, None),
                    ("voh_control", 0, third, wo, None, None), ("foh_control", 0, conv - 2 * third, wo, None, None)]
                yield (day, period, "finished_goods", wo), [
                    ("finished_goods", fg, 0, wo, item, None), ("wip", 0, fg, wo, None, None)]
            usage = wip // 2
            yield (day, period, "work_order_close", wo), [
                ("material_usage_variance", usage, 0, wo, COMPONENT[item], None),
                ("labor_efficiency_variance", wip - usage, 0, wo, None, None), ("wip", 0, wip, wo, None, None)]


def _load_journal(db_path: Path, first: datetime, days: int) -> int:
    """``journal_entries`` and ``journal_lines`` by ``executemany`` (indexes dropped during the load),
    the monthly periods they post in; returns the number of lines."""
    con = sqlite3.connect(db_path)
    lines_n = 0
    try:
        indexes = con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND "
                              "tbl_name IN ('journal_entries', 'journal_lines')").fetchall()
        for name, _sql in indexes:
            con.execute(f'DROP INDEX "{name}"')
        con.execute("PRAGMA synchronous = OFF")
        entries: list[tuple[object, ...]] = []
        lines: list[tuple[object, ...]] = []
        periods: set[str] = set()
        created = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")

        def flush() -> None:
            con.executemany("INSERT INTO journal_entries (id, entity, period, entry_date, kind, memo, rule_version, "
                            "late, reverses, reason, work_order, created, user) VALUES "
                            "(?, 'E1', ?, ?, ?, '', 1, 0, NULL, '', ?, ?, 'bench')", entries)
            con.executemany("INSERT INTO journal_lines (entry_id, line_no, account, role, debit, credit, work_order, "
                            "item, work_center, reason, memo) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, '')", lines)
            entries.clear()
            lines.clear()

        for entry_id, ((day, period, kind, wo), entry_lines) in enumerate(_ledger(first, days), 1):
            periods.add(period)
            entries.append((entry_id, period, day.isoformat(), kind, wo, created))
            for n, (role, debit, credit, order, item, reason) in enumerate(entry_lines, 1):
                lines.append((entry_id, n, ROLE_ACCOUNTS[role], role, debit, credit, order, item, reason))
            lines_n += len(entry_lines)
            if len(lines) >= CHUNK:
                flush()
        flush()
        for p in sorted(periods):
            year, month = int(p[:4]), int(p[5:])
            start = datetime(year, month, 1).date()
            stop = (datetime(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).date()
            con.execute("INSERT OR IGNORE INTO periods (id, entity, start, \"end\", status) VALUES (?, NULL, ?, ?, "
                        "'open')", (p, start.isoformat(), stop.isoformat()))
        for _name, sql in indexes:
            con.execute(sql)
        con.commit()
    finally:
        con.close()
    return lines_n


def build(db_path: Path, n: int, per_day: int, end: datetime) -> tuple[Any, float]:
    """A migrated database holding ``n`` events; returns the container and the build seconds."""
    from sqlalchemy import insert, update

    from central.adapters.db.models_costing import DispatchRow, WorkOrderRow
    from central.bootstrap import bootstrap
    from central.config import CentralSettings, DatabaseSettings
    from central.service_layer.costing import snapshots
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
    lines = _load_journal(db_path, first, days)
    container = bootstrap(CentralSettings(database=DatabaseSettings(url=f"sqlite:///{db_path}")))
    with container.write_sessions() as s, s.begin():
        snapshots.rebuild(s)  # the ledger balance snapshots of the lines just written (as migration 0014)
        s.execute(update(WorkOrderRow).where(WorkOrderRow.created < _day0(end) - timedelta(days=1)).values(
            status="closed"))
    with sqlite3.connect(db_path) as con:
        con.execute("ANALYZE")
    print(f"  {lines:,} journal lines", flush=True)
    return container, time.perf_counter() - t0


def timed(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up (master-data snapshot cache, page cache)
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def read_whole(db_path: Path) -> None:
    """Read the database file once, whole (so its pages are in the page cache for both sizes)."""
    with db_path.open("rb") as f:
        while f.read(1 << 24):
            pass


def measure(container: Any, db_path: Path, window: tuple[datetime, datetime], now: datetime,
            repeat: int) -> dict[str, float]:
    from central.service_layer.costing import ledger, reports, snapshots

    w = reports.Window(*window)
    day = window[0].date()
    period = f"{day:%Y-%m}"
    order = f"WO-{next(iter(MACHINES))}-{day:%Y%m%d}"
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
        "trial balance, the day": timed(run(lambda s: ledger.trial_balance(s, "E1", start=day, end=day)), repeat),
        "trial balance, its period": timed(run(lambda s: ledger.trial_balance(s, "E1", period)), repeat),
        "trial balance, cumulative as of the day": timed(run(lambda s: ledger.trial_balance(s, "E1", end=day)),
                                                         repeat),
        "variances, the period": timed(run(lambda s: reports.variances(s, period)), repeat),
        "variances, one order (cost sheet)": timed(run(lambda s: reports.variances(s, work_order=order)), repeat),
        "WIP": timed(run(lambda s: reports.wip(s)), repeat),
        "inventory valuation": timed(run(lambda s: reports.inventory_valuation(s)), repeat),
        "trial balance, cumulative, full scan (before)": timed(run(lambda s: ledger.trial_balance(
            s, "E1", end=day, source=snapshots.ScanBalances(s))), repeat),
        "WIP, full scan (before)": timed(run(lambda s: reports.wip(s, source=snapshots.ScanBalances(s))), repeat),
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
    loads: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        containers = []
        for n in sizes:  # build every size first, then time them together (the same load for both)
            path = Path(tmp) / f"reports-{n}.db"
            print(f"building {n:,} events ...", flush=True)
            container, secs = build(path, n, per_day, window[1])
            builds.append(secs)
            containers.append((container, path))
            print(f"built in {secs:.0f} s", flush=True)
        try:
            rounds: list[list[dict[str, float]]] = [[] for _ in sizes]
            for _round in range(ROUNDS):  # sizes alternate; each row keeps its best round's median
                for i, (container, path) in enumerate(containers):
                    read_whole(path)
                    loads.append(os.getloadavg()[0])
                    print(f"timing {sizes[i]:,} (round {_round + 1})", flush=True)
                    rounds[i].append(measure(container, path, window, now, repeat))
            results = [{name: min(r[name] for r in per_size) for name in per_size[0]} for per_size in rounds]
        finally:
            for container, _path in containers:
                container.dispose()
    small, big = results[0], results[-1]
    base_s, base_b = (r["raw SELECT of the window's rows (baseline)"] for r in (small, big))
    rows: list[list[object]] = []
    for name in small:
        ratio = big[name] / small[name]
        rows.append([name, f"{small[name] * 1000:.1f} ms", f"{big[name] * 1000:.1f} ms",
                     f"{small[name] / base_s:.1f}x", f"{big[name] / base_b:.1f}x", f"{ratio:.2f}x",
                     "" if name.startswith("raw") or "(before)" in name else ("yes" if ratio <= 1.5 else "NO")])
    head = (f"SQLite, demo master data (4 machines), {per_day:,} events a day (the same one-day window in every "
            f"size), events and a journal of {len(MACHINES) * (24 * 8 + 3)} lines a day (one order per machine and "
            f"day) written with executemany, ledger snapshots rebuilt from it ({sizes[0]:,}: {builds[0]:.0f} s, "
            f"{sizes[-1]:,}: {builds[-1]:.0f} s). Window: the last full day; both sizes built first, "
            f"then timed in {ROUNDS} alternating rounds (each database file read once, whole, before each of its "
            f"rounds), a row's figure is the median of {repeat} runs after a warm-up in its better round. "
            f"Load average (1 min) when the rounds began: {', '.join(f'{x:.1f}' for x in loads)} on "
            f"{os.cpu_count()} CPUs. Goal: each report at the large size <= 1.5x its time at the small.\n\n")
    body = head + table(["read over one day", f"{sizes[0]:,} events", f"{sizes[-1]:,} events",
                         "vs baseline (small)", "vs baseline (large)", "large / small", "<= 1.5x"], rows)
    publish(TITLE, body, args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
