"""Router modules the app includes under ``/api/v1``; each exposes ``router: APIRouter``.

Add a line for a new area; keep paths as in API.md. ``routes_ops`` also carries the open
``/health`` and ``/metrics`` endpoints, which are mounted at the root (see ``ROOT_ROUTER_MODULES``).
"""

from __future__ import annotations

from typing import Final

__all__ = ["API_PREFIX", "ROUTER_MODULES", "ROOT_ROUTER_MODULES"]

API_PREFIX: Final = "/api/v1"

ROUTER_MODULES: list[str] = [
    "central.entrypoints.api.routes_ops",
    "central.entrypoints.api.routes_master",
    "central.entrypoints.api.routes_ledger",
    "central.entrypoints.api.routes_reports",
    "central.entrypoints.api.routes_governance",
    "central.entrypoints.api.routes_access",
]

ROOT_ROUTER_MODULES: list[str] = [
    "central.entrypoints.api.routes_health",
]
