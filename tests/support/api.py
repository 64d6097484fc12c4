"""The HTTP API from tests: a client on a container, bearer tokens, and response checks."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from central.bootstrap import Container
from central.entrypoints.api.app import create_app
from central.service_layer.access import issue_token

API = "/api/v1"


def api_client(container: Container) -> TestClient:
    """A client on ``container``'s app; a server error is a 500 response, not an exception."""
    return TestClient(create_app(container), raise_server_exceptions=False)


def token(container: Container, user: str, role: str) -> dict[str, str]:
    """The Authorization header of a fresh token of ``user`` in ``role``."""
    with container.write_sessions() as s, s.begin():
        return {"Authorization": f"Bearer {issue_token(s, user, role).token}"}


def ok(resp: Any, status: int = 200) -> Any:
    assert resp.status_code == status, resp.text
    return resp.json()


def err(resp: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The error of a refused request: the status, the JSON error shape (code, message, detail;
    a message), and the code when given."""
    assert resp.status_code == status, resp.text
    body = resp.json()["error"]
    assert set(body) == {"code", "message", "detail"} and body["message"]
    if code is not None:
        assert body["code"] == code, body
    return dict(body)
