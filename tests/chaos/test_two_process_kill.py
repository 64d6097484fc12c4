"""Central as two processes on PostgreSQL, one ``kill -9``ed mid-run: every event posted exactly once.

The plant of ``sfsync demo`` (simulated PLCs over OPC UA and Modbus, the real edge agent,
mosquitto; the demo master data, one work order started per machine), except that central runs
as **two** ``sfsync central serve`` processes on one PostgreSQL schema, both on the MQTT shared
subscription (``ingest.shared_subscription = true``: ``$share/central/...``), so the broker hands
each batch to one of them. While the plant produces, process A is SIGKILLed (whatever it held, a
batch half-stored, an ack not yet published, an MQTT message not yet acknowledged, is gone),
process B carries on alone for a while, then A is started again. Production then stops (the
PLCs keep serving their last values) and the stored result must equal the simulator's truth log
exactly:

- every stream's seqs are 1..N, each stored once, all accepted, none held behind a gap, and the
  stream's cursor is at N;
- every accepted event has exactly one posting (``event_postings``), and the posted good and
  scrap quantities per machine equal the truth log (units before the edge's ``baseline`` read of
  a counter are not the edge's to count, as in ``test_e2e_plant``);
- the ledger balances (debits = credits) and both processes took batches.

Set-up is in this process (migrations, master data, work orders) and the five processes start
together, so the test stays well under a minute on an idle machine. Skipped with a visible
reason without ``SFSYNC_TEST_PG_URL``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from support.demo import truth_totals

from central.bootstrap import bootstrap
from central.config import CentralSettings, DatabaseSettings
from central.service_layer.costing import work_orders
from central.service_layer.costing.master_data import load_file
from sfsync.broker import BrokerProcess, free_port, wait_port
from sfsync.demo_configs import DemoPaths, DemoPorts, dispatch_plan, master_data_path, write_configs
from sfsync.demo_procs import ChildProcess, DemoError, log_tail, sfsync_argv, wait_http, wait_ready
from sfsync.demo_view import parse_metrics

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

#: simulated seconds of production; at SPEED that is RUN_FOR / SPEED wall seconds
SPEED, RUN_FOR = 4.0, 72.0


@dataclass
class Plant:
    a: ChildProcess
    b: ChildProcess
    api_a: str
    api_b: str
    truth: Path
    children: list[ChildProcess]


def _prepare(url: str) -> None:
    """Migrate, load the demo master data and start one work order per demo machine (as the demo does)."""
    container = bootstrap(CentralSettings(database=DatabaseSettings(url=url)), migrate=True)
    try:
        with container.write_sessions() as s, s.begin():
            load_file(s, master_data_path(), "test")
        start = datetime.now(UTC) - timedelta(minutes=5)
        with container.write_sessions() as s, s.begin():
            for n, (machine, item) in enumerate(dispatch_plan(master_data_path())):
                wo = f"WO-KILL-{n}"
                work_orders.create_order(s, item, Decimal(100_000), "test", wo)
                work_orders.release(s, wo, "test")
                work_orders.start(s, wo, machine, "test", at=start)
    finally:
        container.dispose()


@pytest.fixture
def plant(tmp_path: Path, pg_url: str) -> Iterator[Plant]:
    """Broker, central A and B on ``pg_url`` (shared subscription), the simulator and the edge."""
    broker_port = free_port()
    ports = DemoPorts(broker=broker_port, proxy=broker_port, api=free_port(), edge_status=free_port(),
                      opcua=free_port(), modbus=free_port())  # proxy = broker: the edge connects directly
    paths = DemoPaths(tmp_path / "plant")
    cfg = write_configs(ports, paths, SPEED, 42, RUN_FOR, master_data=True)
    _prepare(pg_url)
    broker = BrokerProcess(workdir=paths.broker, port=broker_port, kind="mosquitto")
    broker.start(timeout=30)
    api_b = free_port()
    common = {"SFSYNC_CENTRAL_DATABASE__URL": pg_url, "SFSYNC_CENTRAL_INGEST__SHARED_SUBSCRIPTION": "true",
              "SFSYNC_CENTRAL_LEDGER__SEAL_INTERVAL_SECONDS": "0", "SFSYNC_CENTRAL_AUTH__BOOTSTRAP_ADMIN": "false"}

    def central(name: str, api_port: int) -> ChildProcess:
        env = {**common, "SFSYNC_CENTRAL_MQTT__CLIENT_ID": f"sfsync-{name}", "SFSYNC_CENTRAL_API__PORT": str(api_port)}
        return ChildProcess(name, sfsync_argv("central", "serve", "--config", str(cfg["central"])),
                            paths.logs / f"{name}.log", env=env)

    a, b = central("central-a", ports.api), central("central-b", api_b)
    sim = ChildProcess("sim", sfsync_argv("sim", "--config", str(cfg["sim"]), "--truth", str(paths.truth)),
                       paths.logs / "sim.log")
    edge = ChildProcess("edge", sfsync_argv("edge", "run", "--config", str(cfg["edge"])), paths.logs / "edge.log")
    children = [a, b, sim, edge]
    try:
        for child in children:
            child.start()
        api_a = f"http://127.0.0.1:{ports.api}"
        for api, child in ((api_a, a), (f"http://127.0.0.1:{api_b}", b)):
            wait_http(f"{api}/api/v1/health", 60, [child])
        wait_ready("simulated PLCs", lambda: wait_port("127.0.0.1", ports.modbus, 0.2), 60, [sim])
        yield Plant(a, b, api_a, f"http://127.0.0.1:{api_b}", paths.truth, children)
    finally:
        problems = []
        for child in (edge, sim, b, a):
            status = child.stop(20)
            if status not in (None, 0, -15, 143, -9):  # -9: central A, when the test failed before restarting it
                problems.append(f"{child.name} exited with {status}:\n{log_tail(child.logfile, 1500)}")
        broker.stop()
        assert problems == [], problems


def _metric(url: str, name: str) -> float:
    try:
        return parse_metrics(httpx.get(f"{url}/metrics", timeout=3).text).get(name) or 0.0
    except httpx.HTTPError:
        return 0.0


def _count(engine: sa.Engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql(sql).scalar() or 0)


def _baselines(engine: sa.Engine) -> dict[tuple[str, str, str | None], int]:
    """Counter value at the edge's first read per (machine, kind, scrap reason), from ``baseline`` events."""
    out: dict[tuple[str, str, str | None], int] = {}
    with engine.connect() as conn:
        rows: Sequence[Any] = conn.execute(sa.text("SELECT machine, kind, reason, flags, raw FROM events "
                                    "WHERE kind IN ('count', 'scrap') ORDER BY stream, seq")).all()
    for machine, kind, reason, flags, raw in rows:
        if "baseline" in (flags or []):
            out.setdefault((machine, kind, reason if kind == "scrap" else None), int(raw["value"]))
    return out


def _posted_totals(engine: sa.Engine) -> dict[tuple[str, str], int]:
    with engine.connect() as conn:
        rows: Sequence[Any] = conn.execute(sa.text("SELECT machine, kind, SUM(qty) FROM event_postings "
                                    "WHERE kind IN ('count', 'scrap') GROUP BY machine, kind")).all()
    return {(m, k): int(q) for m, k, q in rows if int(q)}


@pytest.mark.timeout(150)
def test_kill_one_of_two_central_processes_posts_every_event_exactly_once(plant: Plant, pg_url: str) -> None:
    a, b = plant.a, plant.b
    engine = sa.create_engine(pg_url)
    try:
        def stored() -> int:
            return _count(engine, "SELECT COUNT(*) FROM events")

        def both_took_batches() -> bool:
            return all(_metric(api, "sfsync_ingest_batches_total") > 0 for api in (plant.api_a, plant.api_b))

        wait_ready("first events at central", lambda: stored() > 20, 40, [a, b])
        wait_ready("both processes take batches", both_took_batches, 20, [a, b])
        a.kill()  # SIGKILL mid-run
        before = stored()
        wait_ready("process B alone keeps storing", lambda: stored() > before + 20, 30, [b])
        a.start()
        wait_http(f"{plant.api_a}/api/v1/health", 60, [a])

        truth_path = plant.truth
        wait_ready("production ends", lambda: truth_totals(truth_path)[1], 60, [a, b])
        got: dict[tuple[str, str], int] = {}
        truth: dict[tuple[str, str], int] = {}

        def converged() -> bool:
            nonlocal got, truth
            got = _posted_totals(engine)
            truth = truth_totals(truth_path, _baselines(engine))[0]
            return got == truth

        try:
            wait_ready("posted totals equal the truth log", converged, 40, [a, b])
        except DemoError:
            pytest.fail(f"posted {sorted(got.items())} != truth {sorted(truth.items())}\n"
                        f"--- central A:\n{log_tail(a.logfile, 2000)}\n--- central B:\n{log_tail(b.logfile, 2000)}")
        assert got == truth
        assert sum(truth.values()) > 0 and len({m for m, _ in truth}) == 4

        with engine.connect() as conn:
            streams: Sequence[Any] = conn.execute(sa.text(
                "SELECT stream, COUNT(*), COUNT(DISTINCT seq), MIN(seq), MAX(seq), "
                "SUM(CASE WHEN status = 'accepted' THEN 1 ELSE 0 END) FROM events GROUP BY stream")).all()
            pairs: Sequence[Any] = conn.execute(sa.text("SELECT stream, acked_through FROM streams")).all()
            cursors = {str(k): int(v) for k, v in pairs}
        assert streams, "no events stored"
        for stream, n, distinct, lo, hi, accepted in streams:
            assert (n, distinct, lo, hi, accepted) == (hi, hi, 1, hi, hi), (stream, n, distinct, lo, hi, accepted)
            assert cursors[stream] == hi
        accepted = _count(engine, "SELECT COUNT(*) FROM events WHERE status = 'accepted'")
        assert _count(engine, "SELECT COUNT(*) FROM event_postings") == accepted
        assert _count(engine, "SELECT COUNT(DISTINCT event_id) FROM event_postings") == accepted
        assert _count(engine, "SELECT COUNT(*) FROM events e LEFT JOIN event_postings p ON p.event_id = e.id "
                              "WHERE e.status = 'accepted' AND p.event_id IS NULL") == 0
        with engine.connect() as conn:
            sums: Any = conn.execute(sa.text("SELECT SUM(debit), SUM(credit) FROM journal_lines")).one()
        debit, credit = Decimal(sums[0] or 0), Decimal(sums[1] or 0)
        assert debit == credit and debit > 0, (debit, credit)
    finally:
        engine.dispose()

