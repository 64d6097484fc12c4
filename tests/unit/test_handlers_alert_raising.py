"""Raising alerts on a fake unit of work (no database): the one alert service every producer calls.

Occurrences (ingest, costing, webhooks) merge into the open alert with the same key and count;
a rule's finding opens an alert (audited, by ``system``), refreshes an active one, holds it, or
resolves it after ``clear_runs`` clear evaluations. Every stamp is ``uow.clock()``; every opening
is queued for the webhooks.
"""

from __future__ import annotations

from datetime import timedelta

from central.adapters.db.models_purchasing import WebhookRow
from central.domain.alert_rules import Finding, Level
from central.domain.master_data import MasterData
from central.service_layer.alerts import apply_finding, clear_step, raise_alert_in
from tests.support.fake_uow import NOW, FakeUnitOfWork

LATER = NOW + timedelta(minutes=5)


def _uow() -> FakeUnitOfWork:
    uow = FakeUnitOfWork(MasterData())
    uow.webhooks.add(WebhookRow(url="https://hooks.example/x", secret="s" * 16, kinds=[], min_severity="info",
                                active=True, created=NOW, created_by="ctl"))
    return uow


def _finding(level: Level, message: str = "PO-1 line 1 is late", **detail: object) -> Finding:
    return Finding("late_purchase_order", "late_purchase_order:PO-1/1", level, message,
                   {"po": "PO-1", **detail}, plant="P1")


def test_an_occurrence_opens_an_alert_then_repeats_merge_into_it_on_the_clock() -> None:
    uow = _uow()
    uow.alerts.machine_plants["M1"] = "P2"
    first = raise_alert_in(uow, "qty_over_limit", "qty_over_limit:M1", "seq 4 over", detail={"machine": "M1"})
    uow.clock = lambda: LATER
    again = raise_alert_in(uow, "qty_over_limit", "qty_over_limit:M1", "seq 9 over", detail={"seq": 9})
    assert again is first and list(uow.alerts.rows) == [first.id]
    assert (first.count, first.created, first.last_seen, first.message, first.plant) == (
        2, NOW, LATER, "seq 9 over", "P2")
    assert first.detail == {"machine": "M1", "seq": 9}
    assert [(d.alert_id, d.event, d.created) for d in uow.webhooks.deliveries] == [(first.id, "opened", NOW)]
    assert uow.audit.records == []  # occurrences are not audited one by one (the ingest path)


def test_an_acknowledged_alert_takes_no_more_occurrences_a_new_one_opens() -> None:
    uow = _uow()
    first = raise_alert_in(uow, "gap", "gap:s1", "gap")
    first.acked_at, first.status = NOW, "acknowledged"
    fresh = raise_alert_in(uow, "gap", "gap:s1", "gap again")
    assert fresh is not first and (first.count, fresh.count) == (1, 1)


def test_a_finding_opens_an_audited_alert_then_refreshes_it_without_counting() -> None:
    uow = _uow()
    assert apply_finding(uow, _finding(Level.FIRING), clear_runs=2) == "opened"
    (row,) = uow.alerts.rows.values()
    assert (row.kind, row.plant, row.created, row.count, row.status) == ("late_purchase_order", "P1", NOW, 1, "open")
    (rec,) = uow.audit.records
    assert (rec.actor, rec.action, rec.target, rec.at) == ("system", "alert.open", f"alert/{row.id}", NOW)
    assert rec.detail == {"kind": "late_purchase_order", "key": row.key, "detail": {"po": "PO-1"}}
    row.status = "acknowledged"  # a finding still refreshes an acknowledged alert
    uow.clock = lambda: LATER
    assert apply_finding(uow, _finding(Level.FIRING, "now 3 days late", days=3), clear_runs=2) == "updated"
    assert (row.message, row.detail, row.last_seen, row.count) == ("now 3 days late", {"po": "PO-1", "days": 3},
                                                                    LATER, 1)
    assert len(uow.alerts.rows) == 1 and len(uow.webhooks.deliveries) == 1


def test_clear_findings_resolve_after_clear_runs_and_a_hold_resets_the_count() -> None:
    uow = _uow()
    apply_finding(uow, _finding(Level.FIRING), clear_runs=2)
    (row,) = uow.alerts.rows.values()
    assert apply_finding(uow, _finding(Level.CLEAR), clear_runs=2) == "clearing"
    assert apply_finding(uow, _finding(Level.HOLD), clear_runs=2) == "held" and row.clear_runs == 0
    assert apply_finding(uow, _finding(Level.CLEAR), clear_runs=2) == "clearing"
    uow.clock = lambda: LATER
    assert apply_finding(uow, _finding(Level.CLEAR, received=True), clear_runs=2) == "resolved"
    assert (row.status, row.resolved_at, row.resolved_by) == ("resolved", LATER, "system")
    assert [r.action for r in uow.audit.records] == ["alert.open", "alert.resolved"]
    resolved = uow.audit.records[1].detail
    assert resolved is not None and resolved["evidence"] == {"po": "PO-1", "received": True}
    assert [d.event for d in uow.webhooks.deliveries] == ["opened", "resolved"]
    assert apply_finding(uow, _finding(Level.CLEAR), clear_runs=2) == "quiet"


def test_a_one_off_fact_opens_once_whatever_became_of_it() -> None:
    uow = _uow()
    assert apply_finding(uow, _finding(Level.FIRING), clear_runs=1, once=True) == "opened"
    (row,) = uow.alerts.rows.values()
    row.status = "resolved"
    assert apply_finding(uow, _finding(Level.FIRING), clear_runs=1, once=True) == "quiet"
    assert apply_finding(uow, _finding(Level.CLEAR), clear_runs=1, once=True) == "quiet"
    assert len(uow.alerts.rows) == 1


def test_clear_step_on_an_alert_gone_altogether() -> None:
    uow = _uow()
    apply_finding(uow, _finding(Level.FIRING), clear_runs=1)
    (row,) = uow.alerts.rows.values()
    assert clear_step(uow, row, clear_runs=1) == "resolved"
    resolved = uow.audit.records[-1].detail
    assert resolved is not None and resolved["evidence"] == {}
