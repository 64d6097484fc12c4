"""Recommendation decisions, raising an alert, and edge registration on a fake unit of work (no
database).

A recommendation is decided once; a dismissal moves its flagged points into the baseline
(``normal``) or out of it for good; an escalation raises one ``anomaly`` alert carrying the
evidence, queued for the webhooks, and a second occurrence merges into the open alert. An edge is
registered once per plant: the same plant again changes nothing, another plant is a conflict.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from central.adapters.db.models_purchasing import WebhookRow
from central.adapters.db.models_recommendations import AnomalyPointRow, RecommendationRow
from central.domain.anomaly import DismissReason
from central.domain.commands import (
    AcknowledgeRecommendation,
    DismissRecommendation,
    EscalateRecommendation,
    RegisterEdge,
)
from central.errors import Conflict, InvalidInput, NotFound
from central.service_layer.alerts import raise_alert_in
from central.service_layer.ingest.operations import register_edge
from central.service_layer.recommendations import (
    acknowledge_recommendation,
    dismiss_recommendation,
    escalate_recommendation,
)
from tests.support.domain import worked_example_master
from tests.support.fake_uow import NOW, FakeUnitOfWork

EARLIER = NOW - timedelta(hours=2)


def _uow() -> FakeUnitOfWork:
    return FakeUnitOfWork(worked_example_master())


def _rec(uow: FakeUnitOfWork, *points: str, status: str = "open") -> int:
    rec_id = len(uow.recommendations.rows) + 1
    uow.recommendations.rows[rec_id] = RecommendationRow(
        id=rec_id, kind="anomaly", metric="scrap_rate", key=f"scrap_rate:PRESS-2:{rec_id}", machine="PRESS-2",
        item="BR-100", component=None, work_order="WO-1", plant="P1", message="scrap rate 9 % (usually 2 %)",
        value="0.09", threshold="0.05", baseline={"median": "0.02"}, evidence={"points": len(points)}, count=1,
        status=status, created=EARLIER, last_seen=EARLIER)
    for i, point_status in enumerate(points):
        uow.recommendations.points.append(AnomalyPointRow(
            id=100 * rec_id + i, metric="scrap_rate", machine="PRESS-2", item="BR-100", component="",
            work_order="WO-1", at=EARLIER, shift=1, value=Decimal("0.09"), units=Decimal(100), status=point_status,
            recommendation_id=rec_id))
    return rec_id


def test_acknowledging_is_audited_with_the_caller_and_happens_once() -> None:
    uow = _uow()
    rec = _rec(uow)
    row = acknowledge_recommendation(AcknowledgeRecommendation(rec, "ops", "on it", "operator", "tok"), uow)
    assert (row.status, row.decided_at, row.decided_by, row.comment) == ("acknowledged", NOW, "ops", "on it")
    [audit] = uow.audit.records
    assert (audit.actor, audit.role, audit.action, audit.detail) == (
        "ops", "operator", "recommendation.acknowledged", {"key": row.key, "comment": "on it"})
    with pytest.raises(Conflict, match="acknowledged by ops"):
        acknowledge_recommendation(AcknowledgeRecommendation(rec, "other"), uow)
    with pytest.raises(NotFound):
        acknowledge_recommendation(AcknowledgeRecommendation(99, "ops"), uow)
    assert uow.commits == 1


@pytest.mark.parametrize(("reason", "becomes"), [(DismissReason.NORMAL, "dismissed_normal"),
                                                 (DismissReason.ONE_OFF, "excluded"),
                                                 (DismissReason.DATA_ERROR, "excluded")])
def test_a_dismissal_moves_only_the_flagged_points(reason: DismissReason, becomes: str) -> None:
    uow = _uow()
    rec = _rec(uow, "flagged", "flagged", "normal")
    row = dismiss_recommendation(DismissRecommendation(rec, reason, "ctl"), uow)
    assert (row.status, row.reason) == ("dismissed", reason.value)
    assert [p.status for p in uow.recommendations.points] == [becomes, becomes, "normal"]
    assert uow.audit.records[0].detail == {"key": row.key, "reason": reason.value, "comment": None,
                                           "points": [100 * rec, 100 * rec + 1], "points_become": becomes}
    with pytest.raises(Conflict):
        escalate_recommendation(EscalateRecommendation(rec, "ctl"), uow)


def test_an_escalation_raises_one_anomaly_alert_with_the_evidence() -> None:
    uow = _uow()
    uow.webhooks.add(WebhookRow(url="https://hooks.example/a", secret="s" * 16, kinds=["anomaly"],
                                min_severity="warning", active=True, created=NOW, created_by="boss"))
    rec = _rec(uow, status="acknowledged")
    row = escalate_recommendation(EscalateRecommendation(rec, "ctl", "needs maintenance"), uow)
    alert = uow.alerts.rows[row.alert_id or 0]
    assert (alert.kind, alert.status, alert.plant, alert.created, alert.message) == (
        "anomaly", "open", "P1", NOW, row.message)
    assert alert.detail["escalated_by"] == "ctl" and alert.detail["recommendation"] == rec
    assert [(d.alert_id, d.event) for d in uow.webhooks.deliveries] == [(alert.id, "opened")]
    assert uow.audit.records[-1].detail == {"key": row.key, "alert": alert.id, "comment": "needs maintenance"}


def test_a_second_occurrence_merges_into_the_open_alert_and_the_plant_comes_from_the_machine() -> None:
    uow = _uow()
    uow.alerts.machine_plants["PRESS-2"] = "P1"
    first = raise_alert_in(uow, "negative_inventory", "negative_inventory:S", "S below zero",
                           detail={"machine": "PRESS-2"})
    uow.clock = lambda: NOW + timedelta(minutes=5)
    second = raise_alert_in(uow, "negative_inventory", "negative_inventory:S", "S still below zero")
    assert second is first and len(uow.alerts.rows) == 1
    assert (first.plant, first.count, first.created, first.last_seen, first.message) == (
        "P1", 2, NOW, NOW + timedelta(minutes=5), "S still below zero")
    first.acked_at = NOW
    third = raise_alert_in(uow, "negative_inventory", "negative_inventory:S", "again")
    assert third is not first and len(uow.alerts.rows) == 2  # an acknowledged alert takes no new occurrences


def test_an_edge_is_registered_once_per_plant() -> None:
    uow = _uow()
    row = register_edge(RegisterEdge("edge-1", "P1", "eng"), uow)
    assert (row.id, row.plant, row.registered) == ("edge-1", "P1", NOW) and uow.commits == 1
    assert register_edge(RegisterEdge("edge-1", "P1", "eng"), uow) is row and uow.commits == 1
    with pytest.raises(Conflict, match="plant 'P1'"):
        register_edge(RegisterEdge("edge-1", "P2", "eng"), uow)
    with pytest.raises(InvalidInput):
        register_edge(RegisterEdge("edge 1", "P1", "eng"), uow)
    assert list(uow.edges.rows) == ["edge-1"]


