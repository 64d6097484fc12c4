"""Which modules define tables: each is imported here by name, so ``Base.metadata`` is complete
wherever :func:`load_metadata` is called (Alembic's ``env.py``, tests). A new model module gets
an import and an entry in :data:`MODEL_MODULES` (and a migration under ``migrations/versions``)."""

from __future__ import annotations

from types import ModuleType

from sqlalchemy import MetaData

from central.adapters.db import (
    models_access,
    models_console,
    models_costing,
    models_governance,
    models_ingest,
    models_pricing,
    models_purchasing,
    models_recommendations,
)
from central.adapters.db.base import Base

__all__ = ["MODEL_MODULES", "load_metadata"]

MODEL_MODULES: tuple[ModuleType, ...] = (models_ingest, models_access, models_costing, models_governance,
                                         models_console, models_purchasing, models_pricing,
                                         models_recommendations)
"""The model modules, imported above; listed so a reader (and a test) sees what ``Base`` holds."""


def load_metadata() -> MetaData:
    """The complete ``MetaData``: every model module in :data:`MODEL_MODULES` is imported already."""
    return Base.metadata
