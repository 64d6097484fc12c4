"""Master data one record at a time (the API's ``/items``, ``/boms``, ``/accounts``, ...): list a
section, find one record by its key, create one (a duplicate key is a conflict: PUT changes it) or
replace one. Each write goes through :func:`load_master` like a one-record master-data file, so
the same checks, guarded-change approvals and audit records apply."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from central.errors import Conflict, NotFound
from central.service_layer.costing.master_data import load_master, record_key, snapshot
from central.service_layer.costing.master_file import parse_master_file

__all__ = ["load_document", "list_records", "get_record", "create_record", "update_record"]


def load_document(session: Session, body: dict[str, Any], user: str) -> dict[str, Any]:
    """Load or update a whole master-data document (the YAML file's structure as JSON); idempotent."""
    return load_master(session, parse_master_file(body), user, source="api").to_data()


def list_records(session: Session, section: str) -> list[dict[str, Any]]:
    """Every record of ``section`` as stored."""
    return list(snapshot(session).records.get(section, []))


def _find(session: Session, section: str, record_id: str) -> dict[str, Any] | None:
    for record in list_records(session, section):
        if record_key(section, record) == record_id or str(record.get("id", record.get("item"))) == record_id:
            return record
    return None


def get_record(session: Session, section: str, record_id: str) -> dict[str, Any]:
    """The record whose key (or ``id``/``item``) is ``record_id``; 404 when there is none."""
    record = _find(session, section, record_id)
    if record is None:
        raise NotFound(f"no {section} record {record_id!r}")
    return record


def _write_one(session: Session, section: str, record: dict[str, Any], user: str) -> dict[str, Any]:
    summary = load_master(session, parse_master_file({section: [record]}), user, source=f"api:{section}",
                          routing_first=False)
    return {"record": record, **summary.to_data()}


def create_record(session: Session, section: str, record: dict[str, Any], user: str) -> dict[str, Any]:
    """Add a new record; 409 ``duplicate`` when its key exists (use PUT to change it)."""
    parsed = parse_master_file({section: [record]})
    key = record_key(section, getattr(parsed, section)[0].model_dump(mode="json", by_alias=True))
    if any(record_key(section, r) == key for r in list_records(session, section)):
        raise Conflict(f"{section} record {key!r} exists: use PUT to change it", code="duplicate")
    return _write_one(session, section, record, user)


def update_record(session: Session, section: str, record_id: str, record: dict[str, Any],
                  user: str) -> dict[str, Any]:
    """Replace an existing record; 404 when ``record_id`` names none."""
    if _find(session, section, record_id) is None:
        raise NotFound(f"no {section} record {record_id!r}")
    return _write_one(session, section, record, user)
