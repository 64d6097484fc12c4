"""Audit log cost: a write transaction with one audit record vs the same transaction without,
and chain verification against a raw read of the same rows (SQLite file, WAL, synchronous=FULL)."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import JSON, Column, Integer, MetaData, String, Table, create_engine, insert, select, text

from bench.results import table, write_section
from central.adapters.db.engine import make_engine, make_session_factory, write_engine
from central.adapters.db.migrate import upgrade
from central.adapters.db.models_governance import AuditRow
from central.service_layer import governance
from central.service_layer.access import Principal

WHO = Principal("bench", "controller", "tok-bench")


@contextmanager
def _database(url: str | None, tmp: str) -> Iterator[str]:
    """A temporary SQLite file, or a fresh PostgreSQL schema (dropped afterwards) on ``url``."""
    if url is None:
        yield f"sqlite:///{tmp}/bench.db"
        return
    schema = f"bench_gov_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--transactions", type=int, default=400)
    parser.add_argument("--url", default=None,
                        help="PostgreSQL URL: run in a fresh schema there (default: a temporary SQLite file)")
    args = parser.parse_args()
    n = args.transactions
    with tempfile.TemporaryDirectory() as tmp, _database(args.url, tmp) as url:
        engine = make_engine(url)
        upgrade(write_engine(engine))
        scratch = Table("bench_scratch", MetaData(), Column("id", Integer, primary_key=True),
                        Column("name", String(64)), Column("data", JSON))
        scratch.create(engine, checkfirst=True)
        sessions = make_session_factory(write_engine(engine))

        def run(audited: bool) -> float:
            t0 = time.perf_counter()
            for i in range(n):
                with sessions() as s, s.begin():
                    s.execute(insert(scratch).values(name=f"row{i}", data={"i": i, "amount": "1.10"}))
                    if audited:
                        governance.record(s, WHO, "bench.write", f"row/{i}", {"i": i, "amount": "1.10"})
            return time.perf_counter() - t0

        run(False)  # warm up the pool and the file
        raw = min(run(False) for _ in range(2))
        audited = min(run(True) for _ in range(2))
        with sessions() as s:
            records = s.query(AuditRow).count()
        reads = make_session_factory(engine)

        def verify_once() -> float:
            t0 = time.perf_counter()
            report = governance.verify_snapshot(reads)
            assert report["ok"], report
            return time.perf_counter() - t0

        def read_once() -> float:
            t0 = time.perf_counter()
            with reads() as s, s.begin():
                rows = s.execute(select(AuditRow.seq, AuditRow.at, AuditRow.actor, AuditRow.role, AuditRow.token_id,
                                        AuditRow.action, AuditRow.target, AuditRow.detail, AuditRow.request_digest,
                                        AuditRow.prev_hash, AuditRow.hash).order_by(AuditRow.seq)).all()
            assert len(rows) == records
            return time.perf_counter() - t0

        verify = min(verify_once() for _ in range(3))
        read = min(read_once() for _ in range(3))
        dialect = engine.dialect.name
        engine.dispose()
    out: list[list[object]] = [
        ["write transaction, no audit (baseline)", f"{raw / n * 1e3:.2f} ms", f"{n / raw:,.0f} tx/s", "1.00x"],
        ["write transaction + 1 audit record", f"{audited / n * 1e3:.2f} ms", f"{n / audited:,.0f} tx/s",
         f"{audited / raw:.2f}x"],
        ["read every audit row (baseline)", f"{read * 1e3:.1f} ms", f"{records / read:,.0f} records/s", "1.00x"],
        ["verify the chain (hash every record)", f"{verify * 1e3:.1f} ms", f"{records / verify:,.0f} records/s",
         f"{verify / read:.2f}x"],
    ]
    body = (f"{n} transactions per run (best of 2), {records} records verified; "
            f"{dialect}{' file (WAL, synchronous=FULL)' if dialect == 'sqlite' else ''}.\n\n"
            + table(["operation", "per tx / total", "rate", "vs baseline"], out))
    print(body)
    write_section("Governance: audit log", body)


if __name__ == "__main__":
    main()
