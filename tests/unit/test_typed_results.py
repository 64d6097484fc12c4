"""Services that declare their results as TypedDicts, and the API schemas built from them (one
definition of each shape): a service's value validated by its route's schema dumps back to the
same JSON, key order included; a value of another type is refused (strict), not coerced."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from central.adapters.db.models_access import ApiTokenRow
from central.adapters.db.models_ingest import AlertRow
from central.entrypoints.api.routers.alerts import AlertAckedOut, AlertsOut
from central.entrypoints.api.routers.tokens import TokenRevokedOut, TokensOut
from central.service_layer.access import token_dict
from central.service_layer.alerts import alert_view
from tests.support.fake_uow import NOW


def _round_trip(model: type[BaseModel], value: Any) -> str:
    return model.model_validate(value).model_dump_json(exclude_unset=True)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _alert(**kw: Any) -> AlertRow:
    return AlertRow(**{"id": 3, "kind": "gap", "severity": "warning", "key": "gap:s1", "message": "gap in s1",
                       "detail": {"stream": "s1", "from": 4}, "count": 2, "created": NOW, "last_seen": NOW,
                       "status": "acknowledged", "acked_at": NOW, "acked_by": "ops", "plant": "P1", **kw})


def test_an_alert_round_trips_through_its_schemas() -> None:
    view = alert_view(_alert())
    assert list(view)[:3] == ["id", "kind", "severity"] and view["created"] == "2026-11-03T12:00:00Z"
    assert _round_trip(AlertAckedOut, {"alert": view}) == _json({"alert": view})
    page = {"alerts": [view, alert_view(_alert(id=4, detail=None, acked_at=None, acked_by=None))], "next": None}
    assert _round_trip(AlertsOut, page) == _json(page)


def test_a_token_round_trips_and_never_shows_its_hash() -> None:
    row = ApiTokenRow(id="ab12", user="ann", role="planner", token_hash="h" * 64, created=NOW,
                      expires=NOW + timedelta(days=1))
    view = token_dict(row, NOW)
    assert view["status"] == "active" and "token_hash" not in view
    assert _round_trip(TokenRevokedOut, {"token": view}) == _json({"token": view})
    assert _round_trip(TokensOut, {"tokens": [view]}) == _json({"tokens": [view]})


@pytest.mark.parametrize(("model", "value"), [
    (AlertAckedOut, {"alert": {**alert_view(_alert()), "count": "2"}}),
    (AlertAckedOut, {"alert": {k: v for k, v in alert_view(_alert()).items() if k != "key"}}),
    (TokensOut, {"tokens": [{**token_dict(ApiTokenRow(id="x", user="u", role="r", token_hash="h", created=NOW,
                                                      expires=None), NOW), "status": "lost"}]}),
])
def test_a_value_off_its_shape_is_refused(model: type[BaseModel], value: Any) -> None:
    with pytest.raises(ValidationError):
        model.model_validate(value)
