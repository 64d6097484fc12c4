"""Shared parts of the issue-16 scale benchmarks (bench_backlog, bench_latency, bench_tags,
bench_outage_fleet): child processes (simulator, edge agents, ``central serve``), a central
database with master data and one running work order per machine, raw MQTT latency, process
CPU/RSS sampling, and the ``--quick`` rule (print the table, never write RESULTS.md).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psutil
import sqlalchemy as sa
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from bench.results import write_section
from sfsync.broker import BrokerProcess
from sfsync.demo_procs import ChildProcess, log_tail, sfsync_argv
from sfsync.demo_toml import dumps as toml_dumps

ROOT = Path(__file__).resolve().parent.parent
PLANT = "P1"
ITEM = "BR-100"
WORK_CENTER = "WC-PRESS"


def write_toml(path: Path, doc: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(toml_dumps(doc))
    return path


def publish(title: str, body: str, quick: bool) -> None:
    """Print the table; write it to RESULTS.md only for a full-size run (``--quick`` and
    ``--no-record`` never do)."""
    print(body, flush=True)
    if quick:
        print(f"(--quick/--no-record: {title!r} not written to bench/RESULTS.md)", flush=True)
    else:
        write_section(title, body)


# --- central ------------------------------------------------------------------------------------


def prepare_central(url: str, machines: dict[str, str], order_start: datetime) -> None:
    """Migrate ``url``, load the demo master data plus ``machines`` (id -> edge, on WC-PRESS), and
    start one work order of BR-100 on every one of them at ``order_start``."""
    from central.bootstrap import bootstrap
    from central.config import CentralSettings, DatabaseSettings
    from central.service_layer.costing import load_master, parse_master_file, work_orders

    doc = yaml.safe_load((ROOT / "central" / "demo_master.yaml").read_text())
    known = {m["id"] for m in doc["machines"]}
    doc["machines"] += [{"id": m, "work_center": WORK_CENTER, "edge": e} for m, e in machines.items() if m not in known]
    container = bootstrap(CentralSettings(database=DatabaseSettings(url=url)), migrate=True)
    try:
        with container.write_sessions() as s, s.begin():
            load_master(s, parse_master_file(doc), "bench")
        with container.write_sessions() as s, s.begin():
            for n, machine in enumerate(machines):
                wo = f"WO-B{n:05}"
                work_orders.create_order(s, ITEM, Decimal(10**9), "bench", wo)
                work_orders.release(s, wo, "bench")
                work_orders.start(s, wo, machine, "bench", at=order_start)
    finally:
        container.dispose()


def spawn_central(url: str, broker_port: int, logdir: Path, name: str = "central",
                  extra_env: dict[str, str] | None = None) -> ChildProcess:
    """``sfsync central serve`` (costing on, API off) on ``url``; returns once it subscribed."""
    env = {
        "SFSYNC_CENTRAL_DATABASE__URL": url,
        "SFSYNC_CENTRAL_MQTT__PORT": str(broker_port),
        "SFSYNC_CENTRAL_MQTT__CLIENT_ID": f"bench-{name}",
        "SFSYNC_CENTRAL_API__ENABLED": "false",
        "SFSYNC_CENTRAL_AUTH__BOOTSTRAP_ADMIN": "false",
        "SFSYNC_CENTRAL_INGEST__GAP_ALERT_AFTER_SECONDS": "600",
        **(extra_env or {}),
    }
    child = ChildProcess(name, sfsync_argv("--log-level", "WARNING", "central", "serve"), logdir / f"{name}.log",
                         env=env, cwd=ROOT)
    child.start()
    wait_for(f"{name} subscribed", lambda: "ingest from" in child.logfile.read_text(), 60, [child])
    return child


def wait_for(what: str, ok: Callable[[], bool], timeout: float, children: Iterable[ChildProcess] = (),
             poll: float = 0.1) -> float:
    """Poll ``ok`` until true (returns the monotonic time it turned true); a dead child or the
    timeout raises with the child's log end."""
    deadline = time.monotonic() + timeout
    while True:
        if ok():
            return time.monotonic()
        for child in children:
            if not child.alive:
                raise RuntimeError(f"{child.name} exited ({child.returncode}) while waiting for {what}:\n"
                                   f"{log_tail(child.logfile, 2000)}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)


def scalar(engine: sa.Engine, sql: str, **params: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


def ledger_balance(engine: sa.Engine) -> tuple[Decimal, Decimal]:
    with engine.connect() as conn:
        sums: Any = conn.execute(sa.text("SELECT SUM(debit), SUM(credit) FROM journal_lines")).one()
    return Decimal(sums[0] or 0), Decimal(sums[1] or 0)


# --- edge and simulator ------------------------------------------------------------------------


def edge_doc(edge: str, outbox: Path, broker_port: int, status_port: int, mapping: dict[str, Any],
             **mqtt_over: Any) -> dict[str, Any]:
    return {
        "plant": PLANT, "edge": edge, "outbox": {"path": str(outbox)},
        "mqtt": {"host": "127.0.0.1", "port": broker_port, "reconnect_max_s": 2.0, **mqtt_over},
        "status": {"host": "127.0.0.1", "port": status_port},
        **mapping,
    }


def spawn_edge(cfg: Path, logdir: Path, name: str = "edge") -> ChildProcess:
    child = ChildProcess(name, sfsync_argv("--log-level", "WARNING", "edge", "run", "--config", str(cfg)),
                         logdir / f"{name}.log", cwd=ROOT)
    child.start()
    return child


def sim_doc(opcua_machines: int, modbus_machines: int, cycle_s: float, opcua_port: int, modbus_port: int,
            truth: Path, run_for_s: float | None = None) -> dict[str, Any]:
    """A plant of ``opcua_machines`` OPC UA machines ``U0000..`` and ``modbus_machines`` Modbus ones
    ``B0000..`` (one scrap reason, rare stops), speed 1 from now."""

    def machines(prefix: str, count: int, protocol: str) -> dict[str, Any]:
        return {"id": prefix + ("{n:04}" if count > 1 else "0001"), "count": count, "protocols": [protocol],
                "cycle_s": cycle_s,
                "cycle_jitter_s": round(cycle_s * 0.1, 3), "scrap_rate": 0.02, "scrap_weights": {"BURR": 1.0},
                "mtbf_s": 3600.0, "stops": [{"state": "down", "reason": "EQ_FAIL", "min_s": 5.0, "max_s": 10.0}]}

    spec = [machines("U", opcua_machines, "opcua")] if opcua_machines else []
    spec += [machines("B", modbus_machines, "modbus")] if modbus_machines else []
    return {
        "seed": 16, "clock": {"speed": 1.0, "run_for_s": run_for_s},
        "opcua": {"host": "127.0.0.1", "port": opcua_port},
        "modbus": {"host": "127.0.0.1", "port": modbus_port, "addressing": "block_per_machine", "block_stride": 40},
        "truth": {"path": str(truth)},
        "machines": spec,
    }


def sim_mapping(sim_cfg: Path, poll_interval_ms: int, publishing_interval_ms: int) -> dict[str, Any]:
    from device_sim.config import load_settings
    from device_sim.edge_mapping import edge_mapping

    mapping: dict[str, Any] = edge_mapping(load_settings(sim_cfg), poll_interval_ms=poll_interval_ms,
                                           publishing_interval_ms=publishing_interval_ms)
    return mapping


def tag_count(mapping: dict[str, Any]) -> int:
    return sum(len(src["tags"]) for src in mapping["sources"])


def spawn_sim(cfg: Path, logdir: Path, truth: Path, opcua_port: int, modbus_port: int,
              timeout: float = 300) -> ChildProcess:
    from sfsync.broker import wait_port

    child = ChildProcess("sim", sfsync_argv("--log-level", "WARNING", "sim", "--config", str(cfg), "--truth",
                                            str(truth)), logdir / "sim.log", cwd=ROOT)
    child.start()
    wait_for("simulated PLCs listening",
             lambda: wait_port("127.0.0.1", opcua_port, 0.2) and wait_port("127.0.0.1", modbus_port, 0.2),
             timeout, [child], poll=0.5)
    return child


# --- measurement ------------------------------------------------------------------------------


def quantiles(samples: list[float]) -> tuple[float, float, float, float]:
    """(p50, p99, max, mean) of ``samples`` (zeros when empty)."""
    if not samples:
        return 0.0, 0.0, 0.0, 0.0
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return pick(0.5), pick(0.99), ordered[-1], statistics.fmean(ordered)


class Usage:
    """CPU (fraction of one core) and peak RSS of one process, sampled in a thread."""

    def __init__(self, pid: int, every: float = 0.5) -> None:
        self.proc = psutil.Process(pid)
        self.every = every
        self.peak_rss = 0
        self.rss: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _cpu(self) -> float:
        t = self.proc.cpu_times()
        return float(t.user + t.system)

    def start(self) -> Usage:
        self.t0, self.cpu0 = time.monotonic(), self._cpu()
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                rss = int(self.proc.memory_info().rss)
            except psutil.Error:
                return
            self.rss.append(rss)
            self.peak_rss = max(self.peak_rss, rss)

    def stop(self) -> tuple[float, int, int]:
        """(mean CPU fraction since start, peak RSS, last RSS)."""
        cpu = (self._cpu() - self.cpu0) / max(time.monotonic() - self.t0, 1e-6)
        self._stop.set()
        self._thread.join(5)
        return cpu, self.peak_rss, self.rss[-1] if self.rss else 0


def raw_mqtt_latency(broker: BrokerProcess, rate: float, seconds: float) -> list[float]:
    """Raw paho QoS 1 publish -> receive latency (s) at ``rate`` messages/s for ``seconds`` (baseline)."""
    lat: list[float] = []
    got = threading.Event()
    n = max(1, int(rate * seconds))

    def on_message(_c: Any, _u: Any, msg: Any) -> None:
        lat.append(time.perf_counter() - float(msg.payload))
        if len(lat) >= n:
            got.set()

    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-raw-sub")
    sub.username_pw_set("bench")
    sub.on_message = on_message
    subscribed = threading.Event()
    sub.on_subscribe = lambda *_a: subscribed.set()
    sub.connect(broker.host, broker.port)
    sub.loop_start()
    sub.subscribe("bench/raw/latency", 1)
    subscribed.wait(10)
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-raw-pub")
    pub.username_pw_set("bench")
    pub.max_queued_messages_set(0)
    pub.connect(broker.host, broker.port)
    pub.loop_start()
    t0 = time.perf_counter()
    for i in range(n):
        due = t0 + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        pub.publish("bench/raw/latency", repr(time.perf_counter()).encode(), qos=1)
    got.wait(30)
    for c in (pub, sub):
        c.disconnect()
        c.loop_stop()
    return lat


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.0f} ms" if seconds >= 0.01 else f"{seconds * 1e3:.2f} ms"


class TruthClock:
    """The simulator's virtual clock vs the wall clock, from its truth log.

    The simulator's clock starts at ``clock.start`` (default: the wall time when it starts) once
    its servers listen, so virtual time lags wall time by its start-up, a constant. Each batch of
    truth lines is written (and flushed) when it is played (the start lines at ``clock.start`` are
    written before the clock starts and are skipped): tailing the file every few ms, the
    least ``wall time seen - virtual t of the last line`` is that offset (plus at most one poll)."""

    def __init__(self, path: Path, poll: float = 0.005) -> None:
        self.path = path
        self.poll = poll
        self.best: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> TruthClock:
        self._thread.start()
        return self

    def _run(self) -> None:
        import json

        pos = 0
        tail = b""
        first: float | None = None  # the start lines, written before the clock starts
        while not self._stop.wait(self.poll):
            try:
                with self.path.open("rb") as fh:
                    fh.seek(pos)
                    chunk = fh.read()
            except FileNotFoundError:
                continue
            if not chunk:
                continue
            seen = time.time()
            pos += len(chunk)
            lines = (tail + chunk).split(b"\n")
            tail = lines[-1]
            for line in reversed(lines[:-1]):
                if line.strip():
                    t = datetime.fromisoformat(json.loads(line)["t"].replace("Z", "+00:00")).timestamp()
                    if first is None:
                        first = t
                    if t > first:
                        self.best = seen - t if self.best is None else min(self.best, seen - t)
                    break

    def stop(self) -> float:
        """Wall minus virtual seconds (0.0 when nothing was seen)."""
        self._stop.set()
        self._thread.join(5)
        return self.best or 0.0
