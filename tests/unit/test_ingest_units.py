"""Pure pieces of the central ingest and API framework: tokens, roles, error mapping, metrics, skew."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from central.adapters.db.registry import load_metadata
from central.adapters.metrics import IngestMetrics
from central.domain.errors import (
    InputError,
    MasterDataError,
    MoneyError,
    OrderStateError,
    PeriodError,
    ValidationError,
)
from central.entrypoints.api.deps import Principal, require_role
from central.entrypoints.api.errors import domain_status, install_error_handlers
from central.errors import Conflict, Forbidden, Unauthorized
from central.service_layer.access import authenticate, check_role, issue_token, revoke_token
from central.service_layer.ingest.store import check_machine, event_values
from shared.contract import Event, RawValue

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def session() -> Iterator[Session]:
    engine = create_engine("sqlite://")
    load_metadata().create_all(engine)
    with Session(engine) as s:
        yield s
    engine.dispose()


def test_token_is_stored_hashed_and_authenticates(session: Session) -> None:
    issued = issue_token(session, "ann", "planner", now=NOW)
    from central.adapters.db.models_access import ApiTokenRow

    row = session.get(ApiTokenRow, issued.token_id)
    assert row is not None and issued.token not in row.token_hash and len(row.token_hash) == 64
    assert authenticate(session, issued.token, now=NOW) == Principal("ann", "planner", issued.token_id)


def test_expired_revoked_unknown_and_malformed_tokens_are_401(session: Session) -> None:
    issued = issue_token(session, "bob", "auditor", expires_in=timedelta(hours=1), now=NOW)
    assert authenticate(session, issued.token, now=NOW + timedelta(minutes=59)).user == "bob"
    with pytest.raises(Unauthorized, match="expired"):
        authenticate(session, issued.token, now=NOW + timedelta(hours=1))
    other = issue_token(session, "cy", "operator", now=NOW)
    revoke_token(session, other.token_id, "admin", now=NOW)
    with pytest.raises(Unauthorized, match="revoked"):
        authenticate(session, other.token, now=NOW)
    with pytest.raises(Conflict):
        revoke_token(session, other.token_id, "admin", now=NOW)
    for bad in (None, "", "Bearer x", other.token + "x", "sfs_" + "a" * 300):
        with pytest.raises(Unauthorized):
            authenticate(session, bad, now=NOW)


def test_unknown_role_is_refused(session: Session) -> None:
    from central.errors import InvalidInput

    with pytest.raises(InvalidInput):
        issue_token(session, "x", "root")
    with pytest.raises(ValueError):
        require_role("root")


@pytest.mark.parametrize(("role", "needs", "ok"), [
    ("admin", ("controller",), True),
    ("controller", ("controller",), True),
    ("planner", ("controller",), False),
    ("auditor", (), True),
    ("operator", ("planner", "operator"), True),
])
def test_role_check(role: str, needs: tuple[str, ...], ok: bool) -> None:
    who = Principal("u", role, "t")
    if ok:
        assert check_role(who, needs) is who
    else:
        with pytest.raises(Forbidden):
            check_role(who, needs)


@pytest.mark.parametrize(("exc", "status"), [
    (MoneyError("float"), 422),
    (MasterDataError([ValidationError("items[0].id", "missing")]), 422),
    (InputError("unknown item"), 400),
    (PeriodError("closed"), 409),
    (OrderStateError("not released"), 409),
])
def test_domain_errors_map_to_4xx(exc: Exception, status: int) -> None:
    assert domain_status(exc)[0] == status  # type: ignore[arg-type]


def test_error_handler_shapes_every_kind() -> None:
    app = FastAPI()
    install_error_handlers(app)
    router = APIRouter()

    @router.get("/domain")
    def domain() -> None:
        raise MasterDataError([ValidationError("boms[0]", "dangling item")])

    @router.get("/central")
    def central() -> None:
        raise Conflict("period closed", {"period": "2026-11"})

    @router.get("/bug")
    def bug() -> None:
        raise RuntimeError("boom")

    @router.get("/typed")
    def typed(n: int) -> dict[str, int]:
        return {"n": n}

    app.include_router(router)
    client = TestClient(app, raise_server_exceptions=False)
    body: Any = client.get("/domain").json()
    assert body["error"]["code"] == "invalid_master_data"
    assert body["error"]["detail"] == [{"key_path": "boms[0]", "message": "dangling item"}]
    resp = client.get("/central")
    assert resp.status_code == 409 and resp.json()["error"]["detail"] == {"period": "2026-11"}
    resp = client.get("/bug")
    assert resp.status_code == 500 and resp.json()["error"]["code"] == "internal_error"
    resp = client.get("/typed?n=x")
    assert resp.status_code == 422 and resp.json()["error"]["message"].startswith("query.n")
    assert client.get("/nothing").json()["error"]["code"] == "not_found"
    assert client.post("/typed").json()["error"]["code"] == "method_not_allowed"
    assert Depends  # imported for the docstring example in deps


def test_metrics_render_prometheus_text() -> None:
    m = IngestMetrics()
    m.accepted.inc(5)
    m.rejected.inc(2, "machine")
    m.lag.set(1.5, "s-1")
    m.commit_latency.observe(0.003)
    text = m.registry.render()
    assert "sfsync_ingest_events_accepted_total 5" in text
    assert 'sfsync_ingest_events_rejected_total{reason="machine"} 2' in text
    assert 'sfsync_ingest_lag_seconds{stream="s-1"} 1.5' in text
    assert 'sfsync_ingest_batch_commit_seconds_bucket{le="0.0025"} 0' in text
    assert 'sfsync_ingest_batch_commit_seconds_bucket{le="0.005"} 1' in text
    assert "sfsync_ingest_batch_commit_seconds_count 1" in text
    with pytest.raises(ValueError):
        m.accepted.inc(-1)


def _event(ts: datetime) -> Event:
    return Event(seq=1, machine="M", kind="count", ts=ts, rx=ts, qty=1, raw=RawValue(tag="t", value=1))


def test_clock_skew_flags_and_posts_at_receive_time() -> None:
    skew = timedelta(minutes=5)
    ok = event_values(_event(NOW + timedelta(minutes=4, seconds=59)), NOW, skew)
    assert "clock_skew" not in ok["flags"] and ok["posting_ts"] == NOW + timedelta(minutes=4, seconds=59)
    ahead = event_values(_event(NOW + timedelta(minutes=6)), NOW, skew)
    assert ahead["flags"] == ["clock_skew"] and ahead["posting_ts"] == NOW


def test_machine_check() -> None:
    known: dict[str, str | None] = {"A": "edge-1", "B": None}
    assert check_machine("A", known, "edge-1", True) is None
    assert check_machine("B", known, "edge-2", True) is None
    assert "belongs to edge" in (check_machine("A", known, "edge-2", True) or "")
    assert "unknown machine" in (check_machine("Z", known, "edge-1", True) or "")
    assert check_machine("Z", known, "edge-1", False) is None
