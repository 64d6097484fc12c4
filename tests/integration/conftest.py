"""Fixtures of the API test modules (a module with a different need defines its own, which wins).

- ``central``: a costing container on ``central_db_url`` (SQLite, and PostgreSQL when
  SFSYNC_TEST_PG_URL is set), disposed afterwards.
- ``client``: a TestClient on ``central``'s app (server errors as 500 responses).
- ``admin``: the Authorization header of an admin token.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from support.api import api_client, token
from support.costing import costing_container

from central.bootstrap import Container


@pytest.fixture
def central(central_db_url: str) -> Iterator[Container]:
    c = costing_container(central_db_url)
    yield c
    c.dispose()


@pytest.fixture
def client(central: Container) -> TestClient:
    return api_client(central)


@pytest.fixture
def admin(central: Container) -> dict[str, str]:
    return token(central, "boss", "admin")
