"""Benchmark 2 (issue 16): a 1M-event backlog from a real edge outbox, through the broker, to a
posted, balanced ledger on SQLite.

A backlog of ``--events`` count events of machine PRESS-2 (one stream) is written to an edge
outbox (``Outbox.append``, not timed). Central (``sfsync central serve``, a subprocess, costing
on, SQLite, demo master data, a work order running on PRESS-2) and mosquitto are up; the clock
starts when the real edge agent (``sfsync edge run``) starts on the backlog and stops when every
event has its posting (``event_postings``) and the outbox is empty. The ledger is then checked
to balance (debits = credits) and to hold every unit.

Baseline, same run: a raw ``executemany`` INSERT of the same number of rows into a bare SQLite
table, 500 per transaction (what the storage alone can do). Goal: <= 120 s for 1M events.

Run: ``python bench/bench_backlog.py [--events N] [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa

from bench.results import table
from bench.scale_common import (
    Usage,
    ledger_balance,
    prepare_central,
    publish,
    scalar,
    spawn_central,
    spawn_edge,
    wait_for,
    write_toml,
)
from edge.derivation import Mark
from edge.encoding import event_body
from edge.outbox import Outbox
from sfsync.broker import BrokerProcess, free_port

MACHINE, EDGE, TAG = "PRESS-2", "edge-1", "press2_good"
GROUP = 1000
GOAL_S = 120.0


def build_backlog(path: Path, n: int, t0: datetime) -> None:
    ob = Outbox(path, "P1", EDGE)
    try:
        for start in range(0, n, GROUP):
            group = []
            for i in range(start, min(start + GROUP, n)):
                ts = t0 + timedelta(milliseconds=i)
                group.append((event_body(machine=MACHINE, kind="count", ts=ts, rx=ts, tag=TAG, value=i + 1, prev=i,
                                         qty=1), TAG, Mark(i + 1, "e")))
            ob.append(group)
    finally:
        ob.close()


def raw_insert(path: Path, n: int) -> float:
    """Seconds for a raw executemany INSERT of ``n`` event-sized rows, 500 per transaction (WAL, FULL)."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE raw_events (id INTEGER PRIMARY KEY, stream TEXT, seq INTEGER, machine TEXT, kind TEXT, "
               "ts TEXT, qty INTEGER, raw TEXT, UNIQUE (stream, seq))")
    t = time.perf_counter()
    for lo in range(0, n, 500):
        rows = [("s", i, MACHINE, "count", "2026-12-03T10:00:00.000Z", 1, '{"tag":"good"}')
                for i in range(lo, min(lo + 500, n))]
        db.execute("BEGIN")
        db.executemany("INSERT INTO raw_events (stream, seq, machine, kind, ts, qty, raw) VALUES (?,?,?,?,?,?,?)", rows)
        db.execute("COMMIT")
    elapsed = time.perf_counter() - t
    db.close()
    return elapsed


def measure(workdir: Path, n: int, batch_events: int | None = None) -> tuple[list[list[object]], str]:
    t0 = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    logs = workdir / "logs"
    outbox = workdir / "outbox.db"
    t = time.perf_counter()
    build_backlog(outbox, n, t0)
    built_s = time.perf_counter() - t
    raw_s = raw_insert(workdir / "raw.db", n)

    url = f"sqlite:///{workdir / 'central.db'}"
    prepare_central(url, {MACHINE: EDGE}, t0 - timedelta(hours=1))
    engine = sa.create_engine(url)
    broker = BrokerProcess(workdir / "broker", persistence=False)
    broker.start()
    central = edge = None
    try:
        central = spawn_central(url, broker.port, logs)
        status = free_port()
        cfg = write_toml(workdir / "edge.toml", {
            "plant": "P1", "edge": EDGE,
            "outbox": {"path": str(outbox), **({"batch_max_events": batch_events} if batch_events else {})},
            "mqtt": {"host": "127.0.0.1", "port": broker.port, "max_unacked_events": 50_000},
            "status": {"host": "127.0.0.1", "port": status},
            "sources": [{"name": "plc", "protocol": "modbus", "host": "127.0.0.1", "port": free_port(),
                         "reconnect_min_s": 5, "tags": [{"name": TAG, "address": 0, "type": "u32"}]}],
            "machines": [{"id": MACHINE, "good": {"tag": TAG, "width": 32}}],
        })
        start, start_mono = time.perf_counter(), time.monotonic()
        edge = spawn_edge(cfg, logs)
        usage = {"central": Usage(central.pid).start() if central.pid else None,
                 "edge agent": Usage(edge.pid).start() if edge.pid else None,
                 "broker": Usage(broker.proc.pid).start() if broker.proc is not None else None}

        def stored() -> int:  # ids are dense (one stream, no rejects): MAX is an index seek, COUNT a scan
            return int(scalar(engine, "SELECT MAX(id) FROM events") or 0)

        def posted() -> int:
            return int(scalar(engine, "SELECT COUNT(*) FROM event_postings") or 0)

        first_s = wait_for("first event stored", lambda: stored() > 0, 600, [central, edge], poll=0.1) - start_mono
        wait_for("every event stored", lambda: stored() >= n, 3600, [central, edge], poll=0.5)
        stored_s = time.perf_counter() - start
        wait_for("every event posted", lambda: posted() >= n, 3600, [central, edge], poll=0.5)
        posted_s = time.perf_counter() - start
        wait_for("outbox empty", lambda: _outbox_rows(outbox) == 0, 120, [edge], poll=0.5)
        drained_s = time.perf_counter() - start
        cpu = {name: u.stop()[0] for name, u in usage.items() if u is not None}
    finally:
        for child in (edge, central):
            if child is not None:
                child.stop(30)
        broker.kill()
    debit, credit = ledger_balance(engine)
    units = int(scalar(engine, "SELECT SUM(qty) FROM event_postings WHERE kind = 'count'") or 0)
    accepted = int(scalar(engine, "SELECT COUNT(*) FROM events WHERE status = 'accepted'") or 0)
    engine.dispose()
    total = max(posted_s, drained_s)
    central_cpu_s = cpu.get("central", 0.0) * drained_s
    rows: list[list[object]] = [
        [f"raw executemany INSERT of {n:,} rows, 500/tx, SQLite (baseline)", f"{raw_s:.1f} s", f"{n / raw_s:,.0f}",
         "1.00x"],
        ["edge agent start -> every event stored at central", f"{stored_s:.1f} s", f"{n / stored_s:,.0f}",
         f"{stored_s / raw_s:.1f}x"],
        ["edge agent start -> every event posted (event_postings)", f"{posted_s:.1f} s", f"{n / posted_s:,.0f}",
         f"{posted_s / raw_s:.1f}x"],
        ["edge agent start -> outbox empty (every ack applied)", f"{drained_s:.1f} s", f"{n / drained_s:,.0f}",
         f"{drained_s / raw_s:.1f}x"],
    ]
    balanced = debit == credit and debit > 0
    met = "met" if total <= GOAL_S * n / 1_000_000 else "NOT met"
    note = (f"Backlog built in {built_s:.1f} s (not timed). Ledger after the run: debits {debit:,} = credits "
            f"{credit:,}: {'balanced' if balanced else 'NOT BALANCED'}; {accepted:,} events accepted, {units:,} "
            f"units posted (of {n:,}). Goal (<= {GOAL_S:.0f} s per 1M events, scaled to {n:,}): **{met}** "
            f"({total:.1f} s). Batches of {batch_events or 'the edge default'} events "
            f"(`outbox.batch_max_events`); first event stored {first_s:.1f} s after the agent's start (its start-up). "
            "CPU from the agent's start to the empty outbox (share of one core; the machine has "
            f"{os.cpu_count()}): " + ", ".join(f"{name} {c * 100:.0f} %" for name, c in cpu.items())
            + (f"; the busiest is {max(cpu, key=lambda k: cpu[k])}." if cpu else ".")
            + (f" Central used {central_cpu_s:.1f} CPU-seconds ({central_cpu_s / n * 1e6:,.0f} µs per event; "
               f"{n / max(central_cpu_s, 1e-9):,.0f} events per CPU-second): with a core to itself, about the least "
               "this drain can take (its ingest is one thread), whatever the machine's other load."
               if central_cpu_s else ""))
    return rows, note


def profile(workdir: Path, n: int) -> str:
    """Where central's time goes: the same kind of batches (500 count events of one stream) through
    ``IngestService.handle_events`` with costing, in process under cProfile; own time summed by area."""
    import cProfile
    import pstats

    from central.bootstrap import bootstrap
    from central.config import CentralSettings, DatabaseSettings
    from edge.encoding import with_seq
    from shared.contract import assemble_batch
    from shared.topics import events_topic

    t0 = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    url = f"sqlite:///{workdir / 'profile.db'}"
    prepare_central(url, {MACHINE: EDGE}, t0 - timedelta(hours=1))
    container = bootstrap(CentralSettings(database=DatabaseSettings(url=url)))
    topic = events_topic("P1", EDGE)
    batches = []
    for lo in range(0, n, 500):
        events = []
        for i in range(lo, min(lo + 500, n)):
            ts = t0 + timedelta(milliseconds=i)
            events.append(with_seq(i + 1, event_body(machine=MACHINE, kind="count", ts=ts, rx=ts, tag=TAG,
                                                     value=i + 1, prev=i, qty=1)))
        batches.append(assemble_batch("P1", EDGE, "s-profile", events))
    prof = cProfile.Profile()
    try:
        start = time.perf_counter()
        prof.enable()
        for body in batches:
            container.ingest.handle_events(topic, body)
        prof.disable()
        elapsed = time.perf_counter() - start
    finally:
        container.dispose()
    areas = {"costing (central/service_layer/costing, domain)": 0.0, "ingest (service_layer/ingest, adapters)": 0.0,
             "SQLAlchemy (ORM, Core, compile)": 0.0, "sqlite3 driver (execute, commit, fsync)": 0.0,
             "decode and validate (shared/contract, orjson, pydantic)": 0.0, "other": 0.0}
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    for (filename, _line, name), (_cc, _nc, tottime, _ct, _callers) in stats.items():
        f = str(filename)
        if "central/service_layer/costing" in f or "central/domain" in f:
            key = "costing (central/service_layer/costing, domain)"
        elif "central/" in f:
            key = "ingest (service_layer/ingest, adapters)"
        elif "sqlalchemy" in f:
            key = "SQLAlchemy (ORM, Core, compile)"
        elif "sqlite3" in f or "sqlite3" in str(name):
            key = "sqlite3 driver (execute, commit, fsync)"
        elif "shared/" in f or "orjson" in str(name) or "pydantic" in f:
            key = "decode and validate (shared/contract, orjson, pydantic)"
        else:
            key = "other"
        areas[key] += float(tottime)
    total = sum(areas.values()) or 1.0
    rows: list[list[object]] = [[k, f"{v:.2f} s", f"{v / total * 100:.0f} %"] for k, v in
                                sorted(areas.items(), key=lambda kv: -kv[1])]
    return (f"Where central's time goes: {n:,} of the same events in 500-event batches through "
            f"`IngestService.handle_events` with costing, in process (no broker), under cProfile: {elapsed:.1f} s "
            f"({n / elapsed:,.0f} events/s with the profiler's overhead); own time per area:\n\n"
            + table(["area", "own time", "share"], rows))


def _outbox_rows(path: Path) -> int:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(db.execute("SELECT COUNT(*) FROM events").fetchone()[0])
    finally:
        db.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000, help="backlog size (default 1M)")
    parser.add_argument("--quick", action="store_true", help="5,000 events, table printed, RESULTS.md untouched")
    parser.add_argument("--profile-events", type=int, default=50_000,
                        help="events for the in-process profile of where central's time goes (0: none)")
    parser.add_argument("--no-record", action="store_true", help="print the table only, RESULTS.md untouched")
    parser.add_argument("--batch-events", type=int, default=None,
                        help="the edge's outbox.batch_max_events (default: the edge's default)")
    args = parser.parse_args()
    n = 5_000 if args.quick else args.events
    profiled = 2_000 if args.quick else args.profile_events
    with tempfile.TemporaryDirectory(prefix="bench-backlog-") as tmp:
        rows, note = measure(Path(tmp), n, args.batch_events)
        where = profile(Path(tmp), profiled) if profiled else ""
    body = (
        f"A {n:,}-event backlog (count events of one machine, one stream) in a real edge outbox; the edge "
        "agent starts on it against mosquitto and `sfsync central serve` (costing on, SQLite WAL, one process, a "
        "work order running on the machine). Clock from the agent's start.\n\n"
        + table(["stage", "time", "events/s", "vs raw insert"], rows)
        + f"\n\n{note}\n\n{where}\n"
    )
    publish("Scale 2: 1M backlog to a posted ledger", body, args.quick or args.no_record)


if __name__ == "__main__":
    main()
