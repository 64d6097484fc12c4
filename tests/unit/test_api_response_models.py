"""Every JSON operation of the central API declares a response model, and the OpenAPI document
names a response schema for each of its 2xx answers (issue 13, "Untyped API").

A route that answers something other than JSON is listed in :data:`NON_JSON`, with the reason;
the list is checked both ways (a listed route must exist and must really answer that media type).

The models document what the services return today (``ResponseBody``: strict, extra keys kept,
``response_model_exclude_unset`` so a key a service leaves out stays absent): the round-trip tests
below check that validating and dumping a service's value gives back the same JSON, key order
included."""

from __future__ import annotations

import json
from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any, cast

import pytest
from fastapi import FastAPI, routing
from fastapi.responses import PlainTextResponse
from fastapi.routing import APIRoute

from central.bootstrap import Container
from central.entrypoints.api.app import create_app
from central.entrypoints.api.paths import API_PREFIX
from central.entrypoints.api.routers.health import HealthOut
from central.entrypoints.api.routers.master_data import RECORD_MODELS, RESOURCES, ItemOut, MasterLoadOut
from central.entrypoints.api.routers.reports import OeeOut, VariancesOut
from central.entrypoints.api.routers.work_orders import CostSheetOut
from central.entrypoints.api.schemas import ResponseBody

NON_JSON: dict[tuple[str, str], str] = {
    ("GET", "/metrics"): "Prometheus text exposition (text/plain; version=0.0.4), not JSON",
    ("GET", f"{API_PREFIX}/metrics"): "the same Prometheus text under the API prefix",
}
"""(method, path) -> why the operation has no JSON response model."""


@pytest.fixture(scope="module")
def app() -> FastAPI:
    # building the app and its OpenAPI document touches no database: a bare container will do
    return create_app(cast(Container, SimpleNamespace()))


def _operations(app: FastAPI) -> list[tuple[str, str, Any]]:
    """(method, path as served, route) of every API operation, prefixes applied: FastAPI's
    ``iter_route_contexts`` where the version wraps included routers, else ``app.routes``."""
    walk = getattr(routing, "iter_route_contexts", None)
    contexts: Iterable[Any] = walk(app.routes) if walk is not None else app.routes
    return [(method, str(ctx.path_format), ctx) for ctx in contexts
            if isinstance(getattr(ctx, "original_route", ctx), APIRoute) for method in sorted(ctx.methods or ())]


def test_every_json_operation_declares_a_response_model(app: FastAPI) -> None:
    operations = _operations(app)
    assert len(operations) > 90  # every router is included (a lost router would shrink this)
    missing, loose = [], []
    for method, path, route in operations:
        if (method, path) in NON_JSON:
            continue
        model = route.response_model
        if not (isinstance(model, type) and issubclass(model, ResponseBody)):
            missing.append(f"{method} {path}: {model!r}")
        elif not route.response_model_exclude_unset:
            loose.append(f"{method} {path}")  # an absent optional key would become null
    assert not missing, "operations without a response model:\n" + "\n".join(missing)
    assert not loose, "response models without response_model_exclude_unset:\n" + "\n".join(loose)


def test_the_non_json_allow_list_is_exact(app: FastAPI) -> None:
    routes = {(method, path): route for method, path, route in _operations(app)}
    for key, why in NON_JSON.items():
        assert key in routes, f"{key} is allowed to skip a response model ({why}) but is not served"
        route = routes[key]
        assert route.response_model is None, key
        assert route.response_class is PlainTextResponse, key


def test_openapi_names_a_response_schema_for_every_2xx(app: FastAPI) -> None:
    doc = app.openapi()
    schemas = doc["components"]["schemas"]
    unnamed = []
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            where = f"{method.upper()} {path}"
            successes = {s: r for s, r in op["responses"].items() if s.startswith("2")}
            assert successes, where
            for status, response in successes.items():
                content = response.get("content", {})
                if (method.upper(), path) in NON_JSON:
                    assert "application/json" not in content and "text/plain" in content, where
                    continue
                ref = content.get("application/json", {}).get("schema", {}).get("$ref", "")
                name = ref.removeprefix("#/components/schemas/")
                if not ref.startswith("#/components/schemas/") or name not in schemas:
                    unnamed.append(f"{where} {status}: {content.get('application/json')!r}")
                elif schemas[name].get("type") != "object" or not schemas[name].get("properties"):
                    unnamed.append(f"{where} {status}: {name} names no properties")
    assert not unnamed, "2xx answers without a named response schema:\n" + "\n".join(unnamed)


def test_every_master_data_section_has_a_record_schema() -> None:
    assert {section for section, _role in RESOURCES.values()} == set(RECORD_MODELS)


def _round_trip(model: type[ResponseBody], value: dict[str, Any]) -> dict[str, Any]:
    """What the route sends for ``value``: validated, then dumped as FastAPI does it."""
    return model.model_validate(value).model_dump(mode="json", by_alias=True, exclude_unset=True)


def _same_json(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal as JSON text: same keys in the same order, same values (a null is not an absent key)."""
    return json.dumps(a) == json.dumps(b)


def test_variance_lines_keep_only_the_dimensions_that_are_set() -> None:
    value = {"variances": [{"type": "material_usage", "amount": "-1.50", "item": "S", "work_order": "WO-1"},
                           {"type": "foh_volume", "amount": "12.00", "work_center": "WC-PRESS"}],
             "total": "10.50"}
    out = _round_trip(VariancesOut, value)
    assert _same_json(out, value)
    assert "work_center" not in out["variances"][0] and "reason" not in out["variances"][1]


def test_oee_keeps_from_and_to_and_the_key_order() -> None:
    value = {"machine": None, "from": "2026-11-01T00:00:00+00:00", "to": "2026-11-02T00:00:00+00:00",
             "availability": "0.9000", "performance": "0.8000", "quality": "0.9900", "oee": "0.7128",
             "planned_time_h": "24.0000", "run_time_h": "21.6000", "good": "990", "scrap": "10"}
    assert _same_json(_round_trip(OeeOut, value), value)


def test_cost_sheet_elements_and_variances_round_trip() -> None:
    value = {"work_order": "WO-1", "item": "BR-100", "status": "closed", "standard_unit_cost": "9.800000",
             "good_unit_cost": "10.094000", "good_qty": "1000", "scrap_qty": "40", "normal_scrap_qty": "30",
             "abnormal_scrap_qty": "10", "run_hours": "42.0000", "standard_hours": "41.6000",
             "elements": {"material:S": {"standard": "6240.00", "actual": "6300.00"},
                          "labor": {"standard": "1040.00", "actual": "1050.00"}},
             "variances": [{"type": "labor_efficiency", "amount": "10.00", "work_center": "WC-PRESS"}]}
    assert _same_json(_round_trip(CostSheetOut, value), value)


def test_master_data_records_keep_class_and_absent_optional_fields() -> None:
    item = {"id": "S", "class": "raw", "unit": "kg", "name": "", "standard_cost": "4.000000", "issue": "manual"}
    assert _same_json(_round_trip(ItemOut, item), item)
    old = {"id": "S", "class": "raw"}  # a record stored before the optional fields existed
    assert _same_json(_round_trip(ItemOut, old), old)
    pending = {"version": 3, "changed": False, "sections": {"items": {"created": 0, "updated": 1, "unchanged": 0}},
               "pending_approval": {"id": 7, "status": "pending", "key_paths": ["items.S.standard_cost"],
                                    "required_role": "controller"}}
    assert _same_json(_round_trip(MasterLoadOut, pending), pending)
    loaded = {"version": 4, "changed": True, "sections": {}}
    assert "pending_approval" not in _round_trip(MasterLoadOut, loaded)


def test_a_value_of_the_wrong_type_is_refused_not_coerced() -> None:
    with pytest.raises(ValueError):
        _round_trip(OeeOut, {"machine": None, "from": "x", "to": "y", "availability": 0.9, "performance": "1",
                             "quality": "1", "oee": "1", "planned_time_h": "1", "run_time_h": "1", "good": "1",
                             "scrap": "0"})


def test_health_keeps_the_ingest_keys_the_worker_reported() -> None:
    body = {"status": "ok", "ready": True, "problems": [], "database": "ok",
            "ingest": {"enabled": True, "connected": True, "subscription": "sfsync/v1/+/+/events",
                       "heartbeat_age_seconds": 0.25, "worker": "running"},
            "posting_handler": "costing", "started": "2026-12-03T18:00:00+00:00",
            "now": "2026-12-03T18:01:00+00:00"}
    out = _round_trip(HealthOut, body)
    assert _same_json(out, body)
    assert "last_error" not in out["ingest"]
