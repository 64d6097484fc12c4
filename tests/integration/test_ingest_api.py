"""The ops API over a real SQLite database: auth, roles, the error shape, gaps, replay, alerts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from support.central import STREAM, event, make_container, payload, register, topic

from central.bootstrap import Container
from central.entrypoints.api.app import create_app
from central.service_layer.access import ensure_bootstrap_admin, issue_token, revoke_token


@pytest.fixture
def central(central_sqlite_url: str) -> Iterator[Container]:
    c = make_container(central_sqlite_url)
    register(c)
    yield c
    c.dispose()


@pytest.fixture
def client(central: Container) -> TestClient:
    return TestClient(create_app(central), raise_server_exceptions=False)


def token(c: Container, role: str, user: str | None = None, **kw: object) -> dict[str, str]:
    with c.write_sessions() as s, s.begin():
        issued = issue_token(s, user or role, role, **kw)  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {issued.token}"}


def assert_error(resp: object, status: int, code: str) -> None:
    assert resp.status_code == status, resp.text  # type: ignore[attr-defined]
    body = resp.json()["error"]  # type: ignore[attr-defined]
    assert body["code"] == code and body["message"] and "detail" in body


def test_health_and_metrics_are_open(client: TestClient) -> None:
    assert client.get("/health").json()["status"] == "ok"
    assert client.get("/api/v1/health").status_code == 200
    text = client.get("/metrics").text
    assert "sfsync_ingest_events_accepted_total" in text and "sfsync_ingest_batch_commit_seconds_bucket" in text


def test_auth_errors_use_the_json_shape(central: Container, client: TestClient) -> None:
    assert_error(client.get("/api/v1/streams"), 401, "unauthorized")
    assert_error(client.get("/api/v1/streams", headers={"Authorization": "Bearer sfs_x_y"}), 401, "unauthorized")
    with central.write_sessions() as s, s.begin():
        issued = issue_token(s, "old", "auditor")
        revoke_token(s, issued.token_id, "admin")
    assert_error(client.get("/api/v1/streams", headers={"Authorization": f"Bearer {issued.token}"}), 401,
                 "unauthorized")
    operator = token(central, "operator")
    assert client.get("/api/v1/streams", headers=operator).status_code == 200  # reads: any role
    resp = client.post(f"/api/v1/streams/{STREAM}/accept-gap", json={"through": 3, "reason": "x"}, headers=operator)
    assert_error(resp, 403, "forbidden")


def test_validation_and_not_found_errors(central: Container, client: TestClient) -> None:
    ctl = token(central, "controller")
    assert_error(client.post(f"/api/v1/streams/{STREAM}/accept-gap", json={"through": "x"}, headers=ctl), 422,
                 "validation_error")
    assert_error(client.post("/api/v1/streams/nope/accept-gap", json={"through": 3, "reason": "r"}, headers=ctl), 404,
                 "not_found")
    assert_error(client.post("/api/v1/alerts/999/ack", headers=ctl), 404, "not_found")
    assert_error(client.get("/api/v1/no-such-thing", headers=ctl), 404, "not_found")
    assert_error(client.get("/api/v1/events?since=yesterday", headers=ctl), 422, "validation_error")


def test_gap_accept_via_api_and_streams_view(central: Container, client: TestClient) -> None:
    central.ingest.handle_events(topic(), payload([1, 2]))
    central.ingest.handle_events(topic(), payload([5, 6]))
    ctl = token(central, "controller")
    streams = client.get("/api/v1/streams", headers=ctl).json()["streams"]
    assert streams[0]["acked_through"] == 2 and streams[0]["held"] == 2
    assert streams[0]["gaps"][0]["from"] == 3 and streams[0]["gaps"][0]["through"] == 4
    resp = client.post(f"/api/v1/streams/{STREAM}/accept-gap", json={"through": 4, "reason": "lost"}, headers=ctl)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"stream": STREAM, "acked_through": 6, "skipped": 2, "released": 2}
    assert_error(client.post(f"/api/v1/streams/{STREAM}/accept-gap", json={"through": 4, "reason": "again"},
                             headers=ctl), 409, "conflict")
    assert client.get("/api/v1/streams", headers=ctl).json()["streams"][0]["gaps"] == []


def test_events_filters_and_paging(central: Container, client: TestClient) -> None:
    central.ingest.handle_events(topic(), payload(list(range(1, 8))))
    hdr = token(central, "auditor")
    page = client.get("/api/v1/events?limit=3", headers=hdr).json()
    seen = [e["seq"] for e in page["events"]]
    while page["next"] is not None:
        page = client.get(f"/api/v1/events?limit=3&after={page['next']}", headers=hdr).json()
        seen += [e["seq"] for e in page["events"]]
    assert seen == list(range(1, 8))
    assert client.get("/api/v1/events?machine=OTHER", headers=hdr).json()["events"] == []
    got = client.get("/api/v1/events?since=2026-11-25T08:00:03Z&until=2026-11-25T08:00:05Z", headers=hdr).json()
    assert [e["seq"] for e in got["events"]] == [3, 4]


def test_rejected_replay_quarantine_and_alert_ack(central: Container, client: TestClient) -> None:
    central.ingest.handle_events(topic(), payload([event(1, machine="LATER"), event(2)]))
    central.ingest.handle_events(topic(), b"garbage")
    ctl = token(central, "controller")
    rejected = client.get("/api/v1/rejected-events", headers=ctl).json()["rejected_events"]
    assert len(rejected) == 1 and "unknown machine" in rejected[0]["reason"]
    rid = rejected[0]["id"]
    assert_error(client.post(f"/api/v1/rejected-events/{rid}/replay", headers=ctl), 422, "invalid_input")
    register(central, machines=["LATER"])
    resp = client.post(f"/api/v1/rejected-events/{rid}/replay", headers=ctl)
    assert resp.status_code == 200 and resp.json()["event"]["status"] == "accepted"
    assert_error(client.post(f"/api/v1/rejected-events/{rid}/replay", headers=ctl), 409, "conflict")
    quarantine = client.get("/api/v1/quarantine", headers=ctl).json()["quarantine"]
    assert quarantine[0]["payload_text"] == "garbage" and "JSON" in quarantine[0]["reason"]
    alerts = client.get("/api/v1/alerts?open=true", headers=ctl).json()["alerts"]
    kinds = {a["kind"] for a in alerts}
    assert {"rejected_events", "quarantine"} <= kinds
    op = token(central, "operator")
    assert client.post(f"/api/v1/alerts/{alerts[0]['id']}/ack", headers=op).json()["alert"]["acked_by"] == "operator"
    assert len(client.get("/api/v1/alerts?open=true", headers=ctl).json()["alerts"]) == len(alerts) - 1


def test_bootstrap_admin_only_on_first_start(central: Container, client: TestClient) -> None:
    with central.write_sessions() as s, s.begin():
        first = ensure_bootstrap_admin(s)
    with central.write_sessions() as s, s.begin():
        assert ensure_bootstrap_admin(s) is None
    assert first is not None
    hdr = {"Authorization": f"Bearer {first.token}"}
    resp = client.post("/api/v1/edges", json={"id": "edge-9", "plant": "P1"}, headers=hdr)  # admin passes all roles
    assert resp.status_code == 201
    assert_error(client.post("/api/v1/edges", json={"id": "edge-9", "plant": "P2"}, headers=hdr), 409, "conflict")
