"""Which modules define tables. Add yours here (and a migration under ``migrations/versions``)."""

from __future__ import annotations

import importlib

from sqlalchemy import MetaData

from central.adapters.db.base import Base

__all__ = ["MODEL_MODULES", "load_metadata"]

MODEL_MODULES: tuple[str, ...] = (
    "central.adapters.db.models_ingest",
    "central.adapters.db.models_access",
    "central.adapters.db.models_costing",
    "central.adapters.db.models_governance",
)


def load_metadata() -> MetaData:
    """Import every model module and return the complete ``MetaData``."""
    for name in MODEL_MODULES:
        importlib.import_module(name)
    return Base.metadata
