"""Start-up checks of central's settings against the outside world, before anything is created.

:mod:`central.config` checks what needs nothing but the settings (ranges, URL syntax, files).
What needs the machine or the network is checked here, by the CLI, before the database is
opened or migrated: a bad setting stops the process with :class:`~shared.config.ConfigError`
(file, key, reason; exit 2) and leaves nothing behind — no SQLite file, no half-migrated
database.

- :func:`check_database`: a SQLite file's directory exists and an existing file is a SQLite
  database; a PostgreSQL server answers (``SELECT 1``, connect timeout
  :data:`CONNECT_TIMEOUT_S`). The message names host, port and database, never the password.
- :func:`bind_api`: ``api.host`` resolves and ``api.port`` can be bound; the bound socket is
  handed to the server, so no other process can take the port in between.
"""

from __future__ import annotations

import os
import socket
import sqlite3
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from central.config import ApiSettings, DatabaseSettings
from shared.config import ConfigError, listen_socket

__all__ = ["CONNECT_TIMEOUT_S", "bind_api", "check_database", "sqlite_path"]

CONNECT_TIMEOUT_S = 5


def sqlite_path(url: URL) -> Path | None:
    """The file of a SQLite URL; None for an in-memory or ``file:`` URI database."""
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def check_database(db: DatabaseSettings, source: str) -> None:
    """Refuse a database that cannot be used, without creating one."""
    url = make_url(db.url)
    if url.get_backend_name() == "sqlite":
        _check_sqlite(url, source)
    else:
        _check_server(url, source)


def _check_sqlite(url: URL, source: str) -> None:
    path = sqlite_path(url)
    if path is None:
        return
    if not path.parent.is_dir():
        raise ConfigError(source, "database.url", f"directory {path.parent} of the SQLite file does not exist")
    if path.is_dir():
        raise ConfigError(source, "database.url", f"{path} is a directory, not a SQLite file")
    if not os.access(path.parent, os.W_OK | os.X_OK):  # SQLite writes its -wal/-shm files beside it
        raise ConfigError(source, "database.url", f"directory {path.parent} of the SQLite file is not writable")
    if not path.exists():
        return
    if not os.access(path, os.R_OK | os.W_OK):
        raise ConfigError(source, "database.url", f"SQLite file {path} is not readable and writable")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=1.0)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise ConfigError(source, "database.url", f"{path} is not a usable SQLite database ({exc})") from None


def _check_server(url: URL, source: str) -> None:
    where = f"{url.host or 'localhost'}:{url.port or 5432}/{url.database}"
    engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": CONNECT_TIMEOUT_S})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        reason = detail[0][:300] if detail else type(exc).__name__
        raise ConfigError(source, "database.url", f"cannot connect to PostgreSQL at {where}: {reason}") from None
    finally:
        engine.dispose()


def bind_api(api: ApiSettings, source: str) -> socket.socket:
    """A listening socket on ``api.host``:``api.port``, or ConfigError naming the key."""
    sock = listen_socket(api.host, api.port, source, "api")
    sock.set_inheritable(True)
    return sock
