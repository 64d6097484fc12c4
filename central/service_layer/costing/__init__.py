"""Costing services: master data, work orders and dispatch, postings, closes, ledger, reports.

Public entry points (everything else is private to the package):

- :class:`CostingHandler` - the posting seam handler the ingest calls inside its transaction;
- :func:`load_master` / :func:`load_file` - idempotent master-data load (``sfsync central load``);
- the modules ``work_orders``, ``inputs``, ``closing``, ``ledger``, ``reports``, ``stock`` hold the
  operations behind the HTTP API (the routers in ``central/entrypoints/api/routers/``).
"""

from __future__ import annotations

from central.service_layer.costing.master_data import LoadSummary, load_master, snapshot
from central.service_layer.costing.master_file import parse_master_file, parse_master_json, read_master_file
from central.service_layer.costing.production import CostingHandler

__all__ = [
    "CostingHandler",
    "LoadSummary",
    "load_master",
    "parse_master_file",
    "parse_master_json",
    "read_master_file",
    "snapshot",
]
