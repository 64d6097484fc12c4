"""Benchmark 3 (issue 16): PLC change -> journal line latency (p50/p99/max) at ~1,000 events/s.

The whole path runs as separate processes: the simulated plant (``sfsync sim``, speed 1, so an
event's ``ts`` -- the OPC UA source timestamp or the Modbus "last change" register -- is the wall
time the PLC value changed), the real edge agent (OPC UA subscription with a 100 ms publishing
interval for half the machines, Modbus TCP polled every 100 ms for the other half), mosquitto,
and ``sfsync central serve`` (costing on, SQLite, one process; a work order running on every
machine). ``--machines`` machines make a part every ``--cycle-s`` (default 1 s) each: about
``machines / cycle_s`` events/s, each machine its own work order (so a batch touches up to that many
orders; ``--machines 100 --cycle-s 0.1`` is the same rate over 100 orders).

After a warm-up, events whose ``ts`` falls in the measured window (``--seconds``, the issue's
full size is 300 s) are followed to the journal: latency = ``journal_entries.created`` of the
entry posted for the event's production record minus the event's ``ts``; also shown: to the
event stored at central (``events.received``). Baseline, same run: raw paho QoS 1 publish ->
receive latency through the same broker at the same rate. Goal: p99 <= 500 ms.

Run: ``python bench/bench_latency.py [--machines 1000] [--cycle-s 1] [--seconds 300] [--quick] [--no-record]``
(the default window is the issue's full size, 5 minutes sustained).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa

from bench.results import table
from bench.scale_common import (
    TruthClock,
    Usage,
    edge_doc,
    ms,
    prepare_central,
    publish,
    quantiles,
    raw_mqtt_latency,
    scalar,
    sim_doc,
    sim_mapping,
    spawn_central,
    spawn_edge,
    spawn_sim,
    tag_count,
    wait_for,
    write_toml,
)
from sfsync.broker import BrokerProcess, free_port
from sfsync.demo_procs import ChildProcess

EDGE = "edge-lat"
GOAL_P99 = 0.5


SEGMENTS = ("read", "to_central", "to_journal", "journal")
"""Per event: PLC change -> read by the edge (``rx`` - change), edge read -> stored at central (``received - rx``:
the outbox commit window, the publish, the broker, central's queue), stored -> journal line (``created -
received``: central's batch, costing included), and the whole PLC change -> journal line."""

TruthKey = tuple[str, str, str, int]
"""(machine, kind, scrap reason or '', counter value after the change)."""


def truth_changes(path: Path) -> dict[TruthKey, datetime]:
    """When (virtual time) each count and scrap counter of the simulated plant reached each value, from its truth
    log. The event's own ``ts`` is the *block's* last change (the Modbus "last change" register, the OPC UA source
    timestamp): a later change of another value of the machine moves it, so it can be later than the counter's
    change (even after the edge read it); the truth log says when the counter itself changed."""
    import orjson

    found: dict[TruthKey, datetime] = {}
    with path.open("rb") as fh:
        for line in fh:
            doc = orjson.loads(line)
            if doc.get("kind") in ("count", "scrap") and "counter" in doc:
                key = (str(doc["machine"]), str(doc["kind"]), str(doc.get("reason") or ""), int(doc["counter"]))
                found[key] = datetime.fromisoformat(str(doc["t"]).replace("Z", "+00:00"))
    return found


def _key(machine: object, kind: object, reason: object, raw: object) -> TruthKey | None:
    value = raw.get("value") if isinstance(raw, dict) else None
    if not isinstance(value, int):
        return None
    return str(machine), str(kind), str(reason or "") if kind == "scrap" else "", value


def edge_reads(outbox: Path, w0: datetime, w1: datetime) -> dict[int, tuple[str, TruthKey | None, datetime]]:
    """seq -> (machine, truth key, rx) of the count/scrap events with ``w0 <= ts < w1`` still in the edge's
    outbox (not acked by central when the edge stopped): their read lag is known even if central never stored
    them."""
    import sqlite3

    import orjson

    found: dict[int, tuple[str, TruthKey | None, datetime]] = {}
    if not outbox.exists():
        return found
    db = sqlite3.connect(f"file:{outbox}?mode=ro", uri=True)
    try:
        for seq, body in db.execute("SELECT seq, body FROM events"):
            doc = orjson.loads(body)
            if doc.get("kind") not in ("count", "scrap"):
                continue
            ts, rx = (datetime.fromisoformat(str(doc[k]).replace("Z", "+00:00")) for k in ("ts", "rx"))
            if w0 <= ts < w1:
                found[int(seq)] = (str(doc["machine"]), _key(doc["machine"], doc["kind"], doc.get("reason"),
                                                             doc.get("raw")), rx)
    finally:
        db.close()
    return found


def latencies(url: str, outbox: Path, truth: Path, w0: datetime, w1: datetime, offset: float) -> tuple[
        dict[str, dict[str, list[float]]], int, int, int]:
    """Per protocol ('opcua' = U*, 'modbus' = B*) and segment (:data:`SEGMENTS`) the latencies (s) of the
    count/scrap events with ``ts`` in the window; also the number stored at central without a journal entry, the
    number not stored at central at all (read from the edge's outbox), and the number whose change is not in the
    truth log (left out). The change happened at wall time ``t + offset`` (``t`` is the simulator's virtual time
    from its truth log; see :class:`TruthClock` and :func:`truth_changes`)."""
    shift = timedelta(seconds=offset)
    w0, w1 = w0 - shift, w1 - shift
    from central.adapters.db.models_costing import EventPostingRow, JournalEntryRow
    from central.adapters.db.models_ingest import EventRow

    out: dict[str, dict[str, list[float]]] = {p: {seg: [] for seg in SEGMENTS} for p in ("opcua", "modbus")}
    changes = truth_changes(truth)

    def proto(machine: object) -> str:
        return "opcua" if str(machine).startswith("U") else "modbus"

    engine = sa.create_engine(url)
    try:
        with sa.orm.Session(engine) as s:
            in_window = (EventRow.ts >= w0, EventRow.ts < w1, EventRow.kind.in_(("count", "scrap")))
            found: Sequence[Any] = s.execute(
                sa.select(EventRow.seq, EventRow.machine, EventRow.kind, EventRow.reason, EventRow.raw, EventRow.rx,
                          EventRow.received,
                          sa.select(sa.func.min(JournalEntryRow.created))
                          .join(EventPostingRow, JournalEntryRow.record_id == EventPostingRow.record_id)
                          .where(EventPostingRow.event_id == EventRow.id).scalar_subquery())
                .where(*in_window)).all()
    finally:
        engine.dispose()
    stored_seqs = set()
    unposted = unmatched = 0
    for seq, machine, kind, reason, raw, rx, received, created in found:
        stored_seqs.add(int(seq))
        key = _key(machine, kind, reason, raw)
        changed = changes.get(key) if key is not None else None
        if changed is None:
            unmatched += 1
            continue
        seg = out[proto(machine)]
        seg["read"].append((rx - changed).total_seconds() - offset)
        seg["to_central"].append((received - rx).total_seconds())
        if created is None:
            unposted += 1
            continue
        seg["to_journal"].append((created - received).total_seconds())
        seg["journal"].append((created - changed).total_seconds() - offset)
    not_stored = 0
    for seq, (machine, key, rx) in edge_reads(outbox, w0, w1).items():
        if seq in stored_seqs:
            continue
        not_stored += 1
        changed = changes.get(key) if key is not None else None
        if changed is None:
            unmatched += 1
            continue
        out[proto(machine)]["read"].append((rx - changed).total_seconds() - offset)
    return out, unposted, not_stored, unmatched


def profile_spread(workdir: Path, ids: list[str], n: int) -> str:
    """Where central's time goes when a batch's events belong to many machines (one work order each):
    ``n`` count events round-robin over ``ids`` in 500-event batches through ``handle_events`` with costing,
    in process under cProfile; the costing functions with the most cumulative time."""
    import cProfile
    import pstats

    from central.bootstrap import bootstrap
    from central.config import CentralSettings, DatabaseSettings
    from edge.encoding import event_body, with_seq
    from shared.contract import assemble_batch
    from shared.topics import events_topic

    url = f"sqlite:///{workdir / 'profile.db'}"
    t0 = (datetime.now(UTC) - timedelta(minutes=30)).replace(microsecond=0)
    prepare_central(url, dict.fromkeys(ids, EDGE), t0 - timedelta(hours=1))
    container = bootstrap(CentralSettings(database=DatabaseSettings(url=url)))
    batches = []
    for lo in range(0, n, 500):
        events = []
        for i in range(lo, min(lo + 500, n)):
            m, ts = ids[i % len(ids)], t0 + timedelta(milliseconds=i * 10)
            events.append(with_seq(i + 1, event_body(machine=m, kind="count", ts=ts, rx=ts, tag=f"{m}.good",
                                                     value=i // len(ids) + 1, prev=i // len(ids), qty=1)))
        batches.append(assemble_batch("P1", EDGE, "s-profile", events))
    prof = cProfile.Profile()
    try:
        start = time.perf_counter()
        prof.enable()
        for body in batches:
            container.ingest.handle_events(events_topic("P1", EDGE), body)
        prof.disable()
        elapsed = time.perf_counter() - start
    finally:
        container.dispose()
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    rows: list[list[object]] = []
    for (filename, _line, name), (_cc, calls, _tt, cum, _callers) in sorted(
            stats.items(), key=lambda kv: -kv[1][3]):
        if "central/service_layer/costing" not in str(filename) or name in ("__call__", "_post"):
            continue
        rows.append([f"`{Path(str(filename)).stem}.{name}`", f"{calls:,}", f"{cum:.1f} s",
                     f"{cum / calls * 1e3:.2f} ms", f"{cum / elapsed * 100:.0f} %"])
        if len(rows) == 6:
            break
    return (f"Where central's time goes: {n:,} count events spread over the same {len(ids):,} machines (a work "
            f"order each) in 500-event batches through `IngestService.handle_events` with costing, in process "
            f"under cProfile: {elapsed:.1f} s, {n / elapsed:,.0f} events/s. The costing functions with the most "
            "time (cumulative, nested calls overlap):\n\n"
            + table(["function", "calls", "time", "per call", "of the run"], rows))


def measure(workdir: Path, machines: int, cycle_s: float, seconds: float, warmup: float,
            drain_s: float) -> tuple[list[list[object]], str]:
    logs = workdir / "logs"
    half = max(1, machines // 2)
    opcua_port, modbus_port = free_port(), free_port()
    truth = workdir / "truth.jsonl"
    sim_cfg = write_toml(workdir / "sim.toml", sim_doc(half, half, cycle_s, opcua_port, modbus_port, truth))
    mapping = sim_mapping(sim_cfg, poll_interval_ms=100, publishing_interval_ms=100)
    ids = [m["id"] for m in mapping["machines"]]
    url = f"sqlite:///{workdir / 'central.db'}"
    prepare_central(url, dict.fromkeys(ids, EDGE), datetime.now(UTC) - timedelta(hours=1))
    broker = BrokerProcess(workdir / "broker", persistence=False)
    broker.start()
    central: ChildProcess | None = None
    sim: ChildProcess | None = None
    edge: ChildProcess | None = None
    try:
        raw = raw_mqtt_latency(broker, machines / cycle_s, min(seconds, 10.0))
        central = spawn_central(url, broker.port, logs)
        clock = TruthClock(truth).start()
        sim = spawn_sim(sim_cfg, logs, truth, opcua_port, modbus_port)
        cfg = write_toml(workdir / "edge.toml", edge_doc(EDGE, workdir / "outbox.db", broker.port, free_port(),
                                                         mapping))
        edge = spawn_edge(cfg, logs)
        engine = sa.create_engine(url)
        try:
            wait_for("first events at central", lambda: bool(scalar(engine, "SELECT COUNT(*) FROM events")),
                     300, [central, sim, edge], poll=0.5)
        finally:
            engine.dispose()
        time.sleep(warmup)
        w0 = datetime.now(UTC)
        usage = {name: Usage(child.pid).start() for name, child in (("simulator", sim), ("edge agent", edge),
                                                                      ("central", central)) if child.pid}
        time.sleep(seconds)
        w1 = datetime.now(UTC)
        cpu = {name: u.stop() for name, u in usage.items()}
        offset = clock.stop()
        engine = sa.create_engine(url)
        try:
            # central's pace in the window (every kind), and how far behind it was at the window's end
            stored_in_window = int(scalar(engine, "SELECT COUNT(*) FROM events WHERE received >= :a AND received < :b",
                                          a=_naive(w0), b=_naive(w1)) or 0)
            newest = scalar(engine, "SELECT MAX(ts) FROM events")
            behind = (w1 - timedelta(seconds=offset) - _aware(newest)).total_seconds() if newest else float("nan")
            # what changed in the window reaches the journal: wait until central stored an event made after
            # the window (it caught up), at most drain_s; what is still missing then is counted as missing
            after = _naive(w1 - timedelta(seconds=offset))
            caught_up = time.monotonic()
            while time.monotonic() - caught_up < drain_s:
                if scalar(engine, "SELECT COUNT(*) FROM events WHERE ts >= :t", t=after):
                    break
                time.sleep(0.5)
        finally:
            engine.dispose()
        time.sleep(1.0)
        waited = time.monotonic() - caught_up
        for alive in (central, sim, edge):
            alive.check_alive()
    finally:
        for child in (edge, sim, central):
            if child is not None:
                child.stop(30)
        broker.kill()
    lat, unposted, not_stored, unmatched = latencies(url, workdir / "outbox.db", truth, w0, w1, offset)
    expected = machines * seconds / cycle_s  # one part per machine per cycle (a few are scrap)
    made = sum(len(lat[p]["read"]) for p in lat)
    events = sum(len(lat[p]["to_central"]) for p in lat)
    rows: list[list[object]] = []
    r50, r99, rmax, _ = quantiles(raw)
    rows.append([f"raw paho QoS 1 publish -> receive, {machines / cycle_s:,.0f} msg/s (baseline)", len(raw),
                 ms(r50), ms(r99), ms(rmax), "1.0x"])
    labels = {"read": "PLC change -> read by the edge (`rx`)",
              "to_central": "edge read -> stored at central (`received`)",
              "to_journal": "stored at central -> journal entry (`created`)",
              "journal": "**PLC change -> journal line**"}
    shares: dict[str, float] = {}
    for proto, label in (("opcua", "OPC UA subscription (100 ms)"), ("modbus", "Modbus poll (100 ms)")):
        for seg in SEGMENTS:
            samples = lat[proto][seg]
            if not samples:
                rows.append([f"{label}: {labels[seg]}", 0, "-", "-", "-", "-"])
                continue
            p50, p99, pmax, mean = quantiles(samples)
            if seg != "journal":
                shares[seg] = shares.get(seg, 0.0) + mean * len(samples)
            rows.append([f"{label}: {labels[seg]}", len(samples), ms(p50), ms(p99), ms(pmax),
                         f"{p99 / max(r99, 1e-4):,.0f}x"])
    everything = lat["opcua"]["journal"] + lat["modbus"]["journal"]
    _, p99_all, _, _ = quantiles(everything)
    met = ("met" if everything and p99_all <= GOAL_P99 and not_stored + unposted <= 0.01 * made
           and made >= 0.95 * expected else "NOT met")
    total_share = sum(shares.values()) or 1.0
    where = ", ".join(f"{labels[seg].split(' (')[0]} {v / total_share * 100:.0f} %"
                      for seg, v in sorted(shares.items(), key=lambda kv: -kv[1]))
    note = (f"{half:,} OPC UA + {half:,} Modbus machines ({tag_count(mapping):,} tags), a part each every "
            f"{cycle_s:g} s: "
            f"{made:,} count/scrap events read by the edge with `ts` in the {seconds:g} s window "
            f"({made / seconds:,.0f} events/s; about {expected:,.0f} made), after {warmup:g} s of warm-up. The "
            f"change time is the simulator's truth log time of the counter value the event carries (virtual, "
            f"{offset:.3f} s behind the wall clock: its start-up, measured from the log and added); {unmatched:,} "
            f"events whose value is not in the log are left out. Central stored {stored_in_window / seconds:,.0f} "
            f"events/s (every kind) during the window and was {behind:,.1f} s behind the plant at its end. "
            f"{events:,} of the window's events stored at central, {unposted:,} of them without a journal entry "
            f"when read; {not_stored:,} not stored {waited:.0f} s after the window (waited for central to catch "
            f"up, at most {drain_s:g} s; their read lag is from the edge's outbox, the rest of their latency is "
            f"above that wait and not in the percentiles). Where the latency goes (share of the summed mean "
            f"latencies): {where or 'nothing measured'}. CPU during the window (share of one core; the machine "
            f"has {os.cpu_count()}): "
            + ", ".join(f"{name} {c * 100:.0f} %" for name, (c, _peak, _last) in cpu.items())
            + f". Goal (p99 <= {GOAL_P99 * 1e3:.0f} ms, all machines, every event of the window posted): "
            f"**{met}** (p99 {ms(p99_all) if everything else 'not measured'}).")
    return rows, note + "\n\n" + (profile_spread(workdir, ids, 200 if machines <= 50 else 3000))


def _naive(t: datetime) -> str:
    """``t`` as SQLite stores central's UTC times (naive, space-separated) for a text comparison."""
    return t.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")


def _aware(value: object) -> datetime:
    t = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--machines", type=int, default=1000, help="machines, each its own work order")
    parser.add_argument("--cycle-s", type=float, default=1.0, help="each machine makes a part this often")
    parser.add_argument("--seconds", type=float, default=300.0, help="measured window (issue: 5 minutes)")
    parser.add_argument("--quick", action="store_true", help="20 machines, 3 s, RESULTS.md untouched")
    parser.add_argument("--drain-s", type=float, default=120.0,
                        help="after the window, wait at most this long for central to catch up")
    parser.add_argument("--no-record", action="store_true", help="print the table only, RESULTS.md untouched")
    args = parser.parse_args()
    machines, seconds, warmup = (20, 3.0, 1.0) if args.quick else (args.machines, args.seconds, 15.0)
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        rows, note = measure(Path(tmp), machines, 1.0 if args.quick else args.cycle_s, seconds, warmup,
                             10.0 if args.quick else args.drain_s)
    body = (
        "Simulated plant (speed 1) -> real edge agent -> mosquitto -> `sfsync central serve` (costing, SQLite, one "
        "process). Latency from the PLC value change (the event's `ts`) to the journal entry's `created`; "
        "\"stored\" is central's `received`.\n\n"
        + table(["path", "events", "p50", "p99", "max", "p99 vs raw"], rows)
        + f"\n\n{note}\n"
    )
    publish("Scale 3: PLC change to journal line latency", body, args.quick or args.no_record)


if __name__ == "__main__":
    main()
