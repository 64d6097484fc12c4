"""Service layer: the handlers every write goes through (ingest, costing, governance, tokens)."""
