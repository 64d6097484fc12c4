"""Governance over HTTP on a real SQLite database: approvals with segregation of duties, the
applier running in the approving transaction, the audit trail of write requests, verify."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from support.api import err, token
from support.central import make_container

from central.adapters.db.models_access import ApiTokenRow
from central.bootstrap import Container
from central.errors import Conflict
from central.service_layer import governance
from central.service_layer.access import Principal, issue_token
from central.service_layer.governance import ApprovedRequest


def _apply_issue_token(session: Session, req: ApprovedRequest) -> Mapping[str, Any]:
    issued = issue_token(session, str(req.payload["user"]), "planner")
    return {"token_id": issued.token_id, "approved_by": req.approved_by}


def _apply_refuse(session: Session, req: ApprovedRequest) -> None:
    issue_token(session, "written-then-rolled-back", "planner")
    raise Conflict("the change no longer applies", code="stale_change")


governance.register_applier("test_issue_token", _apply_issue_token)
governance.register_applier("test_refuse", _apply_refuse)

ALICE = Principal("alice", "controller", "tok-alice")


@pytest.fixture
def central(central_sqlite_url: str) -> Iterator[Container]:
    c = make_container(central_sqlite_url)
    yield c
    c.dispose()


def request(c: Container, kind: str = "test_issue_token", payload: dict[str, Any] | None = None,
            role: str = "controller") -> int:
    with c.write_sessions() as s, s.begin():
        row = governance.request_approval(s, ALICE, kind, payload or {"user": "newbie"}, role,
                                          summary="issue a planner token", target="user/newbie")
        return row.id


def tokens_of(c: Container, user: str) -> int:
    with c.read_sessions() as s:
        return len(s.scalars(select(ApiTokenRow).where(ApiTokenRow.user == user)).all())


def audit(client: TestClient, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    resp = client.get("/api/v1/audit", params=params, headers=headers)
    assert resp.status_code == 200, resp.text
    records: list[dict[str, Any]] = resp.json()["records"]
    return records


def test_segregation_of_duties_and_apply_in_the_approving_transaction(central: Container,
                                                                      client: TestClient) -> None:
    approval = request(central)
    assert request(central) == approval  # the same pending change asked twice is one request
    alice = token(central, "alice", "admin")  # the requester, even with another token and role
    bob = token(central, "bob", "engineer")
    carol = token(central, "carol", "controller")

    listed = client.get("/api/v1/approvals", params={"status": "pending"}, headers=bob).json()["approvals"]
    assert [(a["id"], a["kind"], a["requested_by"], a["required_role"]) for a in listed] == [
        (approval, "test_issue_token", "alice", "controller")]

    err(client.post(f"/api/v1/approvals/{approval}/approve", headers=alice), 403, "segregation_of_duties")
    err(client.post(f"/api/v1/approvals/{approval}/approve", headers=bob), 403, "forbidden")
    assert tokens_of(central, "newbie") == 0

    resp = client.post(f"/api/v1/approvals/{approval}/approve", json={"comment": "ok"}, headers=carol)
    assert resp.status_code == 200, resp.text
    body = resp.json()["approval"]
    assert body["status"] == "approved" and body["decided_by"] == "carol" and body["comment"] == "ok"
    assert body["result"]["approved_by"] == "carol" and tokens_of(central, "newbie") == 1

    err(client.post(f"/api/v1/approvals/{approval}/approve", headers=carol), 409, "approval_decided")
    err(client.post(f"/api/v1/approvals/{approval}/reject", json={"reason": "late"}, headers=carol), 409,
          "approval_decided")
    assert client.get("/api/v1/approvals", params={"status": "pending"}, headers=bob).json()["approvals"] == []
    assert client.get(f"/api/v1/approvals/{approval}", headers=bob).json()["approval"]["status"] == "approved"
    err(client.get("/api/v1/approvals/999", headers=bob), 404, "not_found")

    trail = audit(client, bob, action="approval.*")
    assert [(r["action"], r["actor"], r["role"]) for r in trail] == [
        ("approval.request", "alice", "controller"), ("approval.approve", "carol", "controller")]
    assert trail[1]["detail"]["result"]["approved_by"] == "carol" and trail[1]["request_digest"]


def test_a_refusing_applier_leaves_the_request_pending(central: Container, client: TestClient) -> None:
    approval = request(central, "test_refuse", {"x": 1})
    carol = token(central, "carol", "controller")
    err(client.post(f"/api/v1/approvals/{approval}/approve", headers=carol), 409, "stale_change")
    assert tokens_of(central, "written-then-rolled-back") == 0
    assert client.get(f"/api/v1/approvals/{approval}", headers=carol).json()["approval"]["status"] == "pending"
    assert [r["action"] for r in audit(client, carol)] == ["approval.request"]


def test_reject_and_withdraw(central: Container, client: TestClient) -> None:
    first, second = request(central, payload={"user": "a"}), request(central, payload={"user": "b"})
    carol, alice, op = token(central, "carol", "controller"), token(central, "alice", "controller"), \
        token(central, "otto", "operator")
    err(client.post(f"/api/v1/approvals/{first}/reject", json={}, headers=carol), 422, "validation_error")
    err(client.post(f"/api/v1/approvals/{first}/reject", json={"reason": "no"}, headers=op), 403, "forbidden")
    resp = client.post(f"/api/v1/approvals/{first}/reject", json={"reason": "not needed"}, headers=carol)
    assert resp.json()["approval"]["status"] == "rejected" and resp.json()["approval"]["comment"] == "not needed"
    resp = client.post(f"/api/v1/approvals/{second}/reject", json={"reason": "my mistake"}, headers=alice)
    assert resp.status_code == 200 and resp.json()["approval"]["decided_by"] == "alice"
    assert tokens_of(central, "a") == tokens_of(central, "b") == 0
    assert [r["action"] for r in audit(client, carol, action="approval.*")][-2:] == [
        "approval.reject", "approval.withdraw"]
    rejected = client.get("/api/v1/approvals", params={"status": "rejected", "limit": 1}, headers=op).json()
    assert [a["id"] for a in rejected["approvals"]] == [first] and rejected["next"] == first
    more = client.get("/api/v1/approvals", params={"status": "rejected", "after": first}, headers=op).json()
    assert [a["id"] for a in more["approvals"]] == [second] and more["next"] is None


def test_unknown_kind_or_role_is_refused_when_requested(central: Container) -> None:
    with central.write_sessions() as s, s.begin():
        with pytest.raises(Conflict, match="no applier"):
            governance.request_approval(s, ALICE, "no_such_kind", {}, "controller")
        with pytest.raises(ValueError, match="unknown role"):
            governance.request_approval(s, ALICE, "test_issue_token", {}, "boss")
    with pytest.raises(ValueError, match="already registered"):
        governance.register_applier("test_issue_token", _apply_refuse)


def test_every_successful_write_request_is_audited_with_its_digest(central: Container, client: TestClient) -> None:
    eng = token(central, "erin", "engineer")
    body = orjson.dumps({"id": "edge-9", "plant": "P1"})
    resp = client.post("/api/v1/edges?note=x", content=body, headers={**eng, "Content-Type": "application/json"})
    assert resp.status_code == 201, resp.text
    # refused requests leave no record: their transaction rolls back
    err(client.post("/api/v1/edges", json={"id": "edge-8"}, headers=eng), 422, "validation_error")
    err(client.post("/api/v1/edges", json={"id": "edge-8", "plant": "P1"}), 401, "unauthorized")
    err(client.post("/api/v1/edges", json={"id": "edge-8", "plant": "P1"},
                      headers=token(central, "otto", "operator")), 403, "forbidden")
    records = audit(client, eng)
    assert len(records) == 1
    rec = records[0]
    assert (rec["actor"], rec["role"], rec["action"], rec["target"]) == ("erin", "engineer", "http.post",
                                                                          "/api/v1/edges")
    assert rec["detail"] == {"method": "POST", "path": "/api/v1/edges", "query": "note=x"}
    expected = governance.request_digest("POST", "/api/v1/edges", "note=x", hashlib.sha256(body).hexdigest())
    assert rec["request_digest"] == expected
    # reads are not audited; the log itself verifies
    client.get("/api/v1/edges", headers=eng)
    assert len(audit(client, eng)) == 1
    report = client.get("/api/v1/audit/verify", headers=eng).json()
    assert report["ok"] is True and report["checked"] == 1 and report["head"]["hash"] == rec["hash"]


def test_verify_over_http_names_the_first_broken_link(central: Container, client: TestClient) -> None:
    from support.governance import tamper

    for n in range(3):
        request(central, payload={"user": f"u{n}"})
    tamper(central.engine.url.render_as_string(hide_password=False),
           "UPDATE audit_log SET detail = '{}' WHERE seq = 2")
    report = client.get("/api/v1/audit/verify", headers=token(central, "ann", "auditor")).json()
    assert report["ok"] is False and report["checked"] == 2
    assert report["first_broken"]["seq"] == 2 and report["first_broken"]["code"] == "altered"


def test_audit_query_validation(central: Container, client: TestClient) -> None:
    ann = token(central, "ann", "auditor")
    err(client.get("/api/v1/audit", params={"since": "yesterday"}, headers=ann), 422, "validation_error")
    err(client.get("/api/v1/audit", params={"order": "sideways"}, headers=ann), 422, "validation_error")
    err(client.get("/api/v1/approvals", params={"status": "maybe"}, headers=ann), 422, "validation_error")
    err(client.get("/api/v1/audit"), 401, "unauthorized")
    assert client.get("/api/v1/audit", params={"order": "desc", "limit": 5}, headers=ann).json() == {
        "records": [], "next": None}


def test_period_reopen_needs_an_admin_and_a_controllers_approval(central: Container, client: TestClient) -> None:
    from support.costing import load, period_id, worked_example_master

    load(central, worked_example_master())
    period = period_id()
    root, ctl, ctl2 = token(central, "root", "admin"), token(central, "carol", "controller"), \
        token(central, "dave", "controller")
    err(client.post(f"/api/v1/periods/{period}/reopen", json={"reason": "late invoice"}, headers=root), 409,
          "period_open")
    assert client.post(f"/api/v1/periods/{period}/close", headers=ctl).status_code == 200
    err(client.post(f"/api/v1/periods/{period}/reopen", json={"reason": "x"}, headers=ctl), 403, "forbidden")
    err(client.post("/api/v1/periods/nope/reopen", json={"reason": "x"}, headers=root), 404, "not_found")
    resp = client.post(f"/api/v1/periods/{period}/reopen", json={"reason": "late invoice"}, headers=root)
    assert resp.status_code == 202, resp.text
    approval = resp.json()["approval"]["id"]

    def status() -> str:
        periods = client.get("/api/v1/periods", headers=ctl).json()["periods"]
        return str(next(p["status"] for p in periods if p["id"] == period))

    assert status() == "closed"
    err(client.post(f"/api/v1/approvals/{approval}/approve", headers=root), 403, "segregation_of_duties")
    resp = client.post(f"/api/v1/approvals/{approval}/approve", headers=ctl2)
    assert resp.status_code == 200, resp.text
    assert resp.json()["approval"]["result"]["was_closed_by"] == "carol" and status() == "open"
    actions = [(r["action"], r["actor"]) for r in audit(client, ctl)]
    assert ("approval.request", "root") in actions and ("approval.approve", "dave") in actions
    assert ("http.post", "carol") in actions  # the close itself, through the generic request record
    # the approve request wrote its own record in the request's transaction: no generic one besides
    assert ("http.post", "dave") not in actions and ("http.post", "root") not in actions
    assert client.get("/api/v1/audit/verify", headers=ctl).json()["ok"] is True


def test_manual_journal_entry_posts_only_after_another_controller_approves(central: Container,
                                                                           client: TestClient) -> None:
    from support.costing import load, period_id, worked_example_master

    load(central, worked_example_master())
    carol, dave = token(central, "carol", "controller"), token(central, "dave", "controller")
    lines = [{"account": "1300", "debit": "100.00", "memo": "found stock"}, {"account": "2000", "credit": "100.00"}]

    def manual_entries() -> list[dict[str, Any]]:
        resp = client.get("/api/v1/journal", params={"period": period_id()}, headers=carol)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        entries = body["entries"] if isinstance(body, dict) else body
        return [e for e in entries if e["kind"] == "manual"]

    err(client.post("/api/v1/journal", json={"memo": "m", "lines": [{**lines[0], "debit": 100.0}, lines[1]]},
                      headers=carol), 422, "validation_error")
    err(client.post("/api/v1/journal", json={"memo": "m", "lines": [lines[0], {**lines[1], "credit": "99.99"}]},
                      headers=carol), 422, "unbalanced_entry")
    err(client.post("/api/v1/journal", json={"memo": "m", "lines": [lines[0], {**lines[1], "account": "9999"}]},
                      headers=carol), 400, "bad_input")
    err(client.post("/api/v1/journal", json={"memo": "m", "lines": lines}, headers=token(central, "e", "engineer")),
          403, "forbidden")
    resp = client.post("/api/v1/journal", json={"memo": "stock count difference", "lines": lines}, headers=carol)
    assert resp.status_code == 202, resp.text
    assert resp.json()["entry"]["total"] == "100.00" and resp.json()["entry"]["period"] == period_id()
    approval = resp.json()["approval"]["id"]
    assert manual_entries() == []

    err(client.post(f"/api/v1/approvals/{approval}/approve", headers=carol), 403, "segregation_of_duties")
    resp = client.post(f"/api/v1/approvals/{approval}/approve", headers=dave)
    assert resp.status_code == 200, resp.text
    entry_id = resp.json()["approval"]["result"]["entry_id"]
    posted = manual_entries()
    assert [e["id"] for e in posted] == [entry_id]
    tb = client.get("/api/v1/trial-balance", params={"period": period_id()}, headers=carol).json()
    assert tb["total_debit"] == tb["total_credit"] == "100.00", tb
    assert client.get("/api/v1/audit/verify", headers=carol).json()["ok"] is True
