"""Edge agent: outbox write rate vs raw SQLite, agent RSS with a big backlog, drain rate to a broker.

1. ``Outbox.append`` (seq splice, gapless seq in meta, counter marks, one transaction per
   group) against raw ``executemany`` INSERTs of the same bytes in the same group size, WAL
   and ``synchronous=FULL`` for both, in the same run.
2. A backlog of ``--events`` (default 1M) is built, then the real agent (``sfsync edge run``,
   a subprocess) starts on it against a real broker with a paused ack responder: its RSS is
   sampled while it publishes up to its unacked window, and during the drain.
3. The responder resumes (fast mode: seqs only) and the drain rate of the whole backlog is
   timed; baseline: raw paho publishing the same payloads at QoS 1, no acks, same broker.

Run: ``python bench/bench_edge.py [--events N]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import psutil
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support.edge import AckResponder

from bench.results import table, write_section
from edge.derivation import Mark
from edge.encoding import event_body, with_seq
from edge.outbox import Outbox
from sfsync.broker import BrokerProcess, free_port
from shared.contract import assemble_batch

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 25, tzinfo=UTC)
GROUP = 1000


def bodies(n: int) -> list[bytes]:
    return [
        event_body(machine="PRESS-2", kind="count", ts=T0, rx=T0, tag="press2_good", value=i, prev=i - 1, qty=1)
        for i in range(1, n + 1)
    ]


def bench_outbox(workdir: Path, n: int) -> list[list[object]]:
    data = bodies(n)
    raw_path = workdir / "raw.db"
    db = sqlite3.connect(raw_path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, body BLOB NOT NULL, created REAL NOT NULL)")
    t = time.perf_counter()
    for start in range(0, n, GROUP):
        rows = [(start + i + 1, b, 0.0) for i, b in enumerate(data[start : start + GROUP])]
        db.execute("BEGIN")
        db.executemany("INSERT INTO events (seq, body, created) VALUES (?, ?, ?)", rows)
        db.execute("COMMIT")
    raw = n / (time.perf_counter() - t)
    db.close()

    ob = Outbox(workdir / "outbox-bench.db", "P1", "bench")
    t = time.perf_counter()
    for start in range(0, n, GROUP):
        group = data[start : start + GROUP]
        ob.append([(b, "press2_good", Mark(start + i + 1, "e")) for i, b in enumerate(group)])
    ours = n / (time.perf_counter() - t)
    ob.close()
    return [
        [f"raw SQLite executemany, {GROUP} rows/tx (baseline)", f"{raw:,.0f} events/s", "1.00x"],
        [f"Outbox.append, {GROUP} events/tx (+ marks, gapless seq)", f"{ours:,.0f} events/s", f"{ours / raw:.2f}x"],
    ]


def build_backlog(path: Path, n: int) -> float:
    ob = Outbox(path, "P1", "bench")
    t = time.perf_counter()
    chunk = bodies(GROUP)
    for start in range(0, n, GROUP):
        ob.append([(b, "press2_good", Mark(start + i + 1, "e")) for i, b in enumerate(chunk[: n - start])])
    ob.close()
    return time.perf_counter() - t


def edge_config(workdir: Path, outbox: Path, mqtt_port: int, status_port: int) -> Path:
    cfg = workdir / "edge.toml"
    cfg.write_text(f"""
plant = "P1"
edge = "bench"
[outbox]
path = "{outbox}"
[mqtt]
port = {mqtt_port}
max_unacked_events = 50000
[status]
port = {status_port}
[[sources]]
name = "plc"
protocol = "modbus"
host = "127.0.0.1"
port = {free_port()}
reconnect_min_s = 5
tags = [{{ name = "press2_good", address = 0, type = "u32" }}]
[[machines]]
id = "PRESS-2"
good = {{ tag = "press2_good", width = 32 }}
""")
    return cfg


def health(url: str) -> dict[str, object]:
    try:
        doc: dict[str, object] = httpx.get(url + "/health", timeout=5).json()
        return doc
    except (httpx.HTTPError, ValueError):
        return {}


def raw_publish(broker: BrokerProcess, payloads: list[bytes]) -> float:
    """Seconds for raw paho to publish ``payloads`` at QoS 1 (20 in flight) until all PUBACKed."""
    done = threading.Event()
    acked = [0]

    def on_publish(*_a: object) -> None:
        acked[0] += 1
        if acked[0] == len(payloads):
            done.set()

    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-raw")
    c.username_pw_set("bench")
    c.max_inflight_messages_set(20)
    c.max_queued_messages_set(0)
    c.on_publish = on_publish
    c.connect(broker.host, broker.port)
    c.loop_start()
    t = time.perf_counter()
    for p in payloads:
        c.publish("sfsync/v1/P1/raw/events", p, qos=1)
    done.wait(300)
    elapsed = time.perf_counter() - t
    c.disconnect()
    c.loop_stop()
    return elapsed


def spawn_agent(cfg: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "sfsync.cli", "--log-level", "ERROR", "edge", "run", "--config", str(cfg)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def stop_agent(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def rss_with_backlog(workdir: Path, outbox: Path, n: int) -> int:
    """RSS of the agent sitting on the backlog, having published its unacked window (no acks)."""
    broker = BrokerProcess(workdir / "broker-a", persistence=False)
    broker.start()
    responder = AckResponder(broker.host, broker.port, validate=False, record=False).start()
    responder.pause()
    proc = spawn_agent(edge_config(workdir, outbox, broker.port, free_port()))
    try:
        deadline = time.monotonic() + 120
        while responder.received < min(50_000, n) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)
        return int(psutil.Process(proc.pid).memory_info().rss)
    finally:
        stop_agent(proc)
        responder.stop()
        broker.kill()


def drain(workdir: Path, outbox: Path, n: int) -> tuple[float, int, int, object, float]:
    """Seconds from agent start until central (the responder) acked all ``n``; peak RSS; rows left."""
    broker = BrokerProcess(workdir / "broker-b", persistence=False)
    broker.start()
    responder = AckResponder(broker.host, broker.port, validate=False, record=False).start()
    status_port = free_port()
    t = time.perf_counter()
    proc = spawn_agent(edge_config(workdir, outbox, broker.port, status_port))
    ps = psutil.Process(proc.pid)
    peak = 0
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            peak = max(peak, ps.memory_info().rss)
            if max(responder.acked.values(), default=0) >= n:
                break
            time.sleep(0.1)
        drain_s = time.perf_counter() - t
        drained = max(responder.acked.values(), default=0)
        left: object = None
        for _ in range(50):  # the agent applies the last ack
            backlog = health(f"http://127.0.0.1:{status_port}").get("backlog")
            left = backlog.get("rows") if isinstance(backlog, dict) else None
            if left == 0:
                break
            time.sleep(0.1)
    finally:
        stop_agent(proc)
        responder.stop()
    evs = [with_seq(i + 1, b) for i, b in enumerate(bodies(500))]
    raw_s = raw_publish(broker, [assemble_batch("P1", "raw", "s", evs)] * max(1, n // 500))
    broker.kill()
    return drain_s, drained, peak, left, raw_s


def bench_agent(workdir: Path, n: int) -> tuple[list[list[object]], str]:
    outbox_a, outbox_b = workdir / "backlog-a.db", workdir / "backlog-b.db"
    built = build_backlog(outbox_a, n)
    shutil.copyfile(outbox_a, outbox_b)
    rss = rss_with_backlog(workdir, outbox_a, n)
    drain_s, drained, peak, left, raw_s = drain(workdir, outbox_b, n)
    rate, raw_rate = drained / drain_s, n / raw_s
    rows: list[list[object]] = [
        ["backlog built (Outbox.append)", f"{n:,} events in {built:.1f} s", f"{n / built:,.0f} events/s", ""],
        ["agent RSS on the backlog, its 50k unacked window published", f"{rss / 2**20:.1f} MB", "", ""],
        ["agent peak RSS while draining", f"{peak / 2**20:.1f} MB", "", ""],
        ["raw paho QoS 1 publish of the same batches, no subscriber, no acks (ceiling baseline)", f"{raw_s:.1f} s",
         f"{raw_rate:,.0f} events/s", "1.00x"],
        ["agent drain from process start, rows deleted on central's acks", f"{drain_s:.1f} s ({drained:,} acked)",
         f"{rate:,.0f} events/s", f"{rate / raw_rate:.2f}x"],
    ]
    return rows, f"Rows left in the outbox after the drain: {left}."


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000, help="backlog size (default 1M)")
    parser.add_argument("--write-events", type=int, default=200_000, help="events for the write-rate test")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-edge-") as tmp:
        workdir = Path(tmp)
        write_rows = bench_outbox(workdir, args.write_events)
        agent_rows, note = bench_agent(workdir, args.events)
    body = (
        f"Outbox write rate, {args.write_events:,} count events (~{len(bodies(1)[0]) + 9} B each), WAL, "
        "synchronous=FULL (goal >= 50k events/s and >= 0.5x raw):\n\n"
        + table(["operation", "rate", "vs raw"], write_rows)
        + f"\n\nAgent with a {args.events:,}-event backlog, real mosquitto/amqtt broker, ack responder in the "
        "bench process (goal: RSS <= 100 MB):\n\n"
        + table(["what", "figure", "rate", "vs raw"], agent_rows)
        + f"\n\n{note}\n"
    )
    print(body)
    write_section("Edge agent", body)


if __name__ == "__main__":
    main()
