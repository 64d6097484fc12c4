"""Benchmark 5 (issue 16): one edge agent reading 10,000 tags at 1 s: its RSS and CPU.

The simulated plant (``sfsync sim``, a subprocess, speed 1) serves ``--tags`` tags, split evenly
between OPC UA machines (good, one counter per scrap reason, state, downtime reason) and Modbus TCP
machines (the same plus the "last change" time register). Each machine makes a
part every ``--cycle-s`` (default 1 s). The real edge agent (``sfsync edge run``) reads all of
them, its mapping derived by the simulator, with a 1 s OPC UA publishing interval and a 1 s
Modbus poll, stores events in its outbox and publishes to mosquitto, where an ack responder
stands in for central. After a warm-up, the agent's CPU (mean over ``--seconds``) and peak RSS
are sampled.

Baselines, same run: the simulator process alone over the same window (what serving the tags
costs), and an idle agent (one Modbus tag on an unreachable PLC) for RSS and CPU.
Goal: <= 200 MB RSS and <= 1 core.

Run: ``python bench/bench_tags.py [--tags 10000] [--seconds 60] [--quick]``.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support.edge import AckResponder

from bench.results import table
from bench.scale_common import (
    Usage,
    edge_doc,
    publish,
    sim_doc,
    sim_mapping,
    spawn_edge,
    spawn_sim,
    tag_count,
    wait_for,
    write_toml,
)
from sfsync.broker import BrokerProcess, free_port

RSS_GOAL_MB, CPU_GOAL = 200.0, 1.0


def idle_agent(workdir: Path, broker: BrokerProcess, seconds: float, settle: float) -> tuple[float, int]:
    outbox = workdir / "idle-outbox.db"
    cfg = write_toml(workdir / "idle.toml", edge_doc("edge-idle", outbox, broker.port, free_port(), {
        "sources": [{"name": "plc", "protocol": "modbus", "host": "127.0.0.1", "port": free_port(),
                     "reconnect_min_s": 5, "tags": [{"name": "good", "address": 0, "type": "u32"}]}],
        "machines": [{"id": "IDLE-1", "good": {"tag": "good", "width": 32}}],
    }))
    child = spawn_edge(cfg, workdir / "logs", "edge-idle")
    try:
        time.sleep(settle)
        assert child.pid is not None
        usage = Usage(child.pid).start()
        time.sleep(seconds)
        cpu, peak, _last = usage.stop()
        return cpu, peak
    finally:
        child.stop(20)


def measure(workdir: Path, tags: int, seconds: float, cycle_s: float, quick: bool) -> tuple[list[list[object]], str]:
    logs = workdir / "logs"
    opcua_port, modbus_port = free_port(), free_port()
    truth = workdir / "truth.jsonl"
    one = write_toml(workdir / "one.toml", sim_doc(1, 1, cycle_s, opcua_port, modbus_port, truth))
    per_pair = tag_count(sim_mapping(one, 1000, 1000))  # one OPC UA + one Modbus machine
    pairs = max(1, math.ceil(tags / per_pair))
    sim_cfg = write_toml(workdir / "sim.toml", sim_doc(pairs, pairs, cycle_s, opcua_port, modbus_port, truth))
    mapping = sim_mapping(sim_cfg, poll_interval_ms=1000, publishing_interval_ms=1000)
    n_tags = tag_count(mapping)
    broker = BrokerProcess(workdir / "broker", persistence=False)
    broker.start()
    responder = AckResponder(broker.host, broker.port, validate=False, record=False).start()
    sim = edge = None
    try:
        idle_cpu, idle_rss = idle_agent(workdir, broker, min(seconds, 10.0), 1.0 if quick else 3.0)
        t = time.monotonic()
        sim = spawn_sim(sim_cfg, logs, truth, opcua_port, modbus_port)
        sim_start = time.monotonic() - t
        assert sim.pid is not None
        status = free_port()
        cfg = write_toml(workdir / "edge.toml", edge_doc("edge-tags", workdir / "outbox.db", broker.port, status,
                                                         mapping, max_unacked_events=50_000))
        t = time.monotonic()
        edge = spawn_edge(cfg, logs)
        assert edge.pid is not None
        wait_for("first events from the edge", lambda: responder.received > 0, 300, [edge, sim], poll=0.5)
        first = time.monotonic() - t
        time.sleep(min(10.0, seconds))  # warm-up: every subscription and poll group running
        got0 = responder.received
        edge_use, sim_use = Usage(edge.pid).start(), Usage(sim.pid).start()
        time.sleep(seconds)
        edge_cpu, edge_peak, edge_rss = edge_use.stop()
        sim_cpu, sim_peak, _ = sim_use.stop()
        rate = (responder.received - got0) / seconds
        edge.check_alive()
        sim.check_alive()
    finally:
        for child in (edge, sim):
            if child is not None:
                child.stop(30)
        responder.stop()
        broker.kill()
    def mb(size: int) -> str:
        return f"{size / 2**20:.1f} MB"

    rows: list[list[object]] = [
        ["idle agent, 1 Modbus tag, PLC unreachable (baseline)", mb(idle_rss), f"{idle_cpu * 100:.1f} %", "-"],
        [f"simulator alone serving the {n_tags:,} tags (baseline)", mb(sim_peak), f"{sim_cpu * 100:.1f} %", "-"],
        [f"**edge agent, {n_tags:,} tags at 1 s**", f"{mb(edge_peak)} peak ({mb(edge_rss)} at the end)",
         f"{edge_cpu * 100:.1f} %", f"{rate:,.0f}"],
    ]
    rss_ok = edge_peak / 2**20 <= RSS_GOAL_MB
    cpu_ok = edge_cpu <= CPU_GOAL
    note = (f"{pairs:,} OPC UA + {pairs:,} Modbus machines, a part every {cycle_s:g} s each; simulator start-up "
            f"{sim_start:.1f} s, first event from the agent {first:.1f} s after its start, then {min(10.0, seconds):g} "
            f"s warm-up and {seconds:g} s measured. RSS goal (<= {RSS_GOAL_MB:.0f} MB): "
            f"**{'met' if rss_ok else 'NOT met'}** ({edge_peak / max(idle_rss, 1):.1f}x the idle agent). CPU goal "
            f"(<= 1 core): **{'met' if cpu_ok else 'NOT met'}**.")
    return rows, note


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tags", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=60.0, help="measured window after the warm-up")
    parser.add_argument("--cycle-s", type=float, default=1.0, help="each machine's cycle (a counter change)")
    parser.add_argument("--quick", action="store_true", help="~100 tags for 2 s, RESULTS.md untouched")
    args = parser.parse_args()
    tags, seconds = (100, 2.0) if args.quick else (args.tags, args.seconds)
    with tempfile.TemporaryDirectory(prefix="bench-tags-") as tmp:
        rows, note = measure(Path(tmp), tags, seconds, args.cycle_s, args.quick)
    body = (
        "One real edge agent reading a simulated plant over OPC UA (subscription, 1 s publishing interval) and "
        "Modbus TCP (1 s poll), publishing to mosquitto (an ack responder stands in for central). CPU is the "
        "mean over the measured window as a share of one core.\n\n"
        + table(["process", "RSS", "CPU of one core", "events/s published"], rows)
        + f"\n\n{note}\n"
    )
    publish("Scale 5: one edge with 10,000 tags", body, args.quick)


if __name__ == "__main__":
    main()
