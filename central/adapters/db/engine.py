"""Engine and session factories (called from bootstrap, never at import time).

SQLite: WAL, ``synchronous=FULL``, ``busy_timeout``, foreign keys on, and transactions that
start with ``BEGIN IMMEDIATE`` on the write engine — a writer takes the lock up front instead
of failing with ``SQLITE_BUSY`` when it upgrades a read transaction. PostgreSQL: plain URL;
the ingest locks its stream cursor row with ``SELECT ... FOR UPDATE``.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from central.config import DatabaseSettings

__all__ = ["make_engine", "make_session_factory", "write_engine", "is_sqlite"]

_BEGIN_OPTION = "sfsync_sqlite_begin"


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(settings: DatabaseSettings | str) -> Engine:
    """Create the process's engine from settings (or a bare URL, for tests and tools)."""
    if isinstance(settings, str):
        settings = DatabaseSettings(url=settings)
    url = make_url(settings.url)
    kwargs: dict[str, Any] = {
        "echo": settings.echo,
        "json_serializer": _json_dumps,
        "json_deserializer": orjson.loads,
    }
    if url.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": settings.busy_timeout_ms / 1000}
        kwargs["pool_size"] = settings.pool_size
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine, settings.busy_timeout_ms)
        return engine
    kwargs["pool_size"] = settings.pool_size
    kwargs["max_overflow"] = settings.pool_size
    kwargs["pool_pre_ping"] = True
    return create_engine(url, **kwargs)


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (below)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def write_engine(engine: Engine) -> Engine:
    """The same pool, but SQLite transactions begin IMMEDIATE (no-op on other dialects)."""
    if is_sqlite(engine):
        return engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)
