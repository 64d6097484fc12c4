"""Appliers of approved requests for the costing layer's kinds (registered at import)."""

from __future__ import annotations
