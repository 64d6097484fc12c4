"""``serve`` starts the alert evaluator and the webhook worker from ``[alerts]`` (issue 14), their
counters join the process's ``/metrics``, and ``0`` switches each off."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from support.api import api_client
from support.central import make_container

from central.bootstrap import Container
from central.config import AlertSettings, load_settings
from central.entrypoints.server import _start_alert_jobs
from central.service_layer.alert_rules import AlertEvaluator
from central.service_layer.webhooks import WebhookWorker
from shared.waiting import wait_until


@pytest.fixture
def central(central_sqlite_url: str) -> Iterator[Container]:
    c = make_container(central_sqlite_url)
    yield c
    c.dispose()


def test_serve_starts_both_jobs_and_exposes_their_counters(central: Container) -> None:
    central.settings = central.settings.model_copy(update={"alerts": AlertSettings(evaluate_interval_seconds=0.2,
                                                                                   webhook_interval_seconds=0.1)})
    jobs = _start_alert_jobs(central)
    try:
        assert sorted(type(j).__name__ for j in jobs) == ["AlertEvaluator", "RecommendationEvaluator", "WebhookWorker"]
        evaluator = next(j for j in jobs if isinstance(j, AlertEvaluator))
        worker = next(j for j in jobs if isinstance(j, WebhookWorker))
        wait_until("both jobs ran",
                   lambda: evaluator.state.runs > 0 and worker.state.runs > 0, 30)
        assert evaluator.state.failures == 0 and worker.state.failures == 0
        client: TestClient = api_client(central)
        text = client.get("/metrics").text
        for name in ("sfsync_webhook_sent_total", "sfsync_webhook_dead_letters_total", "sfsync_alerts_opened_total"):
            assert f"# TYPE {name} counter" in text
    finally:
        for job in jobs:
            job.stop()


def test_zero_switches_them_off(central: Container) -> None:
    central.settings = central.settings.model_copy(update={"alerts": AlertSettings(evaluate_interval_seconds=0,
                                                                                   webhook_interval_seconds=0)})
    assert _start_alert_jobs(central) == []
    assert load_settings(None, {"SFSYNC_CENTRAL_ALERTS__WEBHOOK_MAX_ATTEMPTS": "3"}).alerts.webhook_max_attempts == 3
