"""Test helpers shared across test modules, one module per area (imported explicitly)."""
