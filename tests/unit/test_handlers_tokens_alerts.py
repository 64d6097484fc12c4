"""Token, alert-decision and webhook-subscription handlers on a fake unit of work (no database).

Tokens: a token is stored by its hash only and stamped with the unit of work's clock; bad input
and unknown or revoked tokens are refused before anything is committed; a revocation is audited
with who revoked whose token. Alerts: each decision moves the lifecycle, is audited and queued for
exactly the webhooks that want the alert's kind and severity; a decision that does not apply is
refused and commits nothing.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from central.adapters.db.models_ingest import AlertRow
from central.adapters.db.models_purchasing import WebhookRow
from central.domain.commands import (
    AcknowledgeAlert,
    AssignAlert,
    CreateWebhook,
    DeactivateWebhook,
    DismissAlert,
    IssueToken,
    ResolveAlert,
    RevokeToken,
)
from central.domain.errors import InputError
from central.errors import Conflict, InvalidInput, NotFound
from central.service_layer.access import hash_token
from central.service_layer.alerts import acknowledge_alert, assign_alert, dismiss_alert, resolve_alert
from central.service_layer.token_revocation import issue_api_token, revoke_api_token
from central.service_layer.webhooks import add_webhook, deactivate_webhook
from tests.support.domain import worked_example_master
from tests.support.fake_uow import NOW, FakeUnitOfWork


def _uow() -> FakeUnitOfWork:
    return FakeUnitOfWork(worked_example_master())


# --- tokens ----------------------------------------------------------------------------------


def test_an_issued_token_is_stored_by_its_hash_and_expires_from_the_clock() -> None:
    uow = _uow()
    issued = issue_api_token(IssueToken("  ann ", "planner", timedelta(days=3)), uow)
    row = uow.tokens.rows[issued.token_id]
    assert (row.user, row.role, row.created, row.expires) == ("ann", "planner", NOW, NOW + timedelta(days=3))
    assert row.token_hash == hash_token(issued.token) and issued.token not in (row.token_hash, row.id)
    assert issued.token.startswith(f"sfs_{issued.token_id}_") and uow.commits == 1


@pytest.mark.parametrize(("user", "role", "days"), [("ann", "root", 1), ("", "planner", 1), ("x" * 65, "planner", 1),
                                                    ("ann", "planner", 0), ("ann", "planner", 40_000)])
def test_bad_token_requests_are_refused_and_store_nothing(user: str, role: str, days: int) -> None:
    uow = _uow()
    with pytest.raises(InvalidInput):
        issue_api_token(IssueToken(user, role, timedelta(days=days)), uow)
    assert uow.tokens.rows == {} and uow.commits == 0


def test_a_revocation_is_stamped_and_audited_with_the_admin_and_their_token() -> None:
    uow = _uow()
    issued = issue_api_token(IssueToken("bob", "auditor", timedelta(days=1)), uow)
    row = revoke_api_token(RevokeToken(issued.token_id, "root", "admin", "tok-admin"), uow)
    assert (row.revoked_at, row.revoked_by) == (NOW, "root")
    [rec] = uow.audit.records
    assert (rec.actor, rec.role, rec.action, rec.target, rec.detail, rec.at) == (
        "root", "admin", "token.revoke", f"token/{issued.token_id}", {"user": "bob", "role": "auditor"}, NOW)


def test_revoking_twice_or_an_unknown_token_is_refused() -> None:
    uow = _uow()
    issued = issue_api_token(IssueToken("bob", "auditor", timedelta(days=1)), uow)
    revoke_api_token(RevokeToken(issued.token_id, "cli-admin"), uow)
    assert uow.audit.records[0].role is None  # a CLI revocation: a plain user name
    with pytest.raises(Conflict, match="already revoked"):
        revoke_api_token(RevokeToken(issued.token_id, "root"), uow)
    with pytest.raises(NotFound):
        revoke_api_token(RevokeToken("nope", "root"), uow)
    assert uow.commits == 2 and len(uow.audit.records) == 1


# --- alerts ----------------------------------------------------------------------------------


def _alert(uow: FakeUnitOfWork, *, kind: str = "stream_gap", severity: str = "warning", status: str = "open") -> int:
    row = uow.alerts.seed(AlertRow(kind=kind, severity=severity, key=f"{kind}:k", message="m", detail={}, count=1,
                                  created=NOW - timedelta(hours=1), last_seen=NOW - timedelta(hours=1), status=status,
                                  plant="P1", entity=None, clear_runs=0))
    return row.id


def _hook(uow: FakeUnitOfWork, *, kinds: list[str], min_severity: str = "info", active: bool = True) -> int:
    row = WebhookRow(url="https://hooks.example/x", secret="s" * 16, kinds=kinds, min_severity=min_severity,
                     active=active, created=NOW, created_by="ctl")
    uow.webhooks.add(row)
    return row.id


def test_acknowledging_audits_and_queues_for_the_webhooks_that_want_it() -> None:
    uow = _uow()
    alert = _alert(uow)
    wants = _hook(uow, kinds=[])
    _hook(uow, kinds=["edge_offline"])  # another kind
    _hook(uow, kinds=[], min_severity="critical")  # too severe a threshold
    _hook(uow, kinds=[], active=False)
    row = acknowledge_alert(AcknowledgeAlert(alert, "ops", "looking", "operator", "tok-1"), uow)
    assert (row.status, row.acked_at, row.acked_by, row.comment) == ("acknowledged", NOW, "ops", "looking")
    [rec] = uow.audit.records
    assert (rec.actor, rec.role, rec.action, rec.target, rec.at) == ("ops", "operator", "alert.acknowledged",
                                                                     f"alert/{alert}", NOW)
    assert rec.detail == {"kind": "stream_gap", "status": "acknowledged", "comment": "looking"}
    [delivery] = uow.webhooks.deliveries
    assert (delivery.webhook_id, delivery.alert_id, delivery.event, delivery.status, delivery.next_at) == (
        wants, alert, "acknowledged", "pending", NOW)
    assert delivery.payload["alert"]["status"] == "acknowledged" and uow.commits == 1


def test_an_alert_is_acknowledged_once() -> None:
    uow = _uow()
    alert = _alert(uow)
    acknowledge_alert(AcknowledgeAlert(alert, "ops"), uow)
    with pytest.raises(Conflict, match="acknowledged by ops"):
        acknowledge_alert(AcknowledgeAlert(alert, "other"), uow)
    assert uow.commits == 1 and uow.alerts.rows[alert].acked_by == "ops"


def test_assigning_records_the_previous_assignee() -> None:
    uow = _uow()
    alert = _alert(uow)
    assign_alert(AssignAlert(alert, "amy", "ctl"), uow)
    row = assign_alert(AssignAlert(alert, "ben", "ctl", "ben knows it"), uow)
    assert (row.assignee, row.status, row.comment) == ("ben", "open", "ben knows it")
    assert [r.detail["assignee"] if r.detail else None for r in uow.audit.records] == ["amy", "ben"]
    assert uow.audit.records[1].detail == {"kind": "stream_gap", "status": "open", "comment": "ben knows it",
                                           "assignee": "ben", "previous_assignee": "amy"}


@pytest.mark.parametrize("status", ["resolved", "dismissed"])
def test_resolving_or_dismissing_closes_it_and_nothing_decides_it_again(status: str) -> None:
    uow = _uow()
    alert = _alert(uow, status="acknowledged")
    if status == "resolved":
        row = resolve_alert(ResolveAlert(alert, "ctl", "fixed the feeder"), uow)
    else:
        row = dismiss_alert(DismissAlert(alert, "ctl", "fixed the feeder"), uow)
    assert (row.status, row.resolved_at, row.resolved_by) == (status, NOW, "ctl")
    assert uow.audit.records[-1].action == f"alert.{status}"
    with pytest.raises(Conflict):
        resolve_alert(ResolveAlert(alert, "ctl"), uow)
    with pytest.raises(Conflict):
        dismiss_alert(DismissAlert(alert, "ctl"), uow)
    with pytest.raises(Conflict):
        assign_alert(AssignAlert(alert, "amy", "ctl"), uow)
    with pytest.raises(Conflict):
        acknowledge_alert(AcknowledgeAlert(alert, "ops"), uow)
    assert uow.commits == 1 and len(uow.audit.records) == 1


def test_an_unknown_alert_is_not_found() -> None:
    uow = _uow()
    with pytest.raises(NotFound):
        acknowledge_alert(AcknowledgeAlert(99, "ops"), uow)
    assert uow.commits == 0


# --- webhook subscriptions -------------------------------------------------------------------


def test_a_webhook_is_stored_active_with_its_kinds_once_and_the_clock() -> None:
    uow = _uow()
    row = add_webhook(CreateWebhook("https://hooks.example/a", "k" * 16, ("gap", "edge_offline", "gap"), "critical",
                                    "boss"), uow)
    assert uow.webhooks.rows[row.id] is row and uow.commits == 1
    assert (row.kinds, row.min_severity, row.active, row.created, row.created_by) == (
        ["edge_offline", "gap"], "critical", True, NOW, "boss")


@pytest.mark.parametrize(("url", "secret", "severity", "message"), [
    ("ftp://hooks.example/a", "k" * 16, "info", "http:// or https://"),
    ("https://hooks.example/a", "k" * 15, "info", "16 characters"),
    ("https://hooks.example/a", "k" * 16, "loud", "min_severity"),
])
def test_a_bad_webhook_is_refused_and_nothing_is_stored(url: str, secret: str, severity: str, message: str) -> None:
    uow = _uow()
    with pytest.raises(InputError, match=message):
        add_webhook(CreateWebhook(url, secret, (), severity, "boss"), uow)
    assert uow.webhooks.rows == {} and uow.commits == 0


def test_a_deactivated_webhook_gets_no_more_deliveries() -> None:
    uow = _uow()
    hook = _hook(uow, kinds=[])
    assert deactivate_webhook(DeactivateWebhook(hook, "boss"), uow).active is False
    acknowledge_alert(AcknowledgeAlert(_alert(uow), "ops"), uow)
    assert uow.webhooks.deliveries == []
    with pytest.raises(NotFound):
        deactivate_webhook(DeactivateWebhook(42, "boss"), uow)
