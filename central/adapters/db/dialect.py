"""The one place where SQL dialects differ (SQLite and PostgreSQL).

Services write portable SQLAlchemy; what only one database can do, or does faster, is a
function here that branches on the session's dialect: an upsert (``INSERT ... ON CONFLICT``,
spelled by each dialect's own ``insert``), a bulk insert through ``COPY`` on PostgreSQL, the
SQLite driver's ``executemany`` for many narrow rows (:func:`insert_rows`), and row locks
(:func:`for_update`). Add a function rather than a branch in a service.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TypeVar, cast

import orjson
from sqlalchemy import JSON, Dialect, Select, Table, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from central.adapters.db.base import Base, UtcDateTime

__all__ = ["bulk_insert", "for_update", "insert_rows", "unindexed", "upsert_insert"]

_T = TypeVar("_T")

COPY_MIN_ROWS = 20
"""Below this many rows ``executemany`` is as fast as ``COPY`` and simpler."""


def unindexed(column: Any) -> Any:
    """``column || ''``: the same value, but no index on ``column`` can serve the condition. Without
    statistics SQLite takes ``ix_event_postings_status`` for ``status IN (...)`` -- nearly every row
    of the history -- over the (machine, kind, ts) range of a report window: 970 ms instead of 65 ms
    for a day at 1M events (measured). PostgreSQL plans by its statistics either way."""
    return column + ""


def upsert_insert(session: Session, model: type[Base]) -> Any:
    """``INSERT`` with ``on_conflict_do_*`` for the session's dialect (SQLite or PostgreSQL)."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(model)
    if name == "sqlite":
        return sqlite.insert(model)
    raise NotImplementedError(f"upsert on {name}")  # pragma: no cover


def bulk_insert(
    session: Session, table: Table, columns: Sequence[str], rows: list[dict[str, Any]],
    json_columns: frozenset[str] = frozenset(),
) -> None:
    """Insert ``rows`` (each holding every name of ``columns``): ``COPY`` on PostgreSQL (one
    round trip; ``json_columns`` are sent as JSON text), :func:`insert_rows` elsewhere and for
    small batches."""
    conn = session.connection()
    if conn.dialect.name != "postgresql" or len(rows) < COPY_MIN_ROWS:
        insert_rows(session, table, rows)  # SQLite: the driver's executemany, values through the column types
        return
    dbapi_conn: Any = conn.connection.dbapi_connection
    with dbapi_conn.cursor() as cur, cur.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
        for r in rows:
            copy.write_row([
                orjson.dumps(r[c]).decode() if c in json_columns and r[c] is not None else r[c]
                for c in columns
            ])


def for_update(session: Session, stmt: Select[_T]) -> Select[_T]:
    """``stmt`` with ``FOR UPDATE`` where the database locks rows; SQLite locks the whole
    database for a writing transaction instead, so there the statement stays as it is."""
    return stmt if session.get_bind().dialect.name == "sqlite" else stmt.with_for_update()


# -- insert_rows: many narrow rows of one table ------------------------------------------------
# On SQLite the rows go to the driver's ``executemany`` as tuples, each value converted by its
# column type's own bind processor (the one SQLAlchemy would apply, so the stored values are the
# same): SQLAlchemy's per-row parameter processing of a Core ``insert`` costs several times the
# insert itself for thousands of narrow rows. Elsewhere (PostgreSQL) the Core ``insert`` runs.

_Plan = tuple[str, tuple[str, ...], tuple["Callable[[Any], Any] | None", ...]]


def _sqlite_utc_text(value: datetime | None) -> str | None:
    """What ``UtcDateTime`` binds on SQLite, in one C call: the instant in UTC, naive, as SQLAlchemy's
    SQLite ``DATETIME`` storage format (``YYYY-MM-DD HH:MM:SS.ffffff``, microseconds always written).
    Stored text is compared as text by every range read, so it must be exactly that string
    (``tests/integration/test_costing_bulk.py`` compares it with the Core insert's)."""
    return None if value is None else _utc_text(value)


@lru_cache(maxsize=4096)
def _utc_text(value: datetime) -> str:
    """:func:`_sqlite_utc_text` of a datetime, cached: an event's ``ts`` is bound again as its
    ``posting_ts``, usually its ``rx``, and its posting's ``ts`` (equal instants give equal text)."""
    if value.tzinfo is not None and value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_processor(column: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    """The bind processor of ``column`` on SQLite: the type's own, or an equivalent fast one."""
    if isinstance(column.type, UtcDateTime):
        return _sqlite_utc_text
    own = cast("Callable[[Any], Any] | None", column.type.dialect_impl(dialect).bind_processor(dialect))
    serialize = getattr(dialect, "_json_serializer", None)
    if (own is not None and serialize is not None and isinstance(column.type, JSON)
            and column.type._str_impl.bind_processor(dialect) is None):
        # a document is the engine's serializer's text; None and SQL NULL markers keep the type's rules
        def document(value: Any) -> Any:
            return serialize(value) if isinstance(value, dict | list) else own(value)
        return document
    return own


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
    procs = tuple(_sqlite_processor(table.c[k], dialect) for k in order)
    return compiled.string, order, procs


def _processed(proc: Callable[[Any], Any], values: list[Any]) -> list[Any]:
    """``proc`` of every value, each distinct hashable value converted once (amounts, flags and
    times repeat within a batch: the same processor output for equal inputs)."""
    if isinstance(values[0], dict | list):  # documents: unhashable, converted every time
        return [proc(v) for v in values]
    done: dict[Any, Any] = {}
    out: list[Any] = []
    append = out.append
    for v in values:
        try:
            append(done[v])
        except KeyError:
            append(done.setdefault(v, proc(v)))
        except TypeError:  # unhashable (a JSON document): converted every time
            append(proc(v))
    return out


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
        if proc is None:
            columns.append(values)
        elif all(v is values[0] for v in values):  # one value for every row (a batch's receive time)
            columns.append([proc(values[0])] * len(values))
        elif proc is _sqlite_utc_text:  # cached across columns and calls already
            columns.append([proc(v) for v in values])
        else:
            columns.append(_processed(proc, values))
    conn.exec_driver_sql(sql, list(zip(*columns, strict=True)))
