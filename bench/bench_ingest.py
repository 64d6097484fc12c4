"""Central ingest rate, end to end from the broker (issue 16, benchmark 1): a publisher sends
500-event batches of four streams to mosquitto, 1 or 2 ``central serve`` processes store them
(exactly-once path), and the clock stops at the last ack. Each configuration runs twice on a
fresh database: **ingest alone** (``posting=NoCostingHandler()``, on purpose) and **ingest with
postings** (the costing handler every entry point gets by default). SQLite with one process,
and PostgreSQL with 1 and 2 (shared subscription) when ``SFSYNC_TEST_PG_URL`` (or
``SFSYNC_BENCH_PG_URL``) is set.

The events are the demo plant's (4 machines, one work order running on each; 95% counts, 4%
scrap, 1% state changes), so the postings are real: production records, backflush, conversion,
finished goods, stock moves, threshold checks.

Baseline, same run, same number of rows: a raw ``executemany`` INSERT into a bare table on the
same database (what the storage alone can do, without validation, dedup, cursor, gaps or MQTT).

``--quick``: one batch per stream, SQLite only, nothing written to RESULTS.md (the smoke test
in ``make test`` runs it and checks that it prints its table).
"""

from __future__ import annotations

import argparse
import calendar
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil
import sqlalchemy as sa

from bench.results import table, write_section

BATCH = 500
STALL_SECONDS = 300
"""A run whose acks stop for this long is reported as stalled (the table says so) instead of timed."""


class Stalled(RuntimeError):
    """Not every batch was acked within :data:`STALL_SECONDS`."""

STREAMS = 4
T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


USAGE: list[str] = []
"""Per PostgreSQL run: the CPU each central process and the PostgreSQL server used, beside the whole
machine's (where 2 processes' time goes: is the work split evenly, is the machine's CPU the limit)."""


def _pg_cpu() -> float:
    """CPU seconds (user + system) of every PostgreSQL server process on this machine."""
    total = 0.0
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] in ("postgres", "postmaster"):
            try:
                t = proc.cpu_times()
            except psutil.Error:
                continue
            total += t.user + t.system
    return total


class PgWaits:
    """Samples, every 20 ms, what the central processes' PostgreSQL connections do (matched by their
    client port in ``pg_stat_activity``): busy, waiting for a lock (``FOR UPDATE`` on a stream row, a
    period, a balance), waiting for something else (I/O, the WAL), or idle in a transaction."""

    def __init__(self, url: str, pids: list[int]) -> None:
        self.engine = sa.create_engine(url.split("?")[0])
        self.pids = pids
        self.counts: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _ports(self) -> list[int]:
        ports = []
        for pid in self.pids:
            try:
                ports += [c.laddr.port for c in psutil.Process(pid).net_connections("tcp")
                          if c.raddr and c.raddr.port == 5432]
            except psutil.Error:
                continue
        return ports

    def _run(self) -> None:
        ports: list[int] = []
        refreshed = 0.0
        with self.engine.connect() as conn:
            while not self._stop.wait(0.02):
                if time.monotonic() - refreshed > 1.0:
                    ports, refreshed = self._ports(), time.monotonic()
                if not ports:
                    continue
                rows = conn.execute(sa.text(
                    "SELECT state, wait_event_type FROM pg_stat_activity WHERE client_port = ANY(:p)"),
                    {"p": ports}).all()
                conn.rollback()
                for state, wait in rows:
                    key = ("lock wait" if wait == "Lock" else f"{wait} wait" if wait and state == "active"
                           else str(state))
                    self.counts[key] = self.counts.get(key, 0) + 1

    def start(self) -> PgWaits:
        self._thread.start()
        return self

    def stop(self) -> str:
        self._stop.set()
        self._thread.join(5)
        self.engine.dispose()
        busy = {k: v for k, v in self.counts.items() if k != "idle"}
        total = sum(busy.values()) or 1
        return ", ".join(f"{k} {v / total * 100:.0f} %" for k, v in sorted(busy.items(), key=lambda kv: -kv[1]))



def payloads(per_stream: int) -> list[tuple[str, bytes]]:
    """The demo plant's events, ``per_stream`` for each of the four machines (bench_postings')."""
    from bench.bench_postings import payloads as plant_payloads

    return plant_payloads(per_stream, T0)


def prepare(url: str) -> None:
    """Migrate, load the demo master data (edge-1 and its machines), run one order per machine."""
    from decimal import Decimal

    from bench.bench_postings import MACHINES
    from central.adapters.db.engine import make_engine, write_engine
    from central.adapters.db.migrate import upgrade
    from central.adapters.db.models_costing import PeriodRow
    from central.service_layer.costing import work_orders
    from central.service_layer.costing.master_data import load_file

    engine = make_engine(url)
    upgrade(write_engine(engine))
    master = Path(__file__).resolve().parent.parent / "central" / "demo_master.yaml"
    with sa.orm.Session(engine) as s, s.begin():
        load_file(s, master, "bench")
    with sa.orm.Session(engine) as s, s.begin():
        # the demo's monthly period, made here as on first use: two processes posting the first
        # events of a month at once would both create it (see RESULTS.md, "Postings as fast as ingest")
        first, last = T0.date().replace(day=1), T0.date().replace(day=calendar.monthrange(T0.year, T0.month)[1])
        if s.get(PeriodRow, f"{T0:%Y-%m}") is None:
            s.add(PeriodRow(id=f"{T0:%Y-%m}", entity=None, start=first, end=last, status="open"))
    with sa.orm.Session(engine) as s, s.begin():
        for n, (machine, item) in enumerate(MACHINES.items()):
            work_orders.create_order(s, item, Decimal(10**7), "bench", f"WO-{n}")
            work_orders.release(s, f"WO-{n}", "bench")
            work_orders.start(s, f"WO-{n}", machine, "bench", at=T0 - timedelta(minutes=1))
    engine.dispose()


def worker_main(url: str, port: int, client_id: str, workers: int, costing: bool) -> None:
    """One ``central serve`` for the benchmark: with the default (costing) posting handler, or
    ingest alone on purpose."""
    from central.config import (
        ApiSettings,
        AuthSettings,
        CentralSettings,
        DatabaseSettings,
        IngestSettings,
        MqttSettings,
    )
    from central.entrypoints.server import serve
    from central.service_layer.ingest.seam import NoCostingHandler

    settings = CentralSettings(
        database=DatabaseSettings(url=url),
        mqtt=MqttSettings(port=port, client_id=client_id),
        ingest=IngestSettings(shared_subscription=workers > 1, gap_alert_after_seconds=60),
        api=ApiSettings(enabled=False),
        auth=AuthSettings(bootstrap_admin=False),
    )
    serve(settings, migrate=False, posting=None if costing else NoCostingHandler(),
          out=lambda line: print(f"sfsync: {line}", flush=True))


def run_e2e(url: str, port: int, workers: int, per_stream: int, costing: bool, prepared: bool = False) -> float:
    """Events per second from the first publish to the last ack, on a fresh database at ``url``
    (``prepared``: already migrated and loaded, e.g. a copy of a prepared SQLite file)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from shared.contract import decode_ack

    if not prepared:
        prepare(url)
    procs = []
    tag = uuid.uuid4().hex[:6]
    log_dir = os.environ.get("SFSYNC_BENCH_WORKER_LOGS")  # a directory: each worker's stderr goes there
    for i in range(workers):
        procs.append(subprocess.Popen(
            [sys.executable, __file__, "--worker", url, str(port), f"bench-{tag}-{i}", str(workers),
             "costing" if costing else "ingest"],
            stdout=subprocess.PIPE, text=True,
            stderr=open(os.path.join(log_dir, f"worker-{tag}-{i}.log"), "w") if log_dir  # noqa: SIM115
            else subprocess.DEVNULL))
    for p in procs:
        assert p.stdout is not None
        for line in p.stdout:
            if "ingest from" in line:
                break
        # keep reading what the worker prints, so a full pipe never stalls it
        threading.Thread(target=p.stdout.read, daemon=True).start()
    acks: dict[str, int] = {}
    done = threading.Event()

    def on_message(_c: Any, _u: Any, msg: Any) -> None:
        ack = decode_ack(msg.payload)
        acks[ack.stream] = max(acks.get(ack.stream, 0), ack.acked_through)
        if len(acks) == STREAMS and all(v >= per_stream for v in acks.values()):
            done.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-edge-{tag}")
    client.username_pw_set("edge")
    client.max_queued_messages_set(0)
    client.max_inflight_messages_set(50)
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.subscribe("sfsync/v1/P1/edge-1/ack", 1)
    client.loop_start()
    time.sleep(1.0)  # let the workers' subscriptions settle (not part of the measurement)
    batches = payloads(per_stream)
    workers_ps = [psutil.Process(p.pid) for p in procs]
    cpu0 = [w.cpu_times() for w in workers_ps]
    pg0, machine0 = _pg_cpu(), psutil.cpu_times()
    waits = PgWaits(url, [p.pid for p in procs]).start() if url.startswith("postgresql") else None
    t0 = time.perf_counter()
    for _stream, body in batches:
        client.publish("sfsync/v1/P1/edge-1/events", body, qos=1)
    ok = done.wait(STALL_SECONDS)
    elapsed = time.perf_counter() - t0
    cpu1 = [w.cpu_times() for w in workers_ps]
    used = sum(b.user + b.system - a.user - a.system for a, b in zip(cpu0, cpu1, strict=True))
    database, mode = "PostgreSQL" if url.startswith("postgresql") else "SQLite", "with postings" if costing else "alone"
    CENTRAL_CPU.append(f"{database}, {workers} process(es), {mode}: {used / (STREAMS * per_stream) * 1e6:.0f} µs")
    if waits is not None:
        waited = waits.stop()
        machine1 = psutil.cpu_times()
        busy = sum(machine1) - machine1.idle - (sum(machine0) - machine0.idle)
        shares = ", ".join(f"{(b.user + b.system - a.user - a.system) / elapsed * 100:.0f} %" for a, b in zip(
            cpu0, cpu1, strict=True))
        USAGE.append(f"{workers} process(es), {'with postings' if costing else 'ingest alone'}: central "
                     f"process(es) {shares} of a core, PostgreSQL server {(_pg_cpu() - pg0) / elapsed * 100:.0f} %, "
                     f"the whole machine {busy / elapsed * 100:.0f} % (of {(os.cpu_count() or 1) * 100} %, other "
                     f"users of the machine included); their database connections, sampled while not idle: "
                     f"{waited or 'no sample'}")
    client.loop_stop()
    client.disconnect()
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(30)
    if not ok:
        raise Stalled(f"acks after {STALL_SECONDS} s: {dict(sorted(acks.items()))} of {per_stream} per stream")
    return STREAMS * per_stream / elapsed


CENTRAL_CPU: list[str] = []
"""Per run: the central processes' CPU time (user + system, every process summed) per event stored."""
RAW_CPU: list[str] = []
"""Per raw baseline: this process's CPU time per row inserted."""


def raw_baseline(url: str, per_stream: int) -> float:
    """Plain executemany INSERT of the same rows (columns as in events), one transaction per 500."""
    engine = sa.create_engine(url)
    rows = [{"stream": f"s-{s}", "seq": q, "machine": f"M{s}", "kind": "count", "ts": T0.isoformat(), "qty": 1,
             "raw": '{"tag":"good"}'} for s in range(STREAMS) for q in range(1, per_stream + 1)]
    key = "INTEGER PRIMARY KEY" if engine.dialect.name == "sqlite" else "BIGSERIAL PRIMARY KEY"
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE raw_events (id {key}, stream TEXT, seq BIGINT, machine TEXT, "
                             "kind TEXT, ts TEXT, qty BIGINT, raw TEXT, UNIQUE (stream, seq))")
    stmt = sa.text("INSERT INTO raw_events (stream, seq, machine, kind, ts, qty, raw) "
                   "VALUES (:stream, :seq, :machine, :kind, :ts, :qty, :raw)")
    t0, cpu0 = time.perf_counter(), time.process_time()
    for i in range(0, len(rows), BATCH):
        with engine.begin() as conn:
            conn.execute(stmt, rows[i : i + BATCH])
    elapsed = time.perf_counter() - t0
    RAW_CPU.append(f"{engine.dialect.name}: {(time.process_time() - cpu0) / len(rows) * 1e6:.1f} µs")
    engine.dispose()
    return len(rows) / elapsed


def fresh_pg(base: str) -> tuple[str, Any]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(base)
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in base else "?"

    def drop() -> None:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        engine.dispose()

    return f"{base}{sep}options=-csearch_path%3D{schema}", drop


def _measure(make_url: Callable[[], tuple[str, Callable[[], None]]], workdir: Path, workers: int,
             per_stream: int, costing: bool, prepared: bool = False) -> float | None:
    """Events/s, or None when the run stalled (printed, and said in the table).

    Each run gets a broker of its own: the persistent sessions of a previous run's processes
    stay members of the shared subscription after they stop, and the broker keeps handing them
    their share of the messages (a run after a 2-process run would lose every other batch)."""
    from sfsync.broker import BrokerProcess

    url, drop = make_url()
    what = f"{url.split('://')[0]}, {workers} process(es), {'with postings' if costing else 'ingest alone'}"
    broker = BrokerProcess(workdir=workdir / f"broker-{uuid.uuid4().hex[:6]}", persistence=False)
    broker.start()
    try:
        rate = run_e2e(url, broker.port, workers, per_stream, costing, prepared)
    except Stalled as exc:
        print(f"  {what}: STALLED, {exc}", file=sys.stderr, flush=True)
        return None
    finally:
        broker.kill()
        drop()
    print(f"  {what}: {rate:,.0f} events/s", file=sys.stderr, flush=True)
    return rate


def _row(database: str, workers: int, alone: float | None, posted: float | None, raw: float) -> list[object]:
    def rate(v: float | None) -> str:
        return "stalled" if v is None else f"{v:,.0f}"

    return [database, workers, rate(alone), rate(posted), f"{raw:,.0f}",
            "-" if alone is None else f"{alone / raw:.2f}",
            "-" if alone is None or posted is None else f"{posted / alone:.2f}"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", nargs=5, metavar=("URL", "PORT", "CLIENT_ID", "WORKERS", "MODE"))
    parser.add_argument("--events", type=int, default=10_000, help="events per stream (4 streams)")
    parser.add_argument("--quick", action="store_true", help="smoke size: one batch per stream, SQLite only, "
                        "RESULTS.md untouched")
    parser.add_argument("--no-record", action="store_true", help="print the table, leave RESULTS.md untouched")
    args = parser.parse_args()
    if args.worker:
        url, port, cid, workers, mode = args.worker
        worker_main(url, int(port), cid, int(workers), mode == "costing")
        return
    from sfsync.broker import mosquitto_binary

    per_stream = BATCH if args.quick else args.events
    rows: list[list[object]] = []
    scaling: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        n = iter(range(1000))

        template = Path(tmp) / "template.db"

        def sqlite_url() -> tuple[str, Callable[[], None]]:
            path = Path(tmp) / f"central-{next(n)}.db"
            shutil.copyfile(template, path)  # migrated and loaded once (not part of the measurement)
            return f"sqlite:///{path}", lambda: None

        sqlite_raw = raw_baseline(f"sqlite:///{tmp}/raw.db", per_stream)
        prepare(f"sqlite:///{template}")
        alone = _measure(sqlite_url, Path(tmp), 1, per_stream, False, prepared=True)
        posted = _measure(sqlite_url, Path(tmp), 1, per_stream, True, prepared=True)
        rows.append(_row("SQLite", 1, alone, posted, sqlite_raw))
        pg = os.environ.get("SFSYNC_BENCH_PG_URL") or os.environ.get("SFSYNC_TEST_PG_URL")
        if pg and not args.quick:
            url, drop = fresh_pg(pg)
            try:
                pg_raw = raw_baseline(url, per_stream)
            finally:
                drop()
            by_workers: dict[int, tuple[float | None, float | None]] = {}
            for workers in (1, 2):
                alone = _measure(lambda: fresh_pg(pg), Path(tmp), workers, per_stream, False)
                posted = _measure(lambda: fresh_pg(pg), Path(tmp), workers, per_stream, True)
                by_workers[workers] = (alone, posted)
                rows.append(_row("PostgreSQL", workers, alone, posted, pg_raw))
            (a1, p1), (a2, p2) = by_workers[1], by_workers[2]

            def ratio(two: float | None, one: float | None) -> str:
                return "-" if two is None or one is None else f"{two / one:.2f}x"

            scaling.append(f"PostgreSQL, 2 processes vs 1: ingest alone {ratio(a2, a1)}, ingest with postings "
                           f"{ratio(p2, p1)}. CPU during each PostgreSQL run (share of one core): "
                           + "; ".join(USAGE) + ".")
        elif not args.quick:
            rows.append(["PostgreSQL", "-", "skipped (set SFSYNC_TEST_PG_URL)", "-", "-", "-", "-"])
    kind = "mosquitto" if mosquitto_binary() else "amqtt"
    body = (
        f"{STREAMS} streams x {per_stream:,} events of the demo plant (95% counts, 4% scrap, 1% states; one work "
        f"order running on each machine) in {BATCH}-event batches, published at QoS 1 to {kind} (a fresh broker "
        "per run); clock from first publish to last ack; `central serve` processes, fresh database per run. "
        "Ingest alone: `posting=NoCostingHandler()`; with postings: the default costing handler. "
        "Baseline: raw executemany "
        f"INSERT of as many rows, {BATCH} per transaction, same database, same run.\n\n"
        + table(["database", "processes", "ingest alone, events/s", "ingest + postings, events/s",
                 "raw insert, events/s", "ingest alone / raw", "with postings / alone"], rows)
        + ("\n\n" + " ".join(scaling) if scaling else "")
        + "\n\nCPU per event of the central process(es) (every process summed; where the ingest's time goes, "
        "whatever the machine's load): " + "; ".join(CENTRAL_CPU) + ". The raw baseline's own CPU per row "
        "(the benchmark process; on PostgreSQL the server's work is not in it): " + "; ".join(RAW_CPU) + "."
    )
    print(body)
    if not args.quick and not args.no_record:
        write_section("Central ingest", body)


if __name__ == "__main__":
    main()
