"""The routers the app includes, as objects imported here: a router that is not in these lists
is not served, and one whose module is missing fails at import, never silently.

One module per resource, its request and response schemas beside it. Add a new resource's
router to :data:`ROUTERS`; keep paths as in API.md. ``health`` carries
the open ``/health``, ``/ready`` and ``/metrics`` endpoints, which are mounted at the root as well as
under :data:`API_PREFIX` (see :data:`ROOT_ROUTERS`).
"""

from __future__ import annotations

from fastapi import APIRouter

from central.entrypoints.api.paths import API_PREFIX
from central.entrypoints.api.routers import (
    alerts,
    approvals,
    audit,
    edges,
    events,
    health,
    inputs,
    journal,
    master_data,
    operations,
    periods,
    purchase_orders,
    recommendations,
    reports,
    tokens,
    webhooks,
    work_orders,
)

__all__ = ["API_PREFIX", "ROUTERS", "ROOT_ROUTERS"]

ROUTERS: list[APIRouter] = [
    events.router,
    alerts.router,
    edges.router,
    master_data.router,
    work_orders.router,
    inputs.router,
    journal.router,
    periods.router,
    operations.router,
    reports.router,
    audit.router,
    approvals.router,
    tokens.router,
    purchase_orders.router,
    webhooks.router,
    recommendations.router,
]
"""Routers served under :data:`API_PREFIX`, every write request audited."""

ROOT_ROUTERS: list[APIRouter] = [
    health.router,
]
"""Open routers served at the root and under :data:`API_PREFIX`, without the write audit."""
