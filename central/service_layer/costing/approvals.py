"""Applier of approved master-data changes (``central.bootstrap.APPLIERS`` maps its kind to it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from central.domain.commands import LoadMasterData
from central.service_layer.costing.master_data import merge_master_data
from central.service_layer.governance import ApprovedRequest
from central.service_layer.unit_of_work import AbstractUnitOfWork

__all__ = ["apply_master_data_change"]


def apply_master_data_change(uow: AbstractUnitOfWork, req: ApprovedRequest) -> Mapping[str, Any]:
    """Load the approved document (validated again against today's data) without the guard, in
    the approving unit of work (its clock is the approval's time)."""
    document = dict(req.payload["document"])
    summary = merge_master_data(LoadMasterData(document, req.requested_by,
                                              source=f"approval/{req.id} by {req.approved_by}", approved=True), uow)
    return summary.to_data()
