"""Test harness: real brokers on free ports, fresh PostgreSQL schemas, timeouts.

Fixtures
- ``broker``: a real MQTT broker on a free port (mosquitto when installed, else the embedded
  amqtt in a subprocess); ``broker.stop()``/``kill()``/``start()``/``restart()`` for faults.
- ``pg_url``: a fresh schema on ``SFSYNC_TEST_PG_URL`` for this test, dropped afterwards;
  skipped with a visible reason when the variable is unset.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sfsync.broker import BrokerProcess, free_port

PG_ENV = "SFSYNC_TEST_PG_URL"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[BrokerProcess]:
    proc = BrokerProcess(workdir=tmp_path / "broker")
    proc.start()
    try:
        yield proc
    finally:
        proc.kill()


@pytest.fixture
def port() -> int:
    return free_port()


def pg_base_url() -> str | None:
    return os.environ.get(PG_ENV) or None


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A SQLAlchemy URL whose connections use a fresh, empty schema (search_path)."""
    base = pg_base_url()
    if base is None:
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)")
    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(base)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()
