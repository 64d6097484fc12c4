"""Test harness: real brokers on free ports, fresh PostgreSQL schemas, timeouts.

Fixtures
- ``broker``: a real MQTT broker on a free port (mosquitto when installed, else the embedded
  amqtt in a subprocess); ``broker.stop()``/``kill()``/``start()``/``restart()`` for faults.
- ``responder``: an ``AckResponder`` (central's stand-in, ``support.edge``) on ``broker``.
- ``pg_url``: a fresh schema on ``SFSYNC_TEST_PG_URL`` for this test, dropped afterwards;
  skipped with a visible reason when the variable is unset.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from support.edge import AckResponder

from sfsync.broker import BrokerProcess, free_port

# Machines are shared and noisy: hypothesis's timing checks (per-example deadline, "input generation
# is slow") measure the machine, not the code, so they are off; every property still runs in full.
settings.register_profile("sfsync", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("sfsync")

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
def responder(broker: BrokerProcess) -> Iterator[AckResponder]:
    r = AckResponder(broker.host, broker.port).start()
    yield r
    r.stop()


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
        yield f"{base}{sep}options=-csearch_path%3D{schema}&application_name={schema}"
    finally:
        with engine.begin() as conn:
            # a connection the test leaked (open transaction, locks held) would make the DROP wait
            # forever, and every later test behind it: end the test's own sessions first
            conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE application_name = :name AND pid <> pg_backend_pid()"), {"name": schema})
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


# --- central database fixtures (migrate once into a template, clone per test) ---------------


@pytest.fixture(scope="session")
def central_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per session; tests get copies."""
    from central.adapters.db.engine import make_engine, write_engine
    from central.adapters.db.migrate import upgrade

    path = tmp_path_factory.mktemp("central-template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        upgrade(write_engine(engine))
    finally:
        engine.dispose()
    return path


@pytest.fixture
def central_sqlite_url(central_sqlite_template: Path, tmp_path: Path) -> str:
    """A fresh, migrated SQLite database for this test (a copy of the template)."""
    import shutil

    dst = tmp_path / "central.db"
    shutil.copyfile(central_sqlite_template, dst)
    return f"sqlite:///{dst}"


@pytest.fixture(scope="session")
def central_pg_sql() -> str:
    """Alembic's offline SQL for PostgreSQL, generated once per session."""
    from central.adapters.db.migrate import offline_sql

    return offline_sql(pg_base_url() or "postgresql+psycopg://localhost/unused")


@pytest.fixture
def central_pg_url(pg_url: str, central_pg_sql: str) -> str:
    """A fresh PostgreSQL schema with the migrations applied (the offline script, run once per test)."""
    import re

    import sqlalchemy as sa

    script = re.sub(r"^(BEGIN|COMMIT);$", "", central_pg_sql, flags=re.M)
    engine = sa.create_engine(pg_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(script)
    finally:
        engine.dispose()
    return pg_url


@pytest.fixture(params=["sqlite", "postgresql"])
def central_db_url(request: pytest.FixtureRequest) -> str:
    """A migrated central database: SQLite always, PostgreSQL when SFSYNC_TEST_PG_URL is set."""
    name = "central_sqlite_url" if request.param == "sqlite" else "central_pg_url"
    url: str = request.getfixturevalue(name)
    return url
