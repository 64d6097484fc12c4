"""Ingest with postings enabled: events/s through ``IngestService.handle_events`` (decode, dedup,
cursor, store) with the costing handler posting every event (production records, backflush,
conversion applied, finished goods, lineage rows), on SQLite.

Baseline, same run, same batches: the same ingest with the no-costing handler (events stored and
acked, nothing posted). Two shapes (``--machines``, repeatable):

* 4 machines (the demo plant): one order dispatched on each, 500 events per batch, one stream per
  machine, so a batch posts to one order;
* N machines (e.g. 1,000): one order each, one stream whose events go round-robin over the
  machines (one event per machine per batch slot), so a 500-event batch posts to ~500 orders.

95% counts, 4% scrap, 1% state changes (per machine). ``--quick``: small sizes, RESULTS.md untouched.
"""

from __future__ import annotations

import argparse
import cProfile
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson
import yaml

from bench.results import table, write_section

ROOT = Path(__file__).resolve().parent.parent

BATCH = 500
MACHINES = {"PRESS-1": "BR-100", "PRESS-2": "PL-200", "CNC-1": "SH-300", "CNC-2": "SH-300"}
SPREAD_ITEM, SPREAD_CENTER = "BR-100", "WC-PRESS"


def _doc(seq: int, machine: str, k: int, ts: str) -> dict[str, object]:
    """The ``k``-th event of ``machine`` (1-based): every 100th a state change, every 25th a scrap."""
    doc: dict[str, object] = {"seq": seq, "machine": machine, "ts": ts, "rx": ts, "flags": []}
    if k % 100 == 0:
        doc |= {"kind": "state", "state": "running" if k % 200 else "down",
                "raw": {"tag": "st", "value": 1, "prev": 0}}
        if not k % 200:
            doc["reason"] = "EQ_FAIL"
    elif k % 25 == 0:
        doc |= {"kind": "scrap", "qty": 1, "reason": "BURR", "raw": {"tag": "scrap", "value": k, "prev": k - 1}}
    else:
        doc |= {"kind": "count", "qty": 1, "raw": {"tag": "good", "value": k, "prev": k - 1}}
    return doc


def payloads(per_machine: int, t0: datetime) -> list[tuple[str, bytes]]:
    """The 4-machine shape: one stream per machine, 500 events per batch."""
    from shared.contract import assemble_batch, format_ts
    from shared.topics import events_topic

    topic = events_topic("P1", "edge-1")
    out: list[tuple[str, bytes]] = []
    for lo in range(1, per_machine + 1, BATCH):
        for n, machine in enumerate(MACHINES):
            events = []
            for seq in range(lo, min(lo + BATCH - 1, per_machine) + 1):
                ts = format_ts(t0 + timedelta(milliseconds=seq * 200 + n))
                events.append(orjson.dumps(_doc(seq, machine, seq, ts)))
            out.append((topic, assemble_batch("P1", "edge-1", f"s-{machine}", events)))
    return out


def spread_machines(n: int) -> list[str]:
    return [f"M-{i:05}" for i in range(n)]


def spread_payloads(machines: list[str], total: int, t0: datetime) -> list[tuple[str, bytes]]:
    """The many-orders shape: one stream, event ``i`` on machine ``i mod N``, 500 events per batch."""
    from shared.contract import assemble_batch, format_ts
    from shared.topics import events_topic

    topic = events_topic("P1", "edge-1")
    out: list[tuple[str, bytes]] = []
    for lo in range(0, total, BATCH):
        events = []
        for i in range(lo, min(lo + BATCH, total)):
            ts = format_ts(t0 + timedelta(milliseconds=i * 10))
            events.append(orjson.dumps(_doc(i + 1, machines[i % len(machines)], i // len(machines) + 1, ts)))
        out.append((topic, assemble_batch("P1", "edge-1", "s-spread", events)))
    return out


def _setup(container: Any, orders: dict[str, str], t0: datetime) -> None:
    """Demo master data plus any machine of ``orders`` it lacks (on WC-PRESS); one order per machine."""
    from central.service_layer.costing import load_master, parse_master_file, work_orders

    doc = yaml.safe_load((ROOT / "central" / "demo_master.yaml").read_text())
    known = {m["id"] for m in doc["machines"]}
    doc["machines"] += [{"id": m, "work_center": SPREAD_CENTER, "edge": "edge-1"} for m in orders if m not in known]
    with container.write_sessions() as s, s.begin():
        load_master(s, parse_master_file(doc), "bench")
    with container.write_sessions() as s, s.begin():
        for n, (machine, item) in enumerate(orders.items()):
            wo = f"WO-{n}"
            work_orders.create_order(s, item, Decimal(10**9), "bench", wo)
            work_orders.release(s, wo, "bench")
            work_orders.start(s, wo, machine, "bench", at=t0)


def run(url: str, costing: bool, batches: list[tuple[str, bytes]], t0: datetime,
        orders: dict[str, str] | None = None, profile: str | None = None) -> tuple[float, float]:
    """Wall-clock and CPU seconds of this process to ingest every batch (setup excluded; the CPU
    time does not count other work on a shared machine); ``profile``: write cProfile stats there."""
    from central.bootstrap import bootstrap
    from central.config import CentralSettings, DatabaseSettings
    from central.service_layer.costing import CostingHandler
    from central.service_layer.ingest.seam import NoCostingHandler

    settings = CentralSettings(database=DatabaseSettings(url=url))
    handler = CostingHandler() if costing else NoCostingHandler()
    container = bootstrap(settings, posting=handler, migrate=True)
    try:
        _setup(container, orders or MACHINES, t0)
        prof = cProfile.Profile(time.process_time) if profile else None
        start, cpu = time.perf_counter(), time.process_time()
        if prof is not None:
            prof.enable()
        for topic, body in batches:
            result = container.ingest.handle_events(topic, body)
            if not result.ack:
                raise RuntimeError(f"batch not acked: {result}")
        if prof is not None and profile is not None:
            prof.disable()
            prof.dump_stats(profile)
        return time.perf_counter() - start, time.process_time() - cpu
    finally:
        container.dispose()


def shape(tmp: str, machines: int, events: int, t0: datetime, profile: str | None,
          repeat: int = 1) -> tuple[str, list[object]]:
    """One shape's row: its name, then alone / with postings rates, the ratios and the CPU per
    event. ``repeat`` > 1: alone and with postings run that many times, alternating; the median
    of each figure is shown (the ratios of every round after it)."""
    if machines == len(MACHINES):
        per_machine = max(1, events // machines)
        batches, orders = payloads(per_machine, t0), dict(MACHINES)
        total = per_machine * machines
        name = f"{machines} machines, a batch = one order"
    else:
        ids = spread_machines(machines)
        batches, orders, total = spread_payloads(ids, events, t0), dict.fromkeys(ids, SPREAD_ITEM), events
        name = f"{machines:,} machines, a batch = ~{min(BATCH, machines)} orders"
    rounds: list[tuple[float, float, float, float]] = []
    for n in range(repeat):
        alone, alone_cpu = run(f"sqlite:///{tmp}/alone-{machines}-{n}.db", False, batches, t0, orders)
        posted, posted_cpu = run(f"sqlite:///{tmp}/posted-{machines}-{n}.db", True, batches, t0, orders,
                                 profile and f"{profile}.{machines}")
        rounds.append((alone, alone_cpu, posted, posted_cpu))
    alone, alone_cpu, posted, posted_cpu = (statistics.median(r[i] for r in rounds) for i in range(4))
    ratios = statistics.median(r[0] / r[2] for r in rounds)
    cpu_ratios = statistics.median(r[1] / r[3] for r in rounds)
    every = (f" ({', '.join(f'{r[0] / r[2]:.2f}' for r in rounds)})" if repeat > 1 else "")
    every_cpu = (f" ({', '.join(f'{r[1] / r[3]:.2f}' for r in rounds)})" if repeat > 1 else "")
    return name, [f"{total:,}", f"{total / alone:,.0f} events/s", f"{total / posted:,.0f} events/s",
                  f"{ratios:.2f}x{every}", f"{cpu_ratios:.2f}x{every_cpu}",
                  f"{alone_cpu / total * 1e6:,.0f} / {posted_cpu / total * 1e6:,.0f} µs"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--machines", type=int, action="append",
                        help=f"machines of a shape (repeatable; default {len(MACHINES)} and 1000; "
                             f"{len(MACHINES)} is the demo plant)")
    parser.add_argument("--events", type=int, default=20000, help="events of the 4-machine shape")
    parser.add_argument("--spread-events", type=int, default=10000, help="events of an N-machine shape")
    parser.add_argument("--per-machine", type=int, help="4-machine shape: events per machine (overrides --events)")
    parser.add_argument("--profile", help="write cProfile stats of the postings runs to PROFILE.<machines> "
                                          "(RESULTS.md untouched: profiled times are not the benchmark's)")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes (and 100 machines for the spread shape), RESULTS.md untouched")
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds of each shape, alone and with postings alternating; medians shown")
    parser.add_argument("--no-record", action="store_true", help="print the table only, RESULTS.md untouched")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    shapes = args.machines or [len(MACHINES), 100 if args.quick else 1000]
    if any(m < 1 for m in shapes):
        parser.error("--machines must be at least 1")
    four = args.per_machine * len(MACHINES) if args.per_machine else args.events
    t0 = (datetime.now(UTC) - timedelta(days=2)).replace(microsecond=0)
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for machines in shapes:
            size = four if machines == len(MACHINES) else args.spread_events
            if args.quick:
                size = min(size, 2 * BATCH if machines == len(MACHINES) else BATCH)
            name, row = shape(tmp, machines, size, t0, args.profile, 1 if args.quick else args.repeat)
            rows.append([name, *row])
    body = (
        f"Batches of up to {BATCH} events (95% counts, 4% scrap, 1% states per machine) through "
        "`IngestService.handle_events` on SQLite (WAL, synchronous=FULL), in process, no broker; one work order "
        "per machine. The 4-machine shape has one stream per machine (a batch posts to one order); the "
        "N-machine shape one stream going round-robin over the machines (a 500-event batch posts to ~500 "
        "orders). Baseline: the same batches ingested with the no-costing handler, same run. Goals (issue 16): "
        "with postings >= 0.9x ingest alone; 1,000 events/s sustained over 1,000 machines.\n\n"
        + table(["shape", "events", "ingest alone (baseline)", "ingest + postings", "with postings / alone",
                 "same, CPU time", "CPU per event, alone / with postings"], rows)
        + "\n\nThe CPU columns use the CPU seconds of the benchmark process: on a shared machine other work "
        "inflates wall-clock times far more than this process's CPU time (SQLite's fsyncs are not counted "
        "either; contention for the cores still inflates it somewhat, so compare within a run)."
        + (f" Median of {args.repeat} rounds, alone and with postings alternating (each round's ratio in "
           "brackets)." if args.repeat > 1 and not args.quick else ""))
    print(body)
    if args.quick or args.profile or args.no_record:
        print("(--quick/--profile/--no-record: not written to bench/RESULTS.md)")
    else:
        write_section("Ingest with postings (costing)", body)


if __name__ == "__main__":
    main()
