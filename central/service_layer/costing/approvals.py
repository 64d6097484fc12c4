"""Applier of approved master-data changes (``central.bootstrap.APPLIERS`` maps its kind to it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from central.service_layer.costing.master_data import load_master
from central.service_layer.costing.master_file import parse_master_file
from central.service_layer.governance import ApprovedRequest

__all__ = ["apply_master_data_change"]


def apply_master_data_change(session: Session, req: ApprovedRequest) -> Mapping[str, Any] | None:
    """Load the approved document (validated again against today's data) without the guard."""
    document = dict(req.payload["document"])
    summary = load_master(session, parse_master_file(document), req.requested_by,
                          source=f"approval/{req.id} by {req.approved_by}", approved=True,
                          clock=lambda: req.approved_at)
    return summary.to_data()

