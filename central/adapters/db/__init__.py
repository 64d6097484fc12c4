"""Database layer: engine factory, declarative ``Base``, typed models, Alembic migrations.

Models live in one module per concern (``models_ingest``, ``models_access``, ...); every
module is imported by :mod:`central.adapters.db.registry`, which Alembic and the tests use to get the
complete ``Base.metadata``. Nothing here creates an engine at import time.
"""
