"""Which modules define tables. Add yours here (and a migration under ``migrations/versions``)."""

from __future__ import annotations

import importlib

from sqlalchemy import MetaData

from central.db.base import Base

__all__ = ["MODEL_MODULES", "load_metadata"]

MODEL_MODULES: tuple[str, ...] = (
    "central.db.models_ingest",
    "central.db.models_access",
    "central.db.models_costing",
    "central.db.models_governance",
)


def load_metadata() -> MetaData:
    """Import every model module and return the complete ``MetaData``."""
    for name in MODEL_MODULES:
        importlib.import_module(name)
    return Base.metadata
