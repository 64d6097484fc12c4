"""Master-data loading entry point used by ``sfsync central load FILE.yaml``.

The CLI reads and checks the file first (:func:`read_file`: every problem with its key path,
nothing opened yet), then loads it in one transaction (:func:`load_document`), so a bad file
never creates or changes a database.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from central.service_layer.costing.master_data import load_master
from central.service_layer.costing.master_file import MasterFile, read_master_file

__all__ = ["load_document", "load_file", "read_file"]


def read_file(path: str | Path) -> MasterFile:
    """The checked document of a YAML/JSON file; :class:`MasterDataError` lists every problem."""
    return read_master_file(path)


def load_document(session: Session, document: MasterFile, user: str, source: str) -> dict[str, Any]:
    """Load (or update) ``document`` in the caller's transaction; the summary says what was
    created, updated or unchanged per section, or which approval a guarded change waits for."""
    return load_master(session, document, user, source=source).to_data()


def load_file(session: Session, path: str | Path, user: str) -> dict[str, Any]:
    """:func:`read_file` then :func:`load_document` (the same file twice changes nothing)."""
    return load_document(session, read_file(path), user, source=str(path))
