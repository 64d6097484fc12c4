"""Appliers of approved requests for the costing layer's kinds (registered at import)."""

from __future__ import annotations

import central.services.costing.approvals  # noqa: F401  (registers master_data_change)
