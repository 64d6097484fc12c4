"""``central.adapters.db.dialect.insert_rows`` stores exactly what a Core ``insert`` stores (SQLite driver path)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    create_engine,
    insert,
    select,
    text,
)
from sqlalchemy.orm import Session

from central.adapters.db.base import UtcDateTime
from central.adapters.db.dialect import insert_rows
from central.adapters.db.engine import make_engine
from central.adapters.db.models_costing import Cents


def _table(meta: MetaData, name: str) -> Table:
    return Table(
        name, meta,
        Column("id", Integer, primary_key=True),
        Column("ts", UtcDateTime),
        Column("qty", BigInteger, default=0),
        Column("late", Boolean, default=False),
        Column("amount", Numeric(18, 2)),
        Column("note", String(20), nullable=True),
        Column("doc", JSON, nullable=True),
        Column("cents", Cents, nullable=True),
    )


def _rows() -> list[dict[str, object]]:
    t0 = datetime(2026, 3, 29, 0, 59, 59, 999999, tzinfo=UTC)
    plus2 = timezone(timedelta(hours=2))
    whole = datetime(999, 1, 2, 3, 4, 5)  # naive (read as UTC), no microseconds, a 3-digit year
    rows: list[dict[str, object]] = [
        {"id": n, "ts": (t0 + timedelta(minutes=n)).astimezone(plus2) if n % 2 else t0 + timedelta(minutes=n),
         "qty": n * 7, "late": bool(n % 3), "amount": Decimal(n) / 3, "note": None if n % 4 else f"n{n}",
         "doc": [None, {"n": n}, ["a", n], "text", None][n % 5], "cents": Decimal(n % 4) / 4}
        for n in range(1, 40)
    ]
    rows += [  # repeated values (converted once per insert), equal instants in other zones, the same object
        {"id": 40 + n, "ts": [whole, whole.replace(tzinfo=UTC), t0, t0.astimezone(plus2), t0][n % 5],
         "qty": 1, "late": n % 2 == 0, "amount": Decimal("1.50") if n % 2 else Decimal("1.5"), "note": "same",
         "doc": {"same": True}, "cents": [Decimal("0.10"), Decimal("0.1"), 0, None][n % 4]}
        for n in range(12)
    ]
    return rows


def test_same_stored_values_as_core_insert(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/bulk.db")  # central's engine: its JSON serializer
    meta = MetaData()
    core, fast = _table(meta, "core"), _table(meta, "fast")
    meta.create_all(engine)
    with Session(engine) as s, s.begin():
        s.execute(insert(core), _rows())
        insert_rows(s, fast, _rows())
    with Session(engine) as s:
        raw_core = s.execute(text("SELECT * FROM core ORDER BY id")).all()
        raw_fast = s.execute(text("SELECT * FROM fast ORDER BY id")).all()
        assert raw_fast == raw_core and len(raw_fast) == 51
        assert s.execute(select(fast.c.ts).where(fast.c.id == 1)).scalar_one() == datetime(
            2026, 3, 29, 1, 0, 59, 999999, tzinfo=UTC)
    engine.dispose()


def test_missing_column_default_falls_back_and_unknown_column_refused(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/bulk.db")
    meta = MetaData()
    fast = _table(meta, "fast")
    meta.create_all(engine)
    with Session(engine) as s, s.begin():
        insert_rows(s, fast, [{"id": 1, "ts": None, "amount": Decimal("1.50"), "note": "x"}])  # qty, late default
        assert s.execute(select(fast.c.qty, fast.c.late)).one() == (0, False)
        with pytest.raises(ValueError, match="no column"):
            insert_rows(s, fast, [{"id": 2, "nope": 1}])
    engine.dispose()
