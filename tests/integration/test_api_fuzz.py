"""Schema-driven fuzz of the whole HTTP API (schemathesis over the app's own OpenAPI document), in
process against the ASGI app, on SQLite and PostgreSQL (when SFSYNC_TEST_PG_URL is set).

What it asserts, per database:

* **zero 5xx**: whatever the request (schemathesis' coverage cases first: boundary values such as
  maximum + 1, pattern and type violations, unexpected methods; then generated cases, valid per
  schema or deliberately invalid), every
  token (each role, none, a forged one), the service answers 2xx/4xx;
* **every operation answered 2xx at least once**, so the run reaches past validation and auth:
  master data is seeded and an explicit example per operation (the valid request a client would
  send, with ids that exist) is sent first; generated cases draw their path ids from the ids that
  exist as often as from the schema;
* **numbers as API.md writes them**: no decimal in a 2xx body is in exponent form (``1E+3``),
  and none is a JSON float (amounts, quantities and ratios are strings; ``/health`` reports
  seconds);
* **answers as the document says**: every JSON answer whose status the operation documents is
  valid against that response's schema in the app's own OpenAPI document (JSON Schema 2020-12,
  ``$ref``s resolved in the document): the 2xx response models and the ``Error`` body of 4xx/5xx;
  a 2xx JSON answer the document gives no schema for counts as a failure too;
* **response models do not change the JSON**: every answer a response model serializes from the
  dict a service built is the same JSON (keys, key order, null vs absent, number formats) as that
  dict serialized without a model.

The time bound is ``SFSYNC_API_FUZZ_SECONDS`` per database (default 80 under ``CI=true``, 30
otherwise); ``SFSYNC_API_FUZZ_SEED`` fixes the seed. A summary (requests, statuses per operation)
is printed (``pytest -s`` shows it).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import fastapi.routing
import jsonschema_rs
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.errors import HypothesisException
from pydantic import TypeAdapter
from schemathesis.core import NOT_SET
from schemathesis.generation import GenerationMode
from support.central import event, payload, topic
from support.costing import MACHINE, costing_container, ingest, wire_events, worked_example_master
from support.recommendations import seed_recommendations

from central.bootstrap import Container
from central.domain.posting_rules import DEFAULT_RULES
from central.entrypoints.api.app import create_app
from central.service_layer.access import ROLES, issue_token

API = "/api/v1"
FUZZ_SECONDS = float(os.environ.get("SFSYNC_API_FUZZ_SECONDS", "80" if os.environ.get("CI") == "true" else "30"))
SEED = int(os.environ.get("SFSYNC_API_FUZZ_SEED", str(random.randrange(2**32))))
EXPONENT = re.compile(r"^-?[0-9]+(\.[0-9]+)?[eE][+-][0-9]+$")
"""A number as str() writes an exponent form: 1E+3, 2.1E-7 (hex digests carry no sign)."""
TOKENS = [*ROLES, None, "forged"]
"""Each request carries one of these: a role's token, no token, or a well-formed unknown one."""

HOSTILE: list[Any] = [
    2**63, -(2**63) - 1, 10**30, -1, 0, "1e400", "1E+3", "-0", "1000000000000000", "0.0000001", "NaN", 1e308, 1.5,
    "0001-01-01", "9999-12-31", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "\x00", "\ud800",
    "x" * 5000, True, None, [], {},
]
"""Values that once broke central (issue 11) or break parsers in general; generated cases get them
in path ids, query parameters and body fields, as well as the schema's own values."""

_URL_HOSTILE = [v for v in HOSTILE if v != "\ud800"]
"""A lone surrogate cannot be put in a URL at all (no UTF-8 for it); in a JSON body it can."""

pytestmark = pytest.mark.timeout(int(FUZZ_SECONDS) + 600)


@dataclass
class WireCheck:
    """Answers serialized through a response model, compared with the service's value serialized
    without one (what the routes sent before they had models)."""

    checked: int = 0
    changed: list[str] = field(default_factory=list)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        original = fastapi.routing.serialize_response
        plain: TypeAdapter[Any] = TypeAdapter(Any)

        async def serialize_response(*, field: Any = None, response_content: Any = None, **kw: Any) -> Any:
            out = await original(field=field, response_content=response_content, **kw)
            if field is not None and isinstance(response_content, dict | list):
                before = json.dumps(plain.dump_python(response_content, mode="json"))
                after = json.dumps(json.loads(out) if isinstance(out, bytes | str) else out)
                self.checked += 1
                if before != after:
                    self.changed.append(f"{field.type_ if hasattr(field, 'type_') else field}: "
                                        f"without the model {before[:300]} / with it {after[:300]}")
            return out

        monkeypatch.setattr(fastapi.routing, "serialize_response", serialize_response)


def _response_validators(doc: dict[str, Any]) -> dict[tuple[str, str, int], Any]:
    """(METHOD, path, status) -> a validator of that documented JSON response's schema; the
    document's components ride along so ``#/components/schemas/...`` resolves."""
    out: dict[tuple[str, str, int], Any] = {}
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            for status, response in op.get("responses", {}).items():
                schema = response.get("content", {}).get("application/json", {}).get("schema")
                if schema is not None and status.isdigit():
                    root = {**schema, "components": doc.get("components", {})}
                    out[(method.upper(), path, int(status))] = jsonschema_rs.Draft202012Validator(root)
    return out


@dataclass
class Run:
    """Everything sent and answered in one run."""

    client: TestClient
    tokens: dict[str, dict[str, str]]
    validators: dict[tuple[str, str, int], Any] = field(default_factory=dict)
    statuses: dict[tuple[str, str], Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    errors: list[str] = field(default_factory=list)
    bad_numbers: list[str] = field(default_factory=list)
    nonconforming: list[str] = field(default_factory=list)
    conforming: int = 0
    fuzz_ok: set[tuple[str, str]] = field(default_factory=set)

    def send(self, method: str, template: str, *, path: dict[str, Any] | None = None, role: str | None = None,
             query: Any = None, body: Any = NOT_SET, url: str | None = None, fuzzed: bool = False,
             headers: dict[str, str] | None = None) -> Any:
        """Send one request for the operation ``(method, template)``; record its status."""
        url = url if url is not None else template.format(**(path or {}))
        hdrs = {k: v for k, v in (headers or {}).items() if k.lower() not in ("authorization", "content-type")}
        if role is not None:
            hdrs.update(self.tokens[role])
        kwargs: dict[str, Any] = {"params": query, "headers": hdrs}
        if body is not NOT_SET:
            kwargs["content"] = body if isinstance(body, bytes) else json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        resp = self.client.request(method, url, **kwargs)
        key = (method.upper(), template)
        self.statuses[key][resp.status_code] += 1
        if resp.status_code >= 500:
            self.errors.append(f"{resp.status_code} {method} {url} query={query!r} body={_clip(body)} role={role}: "
                               f"{resp.text[:300]}")
        elif 200 <= resp.status_code < 300:
            if fuzzed:
                self.fuzz_ok.add(key)
            if resp.headers.get("content-type", "").startswith("application/json"):
                sent = _scalars(query) | _scalars(body) | _scalars(path) | set(url.split("/"))
                self._check_numbers(key, resp.json(), sent)
        self._check_schema(key, url, resp)
        return resp

    def _check_schema(self, key: tuple[str, str], url: str, resp: Any) -> None:
        """A JSON answer with a documented status is valid against its documented schema."""
        if not resp.headers.get("content-type", "").startswith("application/json"):
            return
        validator = self.validators.get((*key, resp.status_code))
        if validator is None:
            if 200 <= resp.status_code < 300:
                self.nonconforming.append(f"{key[0]} {url} {resp.status_code}: no response schema documented")
            return
        problems = [f"{'/'.join(map(str, e.instance_path))}: {e.message[:200]}"
                    for e in validator.iter_errors(resp.json())]
        if problems:
            self.nonconforming.append(f"{key[0]} {url} {resp.status_code}: {problems[:3]} in {resp.text[:300]}")
        else:
            self.conforming += 1

    def _check_numbers(self, key: tuple[str, str], doc: Any, sent: set[str]) -> None:
        """No decimal in exponent form, no JSON float (a filter value the request sent and the
        response echoes, such as ``entity=1e+308``, is the client's text, not a number)."""
        if isinstance(doc, dict):
            for value in doc.values():
                self._check_numbers(key, value, sent)
        elif isinstance(doc, list):
            for value in doc:
                self._check_numbers(key, value, sent)
        elif isinstance(doc, str) and EXPONENT.match(doc) and doc not in sent:
            self.bad_numbers.append(f"{key}: {doc!r}")
        elif isinstance(doc, float) and not key[1].endswith(("/health", "/ready")):  # health: seconds, not amounts
            self.bad_numbers.append(f"{key}: JSON float {doc!r}")

    def ok(self, method: str, template: str, role: str | None = "admin", **kw: Any) -> Any:
        resp = self.send(method, template, role=role, **kw)
        assert 200 <= resp.status_code < 300, f"{method} {template}: {resp.status_code} {resp.text[:500]}"
        return resp.json() if resp.headers.get("content-type", "").startswith("application/json") else resp.text


def _scalars(doc: Any) -> set[str]:
    """Every scalar of a request part, as text."""
    if isinstance(doc, dict):
        return set().union(*(_scalars(v) for v in doc.values())) if doc else set()
    if isinstance(doc, list | tuple):
        return set().union(*(_scalars(v) for v in doc)) if doc else set()
    return {str(doc)}


def _clip(body: Any) -> str:
    text = repr(body) if body is not NOT_SET else "-"
    return text if len(text) < 300 else text[:300] + "..."


# --- seeding and the explicit examples ---------------------------------------------------------


def _ingest_fixtures(container: Container) -> None:
    """Events that make every queue non-empty: unassigned and suspect units, a rejected event
    (unknown machine), a quarantined payload, a stream with a gap (and its alert)."""
    t0 = (datetime.now(UTC) - timedelta(hours=6)).replace(microsecond=0)
    units = [{"kind": "state", "ts": t0, "state": "running", "raw": {"tag": "state", "value": 1, "prev": 0}}]
    units += [{"kind": "count", "ts": t0 + timedelta(minutes=1 + i), "qty": 1,
               "flags": ["suspect"] if i % 3 == 0 else [], "raw": {"tag": "count", "value": i + 1, "prev": i}}
              for i in range(9)]
    ingest(container, wire_events(units), 5)
    container.ingest.handle_events(topic(), payload([event(1, machine="LATER", ts=t0), event(2, ts=t0)],
                                                    stream="s-gap"))
    container.ingest.handle_events(topic(), payload([event(6, ts=t0)], stream="s-gap"))
    container.ingest.handle_events(topic(), b"not json")


def _examples(run: Run, container: Container, schema_paths: set[tuple[str, str]]) -> None:
    """One valid request per operation, with the role that may send it (the explicit examples)."""
    today = datetime.now(UTC).date().isoformat()
    now = datetime.now(UTC)
    for root in ("", API):
        run.ok("GET", f"{root}/health", role=None)
        run.ok("GET", f"{root}/metrics", role=None)
    # master data: the whole file, then each CRUD resource
    master = worked_example_master()
    master["items"].append({"id": "BR-200", "class": "finished", "unit": "pcs"})
    master["routings"].append({"item": "BR-200", "work_center": "WC-PRESS", "labor_hours": "0.05",
                               "machine_hours": "0.05"})
    master["posting_rules"] = [{"kind": r.kind.value, "item_class": r.item_class.value if r.item_class else "",
                                "debit": r.debit.value, "credit": r.credit.value} for r in DEFAULT_RULES.rules]
    run.ok("POST", f"{API}/master-data", role="engineer", body=master)
    _ingest_fixtures(container)
    records = {
        "accounts": ({"code": "1310", "name": "Raw materials S", "role": "raw_materials", "item": "S"}, "|1300",
                     {"code": "1300", "name": "Raw materials", "role": "raw_materials"}, "controller"),
        "items": ({"id": "NUT", "class": "raw", "unit": "pcs", "standard_cost": "0.10", "issue": "manual"}, "S",
                  {"id": "S", "class": "raw", "unit": "kg", "standard_cost": "4.00", "issue": "manual",
                   "name": "steel"}, "engineer"),
        "boms": ({"item": "BR-200", "components": [{"item": "S", "qty": "2"}]}, "BR-100",
                 {"item": "BR-100", "components": [{"item": "S", "qty": "1.5"}, {"item": "F", "qty": "4"}]},
                 "engineer"),
        "work-centers": ({"id": "WC-2", "plant": "P1", "labor_rate": "20.00", "voh_rate": "10.00",
                          "foh_budget": "500.00", "normal_hours": "40"}, "WC-PRESS",
                         {"id": "WC-PRESS", "plant": "P1", "labor_rate": "25.00", "voh_rate": "15.00",
                          "foh_budget": "1400.00", "normal_hours": "40", "name": "press"}, "engineer"),
        "machines": ({"id": "LATER", "work_center": "WC-PRESS", "edge": "edge-1"}, MACHINE,
                     {"id": MACHINE, "work_center": "WC-PRESS", "edge": "edge-1", "name": "press 2"}, "engineer"),
        "routings": ({"item": "BR-300", "work_center": "WC-PRESS", "labor_hours": "0.05", "machine_hours": "0.05"},
                     "BR-100", {"item": "BR-100", "work_center": "WC-PRESS", "labor_hours": "0.04",
                                "machine_hours": "0.04", "normal_spoilage": "0.03"}, "engineer"),
        "posting-rules": ({"kind": "goods_receipt", "item_class": "semi", "debit": "raw_materials",
                           "credit": "accounts_payable"},
                          "labor_booking|", {"kind": "labor_booking", "debit": "labor_control",
                                             "credit": "wages_payable"}, "controller"),
        "downtime-reasons": ({"code": "SETUP", "category": "changeover", "planned": True}, "EQ_FAIL",
                             {"code": "EQ_FAIL", "category": "equipment", "planned": False, "name": "failure"},
                             "engineer"),
        "scrap-reasons": ({"code": "CRACK"}, "BURR", {"code": "BURR", "name": "burr"}, "engineer"),
    }
    # an engineer creates a manufactured item first and its routing next (POST /routings below)
    run.ok("POST", f"{API}/items", role="engineer", body={"id": "BR-300", "class": "finished", "unit": "pcs"})
    for resource, (new, key, update, role) in records.items():
        run.ok("POST", f"{API}/{resource}", role=role, body=new)
        run.ok("GET", f"{API}/{resource}", role="auditor")
        run.ok("GET", f"{API}/{resource}/{{record_id}}", role="auditor", path={"record_id": key})
        run.ok("PUT", f"{API}/{resource}/{{record_id}}", role=role, path={"record_id": key}, body=update)
    # ingest queues
    run.ok("GET", f"{API}/events", role="auditor", query={"limit": 5})
    run.ok("GET", f"{API}/streams", role="operator")
    run.ok("GET", f"{API}/quarantine", role="operator")
    rejected = run.ok("GET", f"{API}/rejected-events", role="controller")["rejected_events"]
    run.ok("POST", f"{API}/rejected-events/{{rejected_id}}/replay", role="controller",
           path={"rejected_id": rejected[0]["id"]})
    run.ok("POST", f"{API}/streams/{{stream}}/accept-gap", role="controller", path={"stream": "s-gap"},
           body={"through": 5, "reason": "lost on the way"})
    alerts = run.ok("GET", f"{API}/alerts", role="operator")["alerts"]
    run.ok("POST", f"{API}/alerts/{{alert_id}}/ack", role="operator", path={"alert_id": alerts[0]["id"]})
    # the alert lifecycle, purchase orders and webhooks (issue 14)
    assert len(alerts) >= 2, alerts
    run.ok("GET", f"{API}/alerts/{{alert_id}}", role="auditor", path={"alert_id": alerts[0]["id"]})
    run.ok("POST", f"{API}/alerts/{{alert_id}}/assign", role="controller", path={"alert_id": alerts[0]["id"]},
           body={"assignee": "mia", "comment": "yours"})
    run.ok("POST", f"{API}/alerts/{{alert_id}}/resolve", role="controller", path={"alert_id": alerts[0]["id"]},
           body={"comment": "done"})
    run.ok("POST", f"{API}/alerts/{{alert_id}}/dismiss", role="controller", path={"alert_id": alerts[1]["id"]})
    po_line = {"item": "S", "qty": "100", "unit_price": "4.10", "due": today}
    run.ok("POST", f"{API}/purchase-orders", role="planner",
           body={"id": "PO-F1", "supplier": "Steel Co", "plant": "P1", "lines": [po_line]})
    run.ok("GET", f"{API}/purchase-orders", role="auditor")
    run.ok("GET", f"{API}/purchase-orders/{{po_id}}", role="auditor", path={"po_id": "PO-F1"})
    hook = run.ok("POST", f"{API}/webhooks", role="admin",
                  body={"url": "http://127.0.0.1:9/hook", "secret": "s" * 16, "kinds": ["gap"]})["webhook"]
    run.ok("GET", f"{API}/webhooks", role="admin")
    run.ok("GET", f"{API}/webhooks/deliveries", role="admin")
    run.ok("DELETE", f"{API}/webhooks/{{webhook_id}}", role="admin", path={"webhook_id": hook["id"]})
    run.ok("GET", f"{API}/edges", role="auditor")
    run.ok("POST", f"{API}/edges", role="engineer", body={"id": "edge-9", "plant": "P1"})
    # work orders and inputs
    start = (now - timedelta(hours=6, minutes=30)).isoformat()
    run.ok("POST", f"{API}/work-orders", role="planner", body={"id": "WO-F1", "item": "BR-100", "qty": "100",
                                                                "due": today})
    run.ok("GET", f"{API}/work-orders", role="auditor")
    wo = {"order_id": "WO-F1"}
    run.ok("POST", f"{API}/work-orders/{{order_id}}/release", role="planner", path=wo)
    run.ok("POST", f"{API}/work-orders/{{order_id}}/start", role="planner", path=wo,
           body={"machine": MACHINE, "at": start})
    run.ok("GET", f"{API}/work-orders/{{order_id}}", role="auditor", path=wo)
    # decision support (issue 14): the risk of the running order, recommendations people decide on
    run.ok("GET", f"{API}/work-orders/{{order_id}}/risk", role="operator", path=wo)
    run.ok("GET", f"{API}/reports/order-risk", role="auditor")
    rec_ids = seed_recommendations(container, now, MACHINE, "BR-100")
    run.ok("GET", f"{API}/recommendations", role="operator")
    run.ok("GET", f"{API}/recommendations/{{rec_id}}", role="auditor", path={"rec_id": rec_ids[0]})
    run.ok("POST", f"{API}/recommendations/{{rec_id}}/ack", role="operator", path={"rec_id": rec_ids[0]})
    run.ok("POST", f"{API}/recommendations/{{rec_id}}/dismiss", role="controller", path={"rec_id": rec_ids[1]},
           body={"reason": "one_off", "comment": "trial coil"})
    run.ok("POST", f"{API}/recommendations/{{rec_id}}/escalate", role="controller", path={"rec_id": rec_ids[2]})
    run.ok("POST", f"{API}/goods-receipts", role="operator",
           body={"item": "S", "qty": "1000", "unit_price": "4.10", "ref": "GR-1", "posting_date": today})
    run.ok("GET", f"{API}/goods-receipts", role="auditor")
    run.ok("POST", f"{API}/work-orders/{{order_id}}/material-issues", role="operator", path=wo,
           body={"item": "S", "qty": "2.5"})
    run.ok("POST", f"{API}/labor-bookings", role="controller",
           body={"work_center": "WC-PRESS", "period": "P-TEST", "hours": "8", "amount": "200.00"})
    run.ok("GET", f"{API}/labor-bookings", role="auditor")
    run.ok("POST", f"{API}/overhead-actuals", role="controller",
           body={"work_center": "WC-PRESS", "period": "P-TEST", "kind": "fixed", "amount": "120.00"})
    run.ok("GET", f"{API}/overhead-actuals", role="auditor")
    suspects = run.ok("GET", f"{API}/suspect-events", role="auditor")["events"]
    run.ok("POST", f"{API}/suspect-events/{{event_id}}/accept", role="controller",
           path={"event_id": suspects[0]["id"]})
    run.ok("POST", f"{API}/suspect-events/{{event_id}}/reject", role="controller",
           path={"event_id": suspects[1]["id"]})
    run.ok("POST", f"{API}/work-orders/{{order_id}}/stop", role="planner", path=wo)
    run.ok("POST", f"{API}/work-orders", role="planner", body={"id": "WO-F2", "item": "BR-100", "qty": "10"})
    run.ok("POST", f"{API}/work-orders/{{order_id}}/release", role="planner", path={"order_id": "WO-F2"})
    run.ok("POST", f"{API}/work-orders/{{order_id}}/start", role="planner", path={"order_id": "WO-F2"},
           body={"machine": MACHINE})
    waiting = run.ok("GET", f"{API}/unassigned", role="auditor")["events"]
    if waiting:
        run.ok("POST", f"{API}/unassigned/{{event_id}}/assign", role="controller",
               path={"event_id": waiting[0]["id"]}, body={"work_order": "WO-F2"})
    run.ok("POST", f"{API}/work-orders/{{order_id}}/complete", role="planner", path=wo)
    run.ok("GET", f"{API}/work-orders/{{order_id}}/cost", role="auditor", path=wo)
    run.ok("POST", f"{API}/work-orders/{{order_id}}/close", role="controller", path=wo)
    # ledger, approvals, periods
    entries = run.ok("GET", f"{API}/journal", role="auditor", query={"kind": "goods_receipt"})["entries"]
    run.ok("GET", f"{API}/journal/{{entry_id}}", role="auditor", path={"entry_id": entries[0]["id"]})
    run.ok("POST", f"{API}/journal/{{entry_id}}/reverse", role="controller", path={"entry_id": entries[0]["id"]},
           body={"reason": "fuzz example"})
    manual = {"memo": "accrual", "lines": [{"account": "5100", "debit": "10.00"},
                                           {"account": "2100", "credit": "10.00"}]}
    first = run.ok("POST", f"{API}/journal", role="controller", body=manual)
    second = run.ok("POST", f"{API}/journal", role="controller", body={**manual, "memo": "second accrual"})
    run.ok("GET", f"{API}/approvals", role="auditor")
    run.ok("GET", f"{API}/approvals/{{approval_id}}", role="auditor",
           path={"approval_id": _approval_id(first)})
    run.ok("POST", f"{API}/approvals/{{approval_id}}/approve", role="controller2",
           path={"approval_id": _approval_id(first)}, body={"comment": "ok"})
    run.ok("POST", f"{API}/approvals/{{approval_id}}/reject", role="controller",
           path={"approval_id": _approval_id(second)}, body={"reason": "withdrawn"})
    for path in ("stock-moves", "trial-balance", "periods", "quality-exceptions", "maintenance-requests", "audit",
                 "audit/verify", "reports/variances", "reports/inventory-valuation", "reports/wip",
                 "reports/margin"):
        run.ok("GET", f"{API}/{path}", role="auditor")
    run.ok("GET", f"{API}/reports/margin", role="auditor", query={"period": "P-TEST", "plant": "P1"})
    for path in ("reports/downtime", "reports/cost-of-quality", "reports/oee"):
        run.ok("GET", f"{API}/{path}", role="auditor", query={"from": today, "to": today})
    run.ok("POST", f"{API}/periods/{{period_id}}/close", role="controller", path={"period_id": "P-TEST"})
    reopen = run.ok("POST", f"{API}/periods/{{period_id}}/reopen", role="admin", path={"period_id": "P-TEST"},
                    body={"reason": "fuzz reopens"})
    run.ok("POST", f"{API}/approvals/{{approval_id}}/approve", role="controller2",
           path={"approval_id": _approval_id(reopen)})
    _token_examples(run, schema_paths)


def _token_examples(run: Run, schema_paths: set[tuple[str, str]]) -> None:
    """The token endpoints, where the app has them (admin only)."""
    if ("GET", f"{API}/tokens") in schema_paths:
        listed = run.ok("GET", f"{API}/tokens", role="admin")
        rows = listed.get("tokens", []) if isinstance(listed, dict) else []
        victim = next((t for t in rows if t.get("user") == "fuzz-victim"), None)
        if victim is not None and ("POST", f"{API}/tokens/{{token_id}}/revoke") in schema_paths:
            run.ok("POST", f"{API}/tokens/{{token_id}}/revoke", role="admin", path={"token_id": victim["id"]})


def _approval_id(doc: dict[str, Any]) -> int:
    approval = doc.get("approval", doc)
    return int(approval["id"] if isinstance(approval, dict) and "id" in approval else doc["approval_id"])


# --- the fuzz -----------------------------------------------------------------------------------


def _pools(run: Run) -> dict[str, list[Any]]:
    """Ids that exist now, per path parameter name (``record_id`` per resource)."""
    def get(path: str, key: str, field: str = "id") -> list[Any]:
        return [r[field] for r in run.client.get(f"{API}/{path}", headers=run.tokens["admin"]).json().get(key, [])]

    return {
        "order_id": get("work-orders", "work_orders"), "entry_id": get("journal", "entries"),
        "approval_id": get("approvals", "approvals"), "alert_id": get("alerts", "alerts"),
        "rejected_id": get("rejected-events", "rejected_events"), "period_id": get("periods", "periods"),
        "event_id": get("unassigned", "events") + get("suspect-events", "events") + [1, 2, 3],
        "stream": get("streams", "streams", "stream"), "token_id": [1, 2, 3],
        "po_id": get("purchase-orders", "purchase_orders"), "webhook_id": get("webhooks", "webhooks"),
        "rec_id": get("recommendations", "recommendations"),
        "record_id": ["S", "BR-100", "WC-PRESS", MACHINE, "EQ_FAIL", "BURR", "|1300", "labor_booking|"],
    }


def _strategies(schema: Any, pools: dict[str, list[Any]]) -> list[tuple[str, str, Any]]:
    out = []
    for result in schema.get_all_operations():
        op = result.ok()
        if op is None:
            continue
        variants = [op.as_strategy(generation_mode=GenerationMode.POSITIVE)]
        with contextlib.suppress(Exception):  # an operation with nothing to negate has no negative strategy
            variants.append(op.as_strategy(generation_mode=GenerationMode.NEGATIVE))
        names = [p.name for p in op.path_parameters]
        for name in names:
            for value in pools.get(name, [])[:6]:
                variants.append(op.as_strategy(path_parameters={name: value}))
            hostile = [v for v in _URL_HOSTILE if isinstance(v, int | str) and not isinstance(v, bool)]
            variants.append(st.one_of([op.as_strategy(path_parameters={name: v}) for v in hostile]))
        base = variants[0]
        if any(p.name for p in op.query):
            variants.append(st.tuples(base, st.sampled_from([p.name for p in op.query]),
                                      st.sampled_from(_URL_HOSTILE)).map(_with_query))
        if op.body:
            variants.append(st.tuples(base, st.integers(0, 50), st.sampled_from(HOSTILE)).map(_with_body_field))
        out.append((op.method.upper(), op.path, st.one_of(variants)))
    return out


def _with_query(drawn: tuple[Any, str, Any]) -> Any:
    case, name, value = drawn
    case.query = {**(case.query or {}), name: value}
    return case


def _with_body_field(drawn: tuple[Any, int, Any]) -> Any:
    """A valid body with one field (at any depth of its first branch) replaced by a hostile value."""
    case, pick, value = drawn
    if isinstance(case.body, dict) and case.body:
        body = json.loads(json.dumps(case.body))
        target = body
        while True:
            keys = list(target)
            key = keys[pick % len(keys)]
            inner = target[key]
            if isinstance(inner, dict) and inner and pick % 3:
                target = inner
            elif isinstance(inner, list) and inner and isinstance(inner[0], dict) and inner[0] and pick % 3:
                target = inner[0]
            else:
                target[key] = value
                break
        case.body = body
    return case


def _sender(run: Run, method: str, path: str, strategy: Any, per_op: int, seed: int) -> Callable[[], None]:
    """A hypothesis test sending ``per_op`` generated cases of one operation (no shrinking: a
    5xx is recorded, not raised, so the run goes on and reports every one)."""

    @settings(max_examples=per_op, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @hypothesis_seed(seed)
    @given(case=strategy, role=st.sampled_from(TOKENS))
    def send(case: Any, role: str | None) -> None:
        query = {k: v for k, v in (case.query or {}).items() if v is not None} or None
        run.send(method, path, url=case.formatted_path, role=role, query=query, body=case.body, fuzzed=True,
                 headers={k: str(v) for k, v in (case.headers or {}).items()})

    return send


def _fuzz_round(run: Run, ops: list[tuple[str, str, Any]], per_op: int, seed: int, deadline: float) -> None:
    for n, (method, path, strategy) in enumerate(ops):
        if time.monotonic() > deadline:
            return
        try:
            _sender(run, method, path, strategy, per_op, seed + n)()
        except HypothesisException as exc:  # generation impossible for this operation: say so, go on
            print(f"  generation stopped for {method} {path}: {type(exc).__name__}: {str(exc)[:200]}")


def _coverage(run: Run, schema: Any, deadline: float) -> int:
    """Schemathesis' coverage cases (boundary values: maximum + 1, pattern and type violations,
    missing fields, unexpected methods), each once, tokens in turn; until ``deadline``."""
    sent = 0
    for result in schema.get_all_operations():
        op = result.ok()
        if op is None:
            continue
        config = schema.config.generation_for(operation=op)
        cases = schema.iter_coverage_cases(op, generation_modes=list(GenerationMode), generation_config=config)
        for case in cases:
            if time.monotonic() > deadline:
                return sent
            role = TOKENS[sent % len(TOKENS)] if sent % 2 else "admin"
            query = {k: v for k, v in (case.query or {}).items() if v is not None} or None
            run.send(case.method.upper(), op.path, url=case.formatted_path, role=role, query=query, body=case.body,
                     fuzzed=True, headers={k: str(v) for k, v in (case.headers or {}).items()})
            sent += 1
    return sent


def _run(container: Container) -> Run:
    app = create_app(container)
    client = TestClient(app, raise_server_exceptions=False)
    with container.write_sessions() as session, session.begin():
        tokens = {role: {"Authorization": f"Bearer {issue_token(session, f'fuzz-{role}', role).token}"}
                  for role in ROLES}
        tokens["controller2"] = {"Authorization": f"Bearer {issue_token(session, 'fuzz-ctl2', 'controller').token}"}
        tokens["forged"] = {"Authorization": "Bearer sfs_999_notarealsecret"}
        issue_token(session, "fuzz-victim", "auditor")
    schema_doc = app.openapi()
    run = Run(client, tokens, _response_validators(schema_doc))
    schema_paths = {(m.upper(), p) for p, ops in schema_doc["paths"].items() for m in ops}
    _examples(run, container, schema_paths)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    start = time.monotonic()
    deadline = start + FUZZ_SECONDS
    coverage = _coverage(run, schema, start + FUZZ_SECONDS * 0.4)
    rounds, per_op = 0, 5
    while time.monotonic() < deadline:
        ops = _strategies(schema, _pools(run))
        _fuzz_round(run, ops, per_op, SEED + rounds * 1000, deadline)
        rounds += 1
        per_op = min(per_op * 2, 40)
    print(_summary(run, schema_paths, rounds, coverage))
    return run


def _summary(run: Run, schema_paths: set[tuple[str, str]], rounds: int, coverage: int) -> str:
    total = sum(sum(c.values()) for c in run.statuses.values())
    lines = [f"API fuzz: seed {SEED}, {coverage} coverage cases, {rounds} fuzz rounds, {total} requests, "
             f"{len(run.errors)} 5xx, {run.conforming} answers valid against their documented schema, "
             f"{len(run.nonconforming)} not, "
             f"{len(run.fuzz_ok & schema_paths)}/{len(schema_paths)} operations with a 2xx from generated cases"]
    for key in sorted(run.statuses):
        counts = " ".join(f"{s}:{n}" for s, n in sorted(run.statuses[key].items()))
        lines.append(f"  {key[0]:6} {key[1]:55} {counts}")
    return "\n".join(lines)


@pytest.mark.parametrize("db", ["api-fuzz"])
def test_api_fuzz_every_role_no_5xx_every_operation_reached(central_db_url: str, db: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    wire = WireCheck()
    wire.install(monkeypatch)
    container = costing_container(central_db_url)
    try:
        run = _run(container)
    finally:
        container.dispose()
    print(f"API fuzz: {wire.checked} answers through a response model, {len(wire.changed)} changed by it")
    schema_paths = {(m, p) for (m, p) in run.statuses}
    assert not run.errors, f"{len(run.errors)} server errors, first ones:\n" + "\n".join(run.errors[:25])
    assert not run.bad_numbers, f"exponent forms in responses: {run.bad_numbers[:10]}"
    assert run.conforming > 0
    assert not run.nonconforming, (f"{len(run.nonconforming)} answers not as documented, first ones:\n"
                                   + "\n".join(run.nonconforming[:25]))
    assert wire.checked > 0
    assert not wire.changed, f"response models changed {len(wire.changed)} answers:\n" + "\n".join(wire.changed[:10])
    app_ops = {(m.upper(), p) for p, ops in create_app(container).openapi()["paths"].items() for m in ops}
    answered = {k for k, c in run.statuses.items() if any(200 <= s < 300 for s in c)}
    assert app_ops - answered == set(), f"operations never answered 2xx: {sorted(app_ops - answered)}"
    assert schema_paths >= app_ops
