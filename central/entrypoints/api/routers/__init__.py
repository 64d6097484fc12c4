"""The routers the app includes, as objects imported here: a router that is not in these lists
is not served, and one whose module is missing fails at import, never silently.

Add a new resource's router to :data:`ROUTERS`; keep paths as in API.md. ``routes_health`` carries
the open ``/health``, ``/ready`` and ``/metrics`` endpoints, which are mounted at the root as well as
under :data:`API_PREFIX` (see :data:`ROOT_ROUTERS`).
"""

from __future__ import annotations

from fastapi import APIRouter

from central.entrypoints.api import (
    routes_access,
    routes_governance,
    routes_health,
    routes_ledger,
    routes_master,
    routes_ops,
    routes_reports,
)
from central.entrypoints.api.paths import API_PREFIX

__all__ = ["API_PREFIX", "ROUTERS", "ROOT_ROUTERS"]

ROUTERS: list[APIRouter] = [
    routes_ops.router,
    routes_master.router,
    routes_ledger.router,
    routes_reports.router,
    routes_governance.router,
    routes_access.router,
]
"""Routers served under :data:`API_PREFIX`, every write request audited."""

ROOT_ROUTERS: list[APIRouter] = [
    routes_health.router,
]
"""Open routers served at the root and under :data:`API_PREFIX`, without the write audit."""
