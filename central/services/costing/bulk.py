"""Bulk inserts of many rows of one table in the session's transaction.

On SQLite the rows go to the driver's ``executemany`` as tuples, each value converted by its
column type's own bind processor (the one SQLAlchemy would apply, so the stored values are the
same): SQLAlchemy's per-row parameter processing of a Core ``insert`` costs several times the
insert itself for thousands of narrow rows. Elsewhere (PostgreSQL) the Core ``insert`` runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

__all__ = ["insert_rows"]


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys, every one a column of ``table``) into ``table``."""
    if not rows:
        return
    conn = session.connection()
    dialect = conn.dialect
    if dialect.name != "sqlite":
        session.execute(insert(table), list(rows))
        return
    keys = list(rows[0].keys())
    unknown = [k for k in keys if k not in table.c]
    if unknown:
        raise ValueError(f"{table.name} has no column(s) {', '.join(unknown)}")
    compiled = insert(table).compile(dialect=dialect, column_keys=keys)
    order = list(compiled.positiontup or ())
    if sorted(order) != sorted(keys):  # a column default to compute, or not a positional paramstyle
        session.execute(insert(table), list(rows))
        return
    procs: list[Callable[[Any], Any] | None] = [
        cast("Callable[[Any], Any] | None", table.c[k].type.dialect_impl(dialect).bind_processor(dialect))
        for k in order
    ]
    columns: list[list[Any]] = []
    for key, proc in zip(order, procs, strict=True):
        values = [row[key] for row in rows]
        columns.append(values if proc is None else [proc(v) for v in values])
    conn.exec_driver_sql(compiled.string, list(zip(*columns, strict=True)))
