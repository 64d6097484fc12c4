"""Database layer: engine factory, declarative ``Base``, typed models, Alembic migrations.

Models live in one module per concern (``models_ingest``, ``models_access``, ...); every
module listed in :data:`central.adapters.db.registry.MODEL_MODULES` is imported before Alembic or a test
looks at ``Base.metadata``. Nothing here creates an engine at import time.
"""
