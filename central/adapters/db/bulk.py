"""Bulk inserts of many rows of one table in the session's transaction.

On SQLite the rows go to the driver's ``executemany`` as tuples, each value converted by its
column type's own bind processor (the one SQLAlchemy would apply, so the stored values are the
same): SQLAlchemy's per-row parameter processing of a Core ``insert`` costs several times the
insert itself for thousands of narrow rows. Elsewhere (PostgreSQL) the Core ``insert`` runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Dialect, Table, insert
from sqlalchemy.orm import Session

__all__ = ["insert_rows"]

_Plan = tuple[str, tuple[str, ...], tuple["Callable[[Any], Any] | None", ...]]


@lru_cache(maxsize=64)
def _sqlite_plan(table: Table, keys: tuple[str, ...], dialect: Dialect) -> _Plan | None:
    """The positional INSERT of ``keys`` into ``table``, its column order and bind processors."""
    unknown = [k for k in keys if k not in table.c]
    if unknown:
        raise ValueError(f"{table.name} has no column(s) {', '.join(unknown)}")
    compiled = insert(table).compile(dialect=dialect, column_keys=list(keys))
    order = tuple(compiled.positiontup or ())
    if sorted(order) != sorted(keys):  # a column default to compute, or not a positional paramstyle
        return None
    procs = tuple(
        cast("Callable[[Any], Any] | None", table.c[k].type.dialect_impl(dialect).bind_processor(dialect))
        for k in order
    )
    return compiled.string, order, procs


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys, every one a column of ``table``) into ``table``."""
    if not rows:
        return
    conn = session.connection()
    dialect = conn.dialect
    if dialect.name != "sqlite":
        session.execute(insert(table), list(rows))
        return
    plan = _sqlite_plan(table, tuple(rows[0].keys()), dialect)
    if plan is None:  # a column default to compute: the Core insert computes it
        session.execute(insert(table), list(rows))
        return
    sql, order, procs = plan
    columns: list[list[Any]] = []
    for key, proc in zip(order, procs, strict=True):
        values = [row[key] for row in rows]
        columns.append(values if proc is None else [proc(v) for v in values])
    conn.exec_driver_sql(sql, list(zip(*columns, strict=True)))
