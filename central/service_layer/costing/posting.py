"""The factory :func:`central.bootstrap.default_posting_handler` looks for."""

from __future__ import annotations

from central.service_layer.costing.production import CostingHandler

__all__ = ["make_posting_handler"]


def make_posting_handler() -> CostingHandler:
    """The costing layer's posting seam handler."""
    return CostingHandler()
