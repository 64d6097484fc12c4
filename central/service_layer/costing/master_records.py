"""Master data one record at a time (the API's ``/items``, ``/boms``, ``/accounts``, ...): list a
section, find one record by its key, create one (a duplicate key is a conflict: PUT changes it) or
replace one. Each write goes through the master-data load (:func:`merge_master_data`) like a
one-record master-data file, so the same checks, guarded-change approvals and audit records apply.

The writes are handlers (``(command, uow)``); the reads are views over a read session.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session
from typing_extensions import TypedDict

from central.adapters.master_snapshot import snapshot
from central.domain.commands import AddMasterRecord, LoadMasterData, ReplaceMasterRecord
from central.errors import Conflict, NotFound
from central.service_layer.costing.master_data import (
    PendingMasterApproval,
    SectionCounts,
    merge_master_data,
    record_key,
)
from central.service_layer.costing.master_file import parse_master_file
from central.service_layer.unit_of_work import AbstractUnitOfWork

__all__ = ["RecordWritten", "list_records", "get_record", "add_record", "replace_record"]


def list_records(session: Session, section: str) -> list[dict[str, Any]]:
    """Every record of ``section`` as stored."""
    return list(snapshot(session).records.get(section, []))


def _find(records: list[dict[str, Any]], section: str, record_id: str) -> dict[str, Any] | None:
    for record in records:
        if record_key(section, record) == record_id or str(record.get("id", record.get("item"))) == record_id:
            return record
    return None


def get_record(session: Session, section: str, record_id: str) -> dict[str, Any]:
    """The record whose key (or ``id``/``item``) is ``record_id``; 404 when there is none."""
    record = _find(list_records(session, section), section, record_id)
    if record is None:
        raise NotFound(f"no {section} record {record_id!r}")
    return record


def _stored(uow: AbstractUnitOfWork, section: str) -> list[dict[str, Any]]:
    return list(uow.master.snapshot().records.get(section, []))


class _RecordAndCounts(TypedDict):
    record: dict[str, Any]
    version: int | None
    changed: bool
    sections: dict[str, SectionCounts]


class RecordWritten(_RecordAndCounts, total=False):
    """A one-record write: the record as sent, then what the load did (``master_data.LoadResult``)."""

    pending_approval: PendingMasterApproval


def _write_one(uow: AbstractUnitOfWork, section: str, record: dict[str, Any], user: str) -> RecordWritten:
    summary = merge_master_data(LoadMasterData({section: [record]}, user, source=f"api:{section}",
                                               routing_first=False), uow)
    load = summary.to_data()
    written = RecordWritten(record=record, version=load["version"], changed=load["changed"],
                            sections=load["sections"])
    if "pending_approval" in load:
        written["pending_approval"] = load["pending_approval"]
    return written


def add_record(cmd: AddMasterRecord, uow: AbstractUnitOfWork) -> RecordWritten:
    """Add a new record; 409 ``duplicate`` when its key exists (use PUT to change it)."""
    parsed = parse_master_file({cmd.section: [cmd.record]})
    key = record_key(cmd.section, getattr(parsed, cmd.section)[0].model_dump(mode="json", by_alias=True))
    with uow:
        if any(record_key(cmd.section, r) == key for r in _stored(uow, cmd.section)):
            raise Conflict(f"{cmd.section} record {key!r} exists: use PUT to change it", code="duplicate")
        result = _write_one(uow, cmd.section, dict(cmd.record), cmd.user)
        uow.commit()
        return result


def replace_record(cmd: ReplaceMasterRecord, uow: AbstractUnitOfWork) -> RecordWritten:
    """Replace an existing record; 404 when ``record_id`` names none."""
    with uow:
        if _find(_stored(uow, cmd.section), cmd.section, cmd.record_id) is None:
            raise NotFound(f"no {cmd.section} record {cmd.record_id!r}")
        result = _write_one(uow, cmd.section, dict(cmd.record), cmd.user)
        uow.commit()
        return result
