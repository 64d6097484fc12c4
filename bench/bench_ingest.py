"""Central ingest rate, end to end from the broker: a publisher sends 500-event batches of
several streams to mosquitto, 1 or 2 ``central`` ingest worker processes store them
(exactly-once path, no costing), and the clock stops at the last ack. SQLite, and PostgreSQL
with 1 and 2 workers when ``SFSYNC_TEST_PG_URL`` (or ``SFSYNC_BENCH_PG_URL``) is set.

Baseline, same run, same rows: a raw ``executemany`` INSERT into a bare table on the same
database (what the storage alone can do, without validation, dedup, cursor, gaps or MQTT).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson
import sqlalchemy as sa

from bench.results import table, write_section

BATCH = 500
STREAMS = 4
T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def _events(stream_no: int, lo: int, hi: int) -> list[bytes]:
    out = []
    for seq in range(lo, hi + 1):
        ts = (T0 + timedelta(milliseconds=seq * 10)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        out.append(orjson.dumps({"seq": seq, "machine": f"M{stream_no}", "kind": "count", "ts": ts, "rx": ts,
                                 "qty": 1, "flags": [], "raw": {"tag": "good", "value": seq, "prev": seq - 1}}))
    return out


def payloads(per_stream: int) -> list[tuple[str, bytes]]:
    from shared.contract import assemble_batch

    out: list[tuple[str, bytes]] = []
    for lo in range(1, per_stream + 1, BATCH):
        for s in range(STREAMS):
            hi = min(lo + BATCH - 1, per_stream)
            out.append((f"s-{s}", assemble_batch("P1", "edge-1", f"s-{s}", _events(s, lo, hi))))
    return out


def prepare(url: str) -> None:
    from central.adapters.db.engine import make_engine, write_engine
    from central.adapters.db.migrate import upgrade
    from central.adapters.db.models_ingest import EdgeRow, MachineRow

    engine = make_engine(url)
    upgrade(write_engine(engine))
    with sa.orm.Session(engine) as s, s.begin():
        s.add(EdgeRow(id="edge-1", plant="P1", registered=T0))
        s.add_all([MachineRow(id=f"M{i}", plant="P1", edge="edge-1") for i in range(STREAMS)])
    engine.dispose()


def worker_main(url: str, port: int, client_id: str, workers: int) -> None:
    """One ``central serve`` (ingest only, no costing) for the benchmark."""
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
    serve(settings, migrate=False, posting=NoCostingHandler(), out=lambda line: print(f"sfsync: {line}", flush=True))


def run_e2e(url: str, port: int, workers: int, per_stream: int) -> float:
    """Events per second from the first publish to the last ack."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from shared.contract import decode_ack

    prepare(url)
    procs = []
    tag = uuid.uuid4().hex[:6]
    for i in range(workers):
        procs.append(subprocess.Popen(
            [sys.executable, __file__, "--worker", url, str(port), f"bench-{tag}-{i}", str(workers)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True))
    for p in procs:
        assert p.stdout is not None
        for line in p.stdout:
            if "ingest from" in line:
                break
    acks: dict[str, int] = {}
    done = __import__("threading").Event()

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
    t0 = time.perf_counter()
    for _stream, body in batches:
        client.publish("sfsync/v1/P1/edge-1/events", body, qos=1)
    ok = done.wait(300)
    elapsed = time.perf_counter() - t0
    client.loop_stop()
    client.disconnect()
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(30)
    if not ok:
        raise RuntimeError(f"not all acks arrived: {acks}")
    return STREAMS * per_stream / elapsed


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
    t0 = time.perf_counter()
    for i in range(0, len(rows), BATCH):
        with engine.begin() as conn:
            conn.execute(stmt, rows[i : i + BATCH])
    elapsed = time.perf_counter() - t0
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", nargs=4, metavar=("URL", "PORT", "CLIENT_ID", "WORKERS"))
    parser.add_argument("--events", type=int, default=10_000, help="events per stream (4 streams)")
    args = parser.parse_args()
    if args.worker:
        url, port, cid, workers = args.worker
        worker_main(url, int(port), cid, int(workers))
        return
    from sfsync.broker import BrokerProcess

    per_stream = args.events
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        broker = BrokerProcess(workdir=Path(tmp) / "broker", persistence=False)
        broker.start()
        try:
            sqlite_raw = raw_baseline(f"sqlite:///{tmp}/raw.db", per_stream)
            sqlite_e2e = run_e2e(f"sqlite:///{tmp}/central.db", broker.port, 1, per_stream)
            rows.append(["SQLite", 1, f"{sqlite_e2e:,.0f}", f"{sqlite_raw:,.0f}", f"{sqlite_e2e / sqlite_raw:.2f}"])
            pg = os.environ.get("SFSYNC_BENCH_PG_URL") or os.environ.get("SFSYNC_TEST_PG_URL")
            if pg:
                url, drop = fresh_pg(pg)
                try:
                    pg_raw = raw_baseline(url, per_stream)
                finally:
                    drop()
                for workers in (1, 2):
                    url, drop = fresh_pg(pg)
                    try:
                        rate = run_e2e(url, broker.port, workers, per_stream)
                    finally:
                        drop()
                    rows.append(["PostgreSQL", workers, f"{rate:,.0f}", f"{pg_raw:,.0f}", f"{rate / pg_raw:.2f}"])
            else:
                rows.append(["PostgreSQL", "-", "skipped (set SFSYNC_TEST_PG_URL)", "-", "-"])
        finally:
            broker.kill()
    body = (
        f"{STREAMS} streams x {per_stream:,} count events in {BATCH}-event batches, published at QoS 1 to "
        f"{broker.kind}; clock from first publish to last ack; ingest workers are separate processes, no costing "
        "handler. Baseline: raw executemany INSERT of the same rows, 500 per transaction, same database.\n\n"
        + table(["database", "workers", "events/s end to end", "raw insert events/s", "ratio"], rows)
    )
    print(body)
    write_section("Central ingest", body)


if __name__ == "__main__":
    main()
