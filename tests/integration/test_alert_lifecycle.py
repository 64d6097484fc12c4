"""The alert lifecycle through the API (issue 14): open -> acknowledged (any role) -> resolved or
dismissed (controllers), assignee and comment, filters, every change in the audit log and queued
for the webhooks in the same transaction; refused changes are 4xx and change nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from support.api import err, ok, token
from support.central import register

from central.adapters.db.engine import make_engine, write_engine
from central.adapters.db.migrate import upgrade
from central.adapters.db.models_purchasing import WebhookDeliveryRow
from central.bootstrap import Container
from central.service_layer.alerts import raise_alert

API = "/api/v1"
T0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)


def _raise(c: Container, kind: str, key: str, severity: str = "warning", plant: str | None = None) -> int:
    with c.write_sessions() as s, s.begin():
        row = raise_alert(s, kind, key, f"{kind} happened", T0, severity=severity, detail={"x": 1}, plant=plant)
        s.flush()
        return row.id


def _deliveries(c: Container) -> list[tuple[int, str]]:
    with c.read_sessions() as s:
        return [(d.alert_id, d.event) for d in s.scalars(select(WebhookDeliveryRow).order_by(WebhookDeliveryRow.id))]


def test_lifecycle_roles_audit_and_webhook_outbox(central: Container, client: TestClient,
                                                  admin: dict[str, str]) -> None:
    hook = ok(client.post(f"{API}/webhooks", headers=admin, json={
        "url": "http://127.0.0.1:9/hook", "secret": "s" * 20, "kinds": ["gap"], "min_severity": "warning"}), 201)
    assert hook["webhook"]["kinds"] == ["gap"]
    a = _raise(central, "gap", "gap:s1", plant="P1")
    _raise(central, "quarantine", "q:1", severity="critical")  # not a kind the webhook wants
    _raise(central, "gap", "gap:s2", severity="info")  # below its severity
    assert _deliveries(central) == [(a, "opened")]
    operator, controller = token(central, "otto", "operator"), token(central, "carl", "controller")

    acked = ok(client.post(f"{API}/alerts/{a}/ack", headers=operator, json={"comment": "looking"}))["alert"]
    assert (acked["status"], acked["acked_by"], acked["comment"]) == ("acknowledged", "otto", "looking")
    err(client.post(f"{API}/alerts/{a}/ack", headers=operator), 409, "conflict")
    err(client.post(f"{API}/alerts/{a}/assign", headers=operator, json={"assignee": "otto"}), 403)
    assigned = ok(client.post(f"{API}/alerts/{a}/assign", headers=controller, json={"assignee": "mia"}))["alert"]
    assert assigned["assignee"] == "mia"
    err(client.post(f"{API}/alerts/{a}/resolve", headers=operator), 403)
    done = ok(client.post(f"{API}/alerts/{a}/resolve", headers=controller, json={"comment": "fixed"}))["alert"]
    assert (done["status"], done["resolved_by"], done["comment"]) == ("resolved", "carl", "fixed")
    err(client.post(f"{API}/alerts/{a}/dismiss", headers=controller), 409)
    err(client.post(f"{API}/alerts/{a}/assign", headers=controller, json={"assignee": "x"}), 409)
    err(client.post(f"{API}/alerts/999999/ack", headers=operator), 404, "not_found")
    err(client.post(f"{API}/alerts/{a}/assign", headers=controller, json={"assignee": ""}), 422)
    assert _deliveries(central) == [(a, "opened"), (a, "acknowledged"), (a, "assigned"), (a, "resolved")]

    trail = ok(client.get(f"{API}/audit?target=alert/{a}", headers=admin))["records"]
    assert [(r["action"], r["actor"]) for r in trail] == [
        ("alert.acknowledged", "otto"), ("alert.assigned", "carl"), ("alert.resolved", "carl")]
    assert trail[1]["detail"]["assignee"] == "mia"


def test_filters_and_dismiss(central: Container, client: TestClient, admin: dict[str, str]) -> None:
    a = _raise(central, "gap", "gap:s1", plant="P1")
    b = _raise(central, "quarantine", "q:1", severity="critical", plant="P2")
    c = _raise(central, "gap", "gap:s2", plant="P2")

    def ids(query: str) -> list[int]:
        return [x["id"] for x in ok(client.get(f"{API}/alerts?{query}", headers=admin))["alerts"]]

    assert ids("plant=P2") == [b, c]
    assert ids("kind=gap") == [a, c]
    assert ids("severity=critical") == [b]
    ok(client.post(f"{API}/alerts/{c}/dismiss", headers=admin, json={"comment": "test stream"}))
    assert ids("status=dismissed") == [c]
    assert ids("open=true") == [a, b]
    assert ok(client.get(f"{API}/alerts/{c}", headers=admin))["alert"]["status"] == "dismissed"
    err(client.get(f"{API}/alerts?status=bogus", headers=admin), 422)
    # an occurrence after the dismissal opens a new alert, it does not revive the dismissed one
    d = _raise(central, "gap", "gap:s2", plant="P2")
    assert d not in (a, b, c)


def test_webhooks_are_admin_only_and_validated(central: Container, client: TestClient,
                                               admin: dict[str, str]) -> None:
    controller = token(central, "carl", "controller")
    body = {"url": "http://127.0.0.1:9/x", "secret": "k" * 16}
    err(client.post(f"{API}/webhooks", headers=controller, json=body), 403)
    err(client.post(f"{API}/webhooks", headers=admin, json={**body, "url": "ftp://host/x"}), 400, "bad_input")
    err(client.post(f"{API}/webhooks", headers=admin, json={**body, "secret": "short"}), 422)
    err(client.post(f"{API}/webhooks", headers=admin, json={**body, "min_severity": "loud"}), 422)
    w = ok(client.post(f"{API}/webhooks", headers=admin, json=body), 201)["webhook"]
    assert "secret" not in w
    assert ok(client.delete(f"{API}/webhooks/{w['id']}", headers=admin))["webhook"]["active"] is False
    _raise(central, "gap", "gap:z")
    with central.read_sessions() as s:
        assert s.scalar(select(func.count()).select_from(WebhookDeliveryRow)) == 0  # inactive: nothing queued


def test_an_ingest_alert_takes_its_plant_from_its_edge_or_machine(central: Container) -> None:
    register(central, edge="edge-7", plant="P7", machines=("M-7",))
    with central.write_sessions() as s, s.begin():
        by_edge = raise_alert(s, "gap", "gap:s7", "gap", T0, detail={"edge": "edge-7", "stream": "s7"})
        by_machine = raise_alert(s, "qty_over_limit", "q:M-7", "qty", T0, detail={"machine": "M-7"})
        unknown = raise_alert(s, "quarantine", "q:x", "bad", T0, detail={"edge": "nobody"})
        s.flush()
        assert (by_edge.plant, by_machine.plant, unknown.plant) == ("P7", "P7", None)


def test_the_upgrade_keeps_acknowledged_alerts_acknowledged(tmp_path: Path) -> None:
    engine = write_engine(make_engine(f"sqlite:///{tmp_path / 'old.db'}"))
    try:
        upgrade(engine, "0007_ledger_seal")
        with engine.begin() as conn:
            for key, acked in (("a", None), ("b", T0)):
                conn.execute(text("INSERT INTO alerts (kind, severity, key, message, detail, count, created, "
                                  "last_seen, acked_at, acked_by) "
                                  "VALUES ('gap', 'warning', :k, 'm', '{}', 1, :t, :t, :a, :by)"),
                             {"k": key, "t": T0.replace(tzinfo=None), "a": acked and acked.replace(tzinfo=None),
                              "by": acked and "otto"})
        upgrade(engine)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT key, status, clear_runs FROM alerts ORDER BY key")).all()
        assert [tuple(r) for r in rows] == [("a", "open", 0), ("b", "acknowledged", 0)]
    finally:
        engine.dispose()
