"""Master data in the database: idempotent load, the current set as domain values, and a cache.

A load merges the file's records over the stored ones, validates the merged set as a whole
(dangling references, missing account roles, BOM cycles: every error with its key path) and
writes only what changed, so the same file twice changes nothing. Machines and edges are also
written into the ingest's ``machines`` and ``edges`` tables: there is one machines table.

The first load takes effect at once. A later change to anything that moves a standard cost or
a posting (raw item standard costs, BOMs, routings, work-centre rates, accounts, posting rules)
needs an approval by someone other than the requester: it is not written but parked as an
approval request, and the approval applies it (``central.service_layer.costing.approvals``).

This is the one master-data service module (the CLI's ``sfsync central load`` included); the
model and its rules are pure, in ``central.domain.master_data``. :func:`load_master_data` is the
handler (``(LoadMasterData, uow)``: stored records, periods and versions through
``uow.master``, the approval through ``uow.approvals``, the audit record through ``uow.audit``);
``load_master``/``load_file`` run it in a session the caller holds. The snapshot of a version
is pure (``central.domain.master_snapshot``) and cached by ``central.adapters.master_snapshot``;
both are re-exported here.

An entity's time-zone change is guarded too once the entity has journal entries: it moves the
boundaries of its periods (and of the days its postings are dated by). Before the first posting
it applies at once, like a first load.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session
from typing_extensions import TypedDict

from central.adapters.master_snapshot import current_version, snapshot
from central.adapters.unit_of_work import SqlAlchemyUnitOfWork
from central.domain.alert_rules import alert_threshold_errors
from central.domain.commands import LoadMasterData
from central.domain.errors import MasterDataError
from central.domain.master_data import MasterData, PeriodStatus
from central.domain.master_data_validation import validate_master_data
from central.domain.master_snapshot import Snapshot, to_domain
from central.domain.posting_rules import PostingRuleSet
from central.domain.thresholds import threshold_errors
from central.errors import Conflict
from central.service_layer.clock import Clock, utc_now
from central.service_layer.costing.master_file import SECTIONS, MasterFile, parse_master_file, read_master_file
from central.service_layer.costing.selling_prices import SECTION as PRICES
from central.service_layer.costing.selling_prices import merge_prices, write_prices
from central.service_layer.governance.approvals import park_for_approval
from central.service_layer.unit_of_work import AbstractUnitOfWork, MasterChange

log = logging.getLogger(__name__)

__all__ = ["SectionCounts", "PendingMasterApproval", "LoadResult",
           "LoadSummary", "Snapshot", "load_master_data", "merge_master_data", "load_file", "load_master", "snapshot",
           "current_version", "to_domain", "record_key", "GUARDED_SECTIONS", "APPROVAL_KIND"]

GUARDED_SECTIONS = frozenset({"accounts", "boms", "routings", "work_centers", "posting_rules"})
"""Sections whose changes move standard costs or postings (plus raw items' standard cost)."""


class SectionCounts(TypedDict):
    created: int
    updated: int
    unchanged: int


class PendingMasterApproval(TypedDict):
    """The approval a guarded change (standard costs, postings) waits for, and the keys it changes."""

    id: int
    status: str
    key_paths: list[str]
    required_role: str


class _LoadCounts(TypedDict):
    version: int | None
    changed: bool
    sections: dict[str, SectionCounts]


class LoadResult(_LoadCounts, total=False):
    """What a load did per section; ``changed`` is false while a guarded change waits for approval
    (``pending_approval``, present only then)."""

    pending_approval: PendingMasterApproval


@dataclass
class LoadSummary:
    """What a load did, per section: created / updated / unchanged counts."""

    version: int | None = None
    sections: dict[str, dict[str, int]] = field(default_factory=dict)
    approval: PendingMasterApproval | None = None

    @property
    def changed(self) -> bool:
        return any(v["created"] or v["updated"] for v in self.sections.values())

    def count(self, section: str, what: str) -> None:
        self.sections.setdefault(section, {"created": 0, "updated": 0, "unchanged": 0})[what] += 1

    def to_data(self) -> LoadResult:
        sections = {name: SectionCounts(created=c["created"], updated=c["updated"], unchanged=c["unchanged"])
                    for name, c in self.sections.items()}
        if self.approval is not None:
            return {"version": self.version, "changed": False, "sections": sections,
                    "pending_approval": self.approval}
        return {"version": self.version, "changed": self.changed, "sections": sections}


def record_key(section: str, record: dict[str, Any]) -> str:
    """The stored key of a record: its id field; a posting rule by kind and item class."""
    if section == "posting_rules":
        return f"{record['kind']}|{record.get('item_class') or ''}"
    if section == "accounts":
        return f"{record.get('entity') or ''}|{record['code']}"
    return str(record[SECTIONS[section]])


def _file_records(mf: MasterFile) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for section in SECTIONS:
        rows = getattr(mf, section)
        out[section] = [r.model_dump(mode="json", by_alias=True) for r in rows]
        for record in out[section]:  # records stored before thresholds (max_event_qty) existed compare equal
            for optional in ("thresholds", "max_event_qty", "alert_thresholds"):
                if optional in record and record[optional] is None:
                    del record[optional]
    return out


def load_master_data(cmd: LoadMasterData, uow: AbstractUnitOfWork) -> LoadSummary:
    """Merge the document into the stored master data; write nothing unless the merged set is valid.

    With ``routing_first`` (a master-data file) every manufactured item of the document needs its
    routing in the merged set. Without it (one record through the CRUD resources) an item may
    come before its routing: work orders and the cost roll-up refuse it until the routing exists.
    Items stored without a routing never block a later file that does not name them.

    A change to guarded data after the first load is not written: it becomes an approval request
    (``summary.approval``) that a controller other than the user approves; the approval applies
    the same document again with ``approved=True``.
    """
    with uow:
        summary = merge_master_data(cmd, uow)
        uow.commit()
        return summary


def merge_master_data(cmd: LoadMasterData, uow: AbstractUnitOfWork) -> LoadSummary:
    """:func:`load_master_data`'s work inside a unit of work the caller has entered and commits
    (an approval's applier)."""
    mf = cmd.document if isinstance(cmd.document, MasterFile) else parse_master_file(cmd.document)
    now = uow.clock()
    incoming = _file_records(mf)
    stored: dict[str, dict[str, dict[str, Any]]] = {s: {} for s in SECTIONS}
    stored.update(uow.master.stored())
    first_load = not any(stored.values())
    merged: dict[str, list[dict[str, Any]]] = {}
    summary = LoadSummary()
    changes: list[MasterChange] = []
    guarded: list[str] = []
    for section, records in incoming.items():
        keys_in_file = set()
        merged[section] = []
        for index, record in enumerate(records):
            key = record_key(section, record)
            keys_in_file.add(key)
            merged[section].append(record)
            old = stored[section].get(key)
            if old == record:
                summary.count(section, "unchanged")
                continue
            summary.count(section, "created" if old is None else "updated")
            changes.append((section, key, record, old is None))
            if old is not None and not first_load and _is_guarded(section, old, record):
                guarded.append(f"{section}[{index}]")
            elif section == "entities" and old is not None and _moves_posted_periods(uow, old, record):
                guarded.append(f"{section}[{index}].timezone")
        merged[section] += [r for k, r in stored[section].items() if k not in keys_in_file]
    periods = _merge_periods(uow, mf, summary)
    prices = merge_prices(uow.selling_prices, mf) if mf.selling_prices else None  # own table; no approval needed
    if prices is not None:
        summary.sections[PRICES] = prices.counts
    master = to_domain(merged, periods)
    required = frozenset(str(i["id"]) for i in incoming["items"]) if cmd.routing_first else frozenset()
    errors = (validate_master_data(master, routing_required=required) + threshold_errors(merged)
              + alert_threshold_errors(merged))
    errors += prices.errors(master) if prices is not None else []
    if errors:
        raise MasterDataError(errors)
    if merged["posting_rules"]:
        PostingRuleSet.from_data(1, merged["posting_rules"])
    if guarded and not cmd.approved:
        summary.approval = _park(uow, mf, cmd.user, guarded)
        return summary
    _write(uow, changes, mf, master, cmd.user, now)
    if summary.changed:
        uow.audit.record(cmd.user, "master_data.load", "master-data",
                         {"source": cmd.source, "sections": summary.sections, "approved": cmd.approved}, at=now)
        summary.version = uow.master.add_version(user=cmd.user, source=cmd.source, sections=summary.sections, now=now)
        if prices is not None:
            write_prices(uow.selling_prices, prices, cmd.user, now, summary.version)
        log.info("master data v%s loaded by %s from %s: %s", summary.version, cmd.user, cmd.source, summary.sections)
    else:
        summary.version = uow.master.current_version()
    return summary


def load_master(
    session: Session, mf: MasterFile, user: str, source: str = "api", *, approved: bool = False,
    routing_first: bool = True, clock: Clock = utc_now,
) -> LoadSummary:
    """:func:`load_master_data` in the caller's transaction (``session``)."""
    return load_master_data(LoadMasterData(mf, user, source, routing_first, approved),
                            SqlAlchemyUnitOfWork.joining(session, clock))


def load_file(session: Session, path: str | Path, user: str, *, clock: Clock = utc_now) -> LoadResult:
    """Read, check and load a master-data file in the caller's transaction (``sfsync central
    load``, tests, benchmarks): :func:`load_master` of it as JSON; the same file twice changes
    nothing."""
    return load_master(session, read_master_file(path), user, source=str(path), clock=clock).to_data()


APPROVAL_KIND = "master_data_change"


def _park(uow: AbstractUnitOfWork, mf: MasterFile, user: str, guarded: list[str]) -> PendingMasterApproval:
    document = mf.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    row = park_for_approval(uow, user, APPROVAL_KIND, {"document": document, "key_paths": guarded},
                            "controller", summary=f"master data change: {', '.join(guarded[:5])}",
                            target="master-data")
    log.info("master data change by %s waits for approval %s: %s", user, row.id, guarded)
    return {"id": row.id, "status": row.status, "key_paths": guarded, "required_role": "controller"}


def _is_guarded(section: str, old: dict[str, Any], new: dict[str, Any]) -> bool:
    if section == "work_centers":  # operational thresholds move no cost: not guarded
        def costed(record: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in record.items() if k not in ("thresholds", "alert_thresholds")}

        return costed(old) != costed(new)
    if section in GUARDED_SECTIONS:
        return True
    return section == "items" and old.get("standard_cost") != new.get("standard_cost")


def _moves_posted_periods(uow: AbstractUnitOfWork, old: dict[str, Any], new: dict[str, Any]) -> bool:
    """An entity's time zone changes and the entity already has journal entries."""
    if old.get("timezone", "UTC") == new.get("timezone", "UTC"):
        return False
    return uow.master.entity_has_entries(str(new["id"]))


def _merge_periods(uow: AbstractUnitOfWork, mf: MasterFile, summary: LoadSummary) -> list[dict[str, Any]]:
    existing = {p["id"]: p for p in uow.master.period_records()}
    for p in mf.periods:
        old = existing.get(p.id)
        new = {"id": p.id, "start": p.start.isoformat(), "end": p.end.isoformat(), "entity": p.entity}
        if old is None:
            summary.count("periods", "created")
            existing[p.id] = {**new, "status": "open"}
        elif {k: old[k] for k in new} == new:
            summary.count("periods", "unchanged")
        elif old["status"] != "open":
            raise Conflict(f"period {p.id} is closed: its dates cannot change", code="period_closed")
        else:
            summary.count("periods", "updated")
            existing[p.id] = {**new, "status": old["status"]}
    return list(existing.values())


def _write(
    uow: AbstractUnitOfWork, changes: list[MasterChange], mf: MasterFile, master: MasterData, user: str,
    now: datetime,
) -> None:
    plants = {wc.id: wc.plant for wc in master.work_centers}
    uow.master.save(
        changes,
        [{"id": p.id, "entity": p.entity, "start": p.start, "end": p.end} for p in mf.periods],
        [{"id": m.id, "plant": plants[m.work_center], "edge": m.edge, "work_center": m.work_center,
          "max_event_qty": m.max_event_qty} for m in mf.machines],
        user=user, now=now,
    )


def period_status(status: str) -> PeriodStatus:
    return PeriodStatus(status)
