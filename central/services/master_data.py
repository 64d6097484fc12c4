"""Master-data loading entry point used by ``sfsync central load FILE.yaml``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from central.services.costing.master_data import load_master
from central.services.costing.master_file import read_master_file

__all__ = ["load_file"]


def load_file(session: Session, path: str | Path, user: str) -> dict[str, Any]:
    """Load (or update) master data from a YAML file in the caller's transaction; the summary
    says what was created, updated or unchanged per section (the same file twice changes nothing)."""
    summary = load_master(session, read_master_file(path), user, source=str(path))
    return summary.to_data()
