"""The one place where SQL dialects differ (SQLite and PostgreSQL).

Services write portable SQLAlchemy; what only one database can do, or does faster, is a
function here that branches on the session's dialect: an upsert (``INSERT ... ON CONFLICT``,
spelled by each dialect's own ``insert``), and a bulk insert through ``COPY`` on PostgreSQL.
Add a function rather than a branch in a service.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Table, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from central.adapters.db.base import Base

__all__ = ["bulk_insert", "upsert_insert"]

COPY_MIN_ROWS = 20
"""Below this many rows ``executemany`` is as fast as ``COPY`` and simpler."""


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
    round trip; ``json_columns`` are sent as JSON text), ``executemany`` elsewhere and for
    small batches."""
    conn = session.connection()
    if conn.dialect.name != "postgresql" or len(rows) < COPY_MIN_ROWS:
        conn.execute(insert(table), rows)
        return
    dbapi_conn: Any = conn.connection.dbapi_connection
    with dbapi_conn.cursor() as cur, cur.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
        for r in rows:
            copy.write_row([
                orjson.dumps(r[c]).decode() if c in json_columns and r[c] is not None else r[c]
                for c in columns
            ])
