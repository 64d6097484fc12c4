"""The error responses of every operation in the OpenAPI document, derived from its route.

Each route's dependencies and parameters say which errors it can give (errors.py maps them):

======  ==================================================================================
status  when
======  ==================================================================================
400     the route takes parameters or a body (a domain refusal: unknown item, bad input)
401     the route authenticates (missing, unknown, revoked or expired token)
403     the route checks a role (``require_role``) or writes (approvals check roles inside)
404     the path has parameters (the thing named does not exist) or the path is unknown
409     the route writes (duplicate, closed period, order state, conflicting change)
422     the route takes parameters or a body (validation, decimals, out-of-range values)
503     the route uses the database (unavailable or busy; retry)
======  ==================================================================================

Every error carries ``{"error": {"code", "message", "detail"}}`` (schema ``Error``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant

from central.entrypoints.api.deps import get_principal, get_session

__all__ = ["document_errors", "ERROR_SCHEMA"]

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "detail"],
            "properties": {
                "code": {"type": "string", "description": "stable machine-readable code, e.g. `validation_error`"},
                "message": {"type": "string", "description": "one sentence saying what was wrong"},
                "detail": {"description": "structured detail (validation errors, key paths) or null"},
            },
        }
    },
}

_DESCRIPTIONS = {
    400: "Bad input (a domain refusal)",
    401: "Missing, unknown, revoked or expired token",
    403: "The token's role may not do this",
    404: "Not found",
    409: "Conflict (duplicate, closed period, state)",
    422: "Validation error (malformed, out of range, too many decimal places)",
    503: "Database unavailable, retry later",
}
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_REF = {"$ref": "#/components/schemas/Error"}


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)


def _routes(app: FastAPI) -> Iterator[Any]:
    """Every API route with its effective path (prefixes applied), as FastAPI's own OpenAPI
    generator walks them (``iter_route_contexts`` where the version has included-router wrappers)."""
    walk = getattr(routing, "iter_route_contexts", None)
    for route in walk(app.routes) if walk is not None else app.routes:
        if isinstance(getattr(route, "dependant", None), Dependant) and getattr(route, "include_in_schema", False):
            yield route


def _statuses(route: Any, method: str) -> set[int]:
    calls = [d.call for d in _dependants(route.dependant) if d.call is not None]
    params = any(d.path_params or d.query_params or d.body_params for d in _dependants(route.dependant))
    authenticates = get_principal in calls
    out: set[int] = set()
    if params:
        out |= {400, 422}
    if route.dependant.path_params:
        out.add(404)
    if authenticates:
        out.add(401)
        if method in _WRITES or any(getattr(c, "__name__", "").startswith("require_role") for c in calls):
            out.add(403)
    if method in _WRITES and authenticates:
        out.add(409)
    if get_session in calls:
        out.add(503)
    return out


def document_errors(app: FastAPI, schema: dict[str, Any]) -> dict[str, Any]:
    """Add the ``Error`` schema and each operation's error responses to ``schema`` (FastAPI's
    document); the generic ``HTTPValidationError`` 422 is replaced by ours (errors.py answers every
    validation failure with the ``Error`` body)."""
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    for route in _routes(app):
        operations = schema.get("paths", {}).get(route.path_format, {})
        for method in route.methods or ():
            operation = operations.get(method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for status in sorted(_statuses(route, method)):
                responses[str(status)] = {"description": _DESCRIPTIONS[status],
                                          "content": {"application/json": {"schema": _REF}}}
    for unused in ("HTTPValidationError", "ValidationError"):
        if unused in schemas and unused not in str(schema.get("paths")):
            del schemas[unused]
    return schema
