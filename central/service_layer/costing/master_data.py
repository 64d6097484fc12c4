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
model and its rules are pure, in ``central.domain.master_data``.

An entity's time-zone change is guarded too once the entity has journal entries: it moves the
boundaries of its periods (and of the days its postings are dated by). Before the first posting
it applies at once, like a first load.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central.adapters.db.models_costing import JournalEntryRow, MasterRecordRow, MasterVersionRow, PeriodRow
from central.adapters.db.models_ingest import EdgeRow, MachineRow
from central.domain.errors import MasterDataError
from central.domain.master_data import (
    Account,
    Bom,
    BomLine,
    DowntimeCategory,
    DowntimeReason,
    Entity,
    IssueMethod,
    Item,
    ItemClass,
    Machine,
    MasterData,
    Period,
    PeriodStatus,
    Plant,
    Routing,
    ScrapReason,
    WorkCentre,
)
from central.domain.master_data_validation import validate_master_data
from central.domain.posting_rules import DEFAULT_RULES, PostingRuleSet
from central.domain.postings import PostingContext
from central.domain.thresholds import threshold_errors
from central.errors import Conflict
from central.service_layer.clock import Clock, utc_now
from central.service_layer.costing.master_file import SECTIONS, MasterFile, read_master_file
from central.service_layer.costing.selling_prices import SECTION as PRICES
from central.service_layer.costing.selling_prices import merge_prices, write_prices
from central.service_layer.governance.approvals import request_approval
from central.service_layer.governance.audit import record as audit_record

log = logging.getLogger(__name__)

__all__ = ["LoadSummary", "Snapshot", "load_file", "load_master", "snapshot", "record_key", "GUARDED_SECTIONS"]

GUARDED_SECTIONS = frozenset({"accounts", "boms", "routings", "work_centers", "posting_rules"})
"""Sections whose changes move standard costs or postings (plus raw items' standard cost)."""


@dataclass
class LoadSummary:
    """What a load did, per section: created / updated / unchanged counts."""

    version: int | None = None
    sections: dict[str, dict[str, int]] = field(default_factory=dict)
    approval: dict[str, Any] | None = None

    @property
    def changed(self) -> bool:
        return any(v["created"] or v["updated"] for v in self.sections.values())

    def count(self, section: str, what: str) -> None:
        self.sections.setdefault(section, {"created": 0, "updated": 0, "unchanged": 0})[what] += 1

    def to_data(self) -> dict[str, Any]:
        if self.approval is not None:
            return {"version": self.version, "changed": False, "sections": self.sections,
                    "pending_approval": self.approval}
        return {"version": self.version, "changed": self.changed, "sections": self.sections}


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
            for optional in ("thresholds", "max_event_qty"):
                if optional in record and record[optional] is None:
                    del record[optional]
    return out


def _stored(session: Session) -> dict[str, dict[str, dict[str, Any]]]:
    stored: dict[str, dict[str, dict[str, Any]]] = {s: {} for s in SECTIONS}
    for row in session.scalars(select(MasterRecordRow)):
        stored.setdefault(row.section, {})[row.key] = row.data
    return stored


def _period_records(session: Session) -> list[dict[str, Any]]:
    return [
        {"id": p.id, "start": p.start.isoformat(), "end": p.end.isoformat(), "entity": p.entity, "status": p.status}
        for p in session.scalars(select(PeriodRow).order_by(PeriodRow.start))
    ]


def load_master(
    session: Session, mf: MasterFile, user: str, source: str = "api", *, approved: bool = False,
    routing_first: bool = True, clock: Clock = utc_now,
) -> LoadSummary:
    """Merge ``mf`` into the stored master data; write nothing unless the merged set is valid.

    With ``routing_first`` (a master-data file) every manufactured item of ``mf`` needs its
    routing in the merged set. Without it (one record through the CRUD resources) an item may
    come before its routing: work orders and the cost roll-up refuse it until the routing exists.
    Items stored without a routing never block a later file that does not name them.

    A change to guarded data after the first load is not written: it becomes an approval request
    (``summary.approval``) that a controller other than ``user`` approves; the approval applies
    the same document again with ``approved=True``.
    """
    now = clock()
    incoming = _file_records(mf)
    stored = _stored(session)
    first_load = not any(stored.values())
    merged: dict[str, list[dict[str, Any]]] = {}
    summary = LoadSummary()
    changes: list[tuple[str, str, dict[str, Any], bool]] = []
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
            elif section == "entities" and old is not None and _moves_posted_periods(session, old, record):
                guarded.append(f"{section}[{index}].timezone")
        merged[section] += [r for k, r in stored[section].items() if k not in keys_in_file]
    periods = _merge_periods(session, mf, summary)
    prices = merge_prices(session, mf) if mf.selling_prices else None  # own table; no approval needed
    if prices is not None:
        summary.sections[PRICES] = prices.counts
    master = to_domain(merged, periods)
    required = frozenset(str(i["id"]) for i in incoming["items"]) if routing_first else frozenset()
    errors = validate_master_data(master, routing_required=required) + threshold_errors(merged)
    errors += prices.errors(master) if prices is not None else []
    if errors:
        raise MasterDataError(errors)
    if merged["posting_rules"]:
        PostingRuleSet.from_data(1, merged["posting_rules"])
    if guarded and not approved:
        summary.approval = _request_approval(session, mf, user, guarded, now)
        return summary
    _write(session, changes, mf, master, user, now)
    if summary.changed:
        audit_record(session, user, "master_data.load", "master-data",
                     {"source": source, "sections": summary.sections, "approved": approved})
        version = MasterVersionRow(created=now, user=user, source=source, summary=summary.sections)
        session.add(version)
        session.flush()
        summary.version = version.id
        if prices is not None:
            write_prices(session, prices, user, now, version.id)
        for row in session.scalars(select(MasterRecordRow).where(MasterRecordRow.version == 0)):
            row.version = version.id
        log.info("master data v%s loaded by %s from %s: %s", version.id, user, source, summary.sections)
    else:
        summary.version = current_version(session)
    return summary



def load_file(session: Session, path: str | Path, user: str, *, clock: Clock = utc_now) -> dict[str, Any]:
    """Read, check and load a master-data file in the caller's transaction (``sfsync central
    load``, tests, benchmarks): :func:`load_master` of it as JSON; the same file twice changes
    nothing."""
    return load_master(session, read_master_file(path), user, source=str(path), clock=clock).to_data()


APPROVAL_KIND = "master_data_change"


def _request_approval(
    session: Session, mf: MasterFile, user: str, guarded: list[str], now: datetime
) -> dict[str, Any]:
    document = mf.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    row = request_approval(session, user, APPROVAL_KIND, {"document": document, "key_paths": guarded},
                           "controller", summary=f"master data change: {', '.join(guarded[:5])}",
                           target="master-data", now=now)
    log.info("master data change by %s waits for approval %s: %s", user, row.id, guarded)
    return {"id": row.id, "status": row.status, "key_paths": guarded, "required_role": "controller"}


def _is_guarded(section: str, old: dict[str, Any], new: dict[str, Any]) -> bool:
    if section == "work_centers":  # operational thresholds move no cost: not guarded
        def costed(record: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in record.items() if k != "thresholds"}

        return costed(old) != costed(new)
    if section in GUARDED_SECTIONS:
        return True
    return section == "items" and old.get("standard_cost") != new.get("standard_cost")


def _moves_posted_periods(session: Session, old: dict[str, Any], new: dict[str, Any]) -> bool:
    """An entity's time zone changes and the entity already has journal entries."""
    if old.get("timezone", "UTC") == new.get("timezone", "UTC"):
        return False
    posted = session.scalar(select(JournalEntryRow.id).where(JournalEntryRow.entity == new["id"]).limit(1))
    return posted is not None


def _merge_periods(session: Session, mf: MasterFile, summary: LoadSummary) -> list[dict[str, Any]]:
    existing = {p["id"]: p for p in _period_records(session)}
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
    session: Session,
    changes: list[tuple[str, str, dict[str, Any], bool]],
    mf: MasterFile,
    master: MasterData,
    user: str,
    now: datetime,
) -> None:
    for section, key, record, created in changes:
        row = None if created else session.get(MasterRecordRow, (section, key))
        if row is None:
            session.add(MasterRecordRow(section=section, key=key, data=record, version=0, updated=now, updated_by=user))
        else:
            row.data, row.version, row.updated, row.updated_by = record, 0, now, user
    for p in mf.periods:
        period = session.get(PeriodRow, p.id)
        if period is None:
            session.add(PeriodRow(id=p.id, entity=p.entity, start=p.start, end=p.end, status="open"))
        else:
            period.start, period.end, period.entity = p.start, p.end, p.entity
    plants = {wc.id: wc.plant for wc in master.work_centers}
    for m in mf.machines:
        _upsert_machine(session, m.id, plants[m.work_center], m.edge, m.work_center, m.max_event_qty)
        if m.edge is not None and session.get(EdgeRow, m.edge) is None:
            session.add(EdgeRow(id=m.edge, plant=plants[m.work_center], registered=now))
            session.flush()


def _upsert_machine(session: Session, machine: str, plant: str, edge: str | None, work_center: str,
                    max_event_qty: int | None = None) -> None:
    row = session.get(MachineRow, machine)
    if row is None:
        session.add(MachineRow(id=machine, plant=plant, edge=edge, work_center=work_center,
                               max_event_qty=max_event_qty))
    else:
        row.plant, row.edge, row.work_center, row.max_event_qty = plant, edge, work_center, max_event_qty


def current_version(session: Session) -> int:
    return int(session.scalar(select(func.max(MasterVersionRow.id))) or 0)


def _dec(value: Any) -> Decimal:
    return Decimal(str(value))


def _opt_dec(value: Any) -> Decimal | None:
    return None if value is None else _dec(value)


def to_domain(records: dict[str, list[dict[str, Any]]], periods: list[dict[str, Any]]) -> MasterData:
    """Domain master data from stored (JSON) records."""
    r = records
    return MasterData(
        entities=tuple(Entity(e["id"], e.get("name", ""), e.get("currency", "EUR"), e.get("timezone", "UTC"))
                       for e in r.get("entities", [])),
        plants=tuple(Plant(p["id"], p["entity"]) for p in r.get("plants", [])),
        accounts=tuple(Account(a["code"], a["name"], a["role"], a.get("entity"), a.get("item"), a.get("work_center"))
                       for a in r.get("accounts", [])),
        items=tuple(Item(i["id"], ItemClass(i["class"]), i.get("unit", "pcs"), _opt_dec(i.get("standard_cost")),
                         IssueMethod(i.get("issue", "manual"))) for i in r.get("items", [])),
        boms=tuple(Bom(b["item"], tuple(BomLine(c["item"], _dec(c["qty"])) for c in b["components"]))
                   for b in r.get("boms", [])),
        work_centers=tuple(WorkCentre(w["id"], w["plant"], _dec(w["labor_rate"]), _dec(w["voh_rate"]),
                                      _dec(w["foh_budget"]), _dec(w["normal_hours"]))
                           for w in r.get("work_centers", [])),
        routings=tuple(Routing(x["item"], x["work_center"], _dec(x["labor_hours"]), _dec(x["machine_hours"]),
                               _dec(x.get("normal_spoilage", "0")), _opt_dec(x.get("ideal_cycle_time")))
                       for x in r.get("routings", [])),
        machines=tuple(Machine(m["id"], m["work_center"], m.get("edge"), m.get("max_event_qty"))
                       for m in r.get("machines", [])),
        downtime_reasons=tuple(DowntimeReason(d["code"], DowntimeCategory(d.get("category", "other")),
                                              bool(d.get("planned", False))) for d in r.get("downtime_reasons", [])),
        scrap_reasons=tuple(ScrapReason(s["code"]) for s in r.get("scrap_reasons", [])),
        periods=tuple(Period(p["id"], date.fromisoformat(p["start"]), date.fromisoformat(p["end"]),
                             PeriodStatus(p.get("status", "open"))) for p in periods),
    )


@dataclass(frozen=True)
class Snapshot:
    """The master data of one version, with what postings need, built once per version."""

    version: int
    master: MasterData
    rules: PostingRuleSet
    records: dict[str, list[dict[str, Any]]]
    contexts: dict[str | None, PostingContext] = field(default_factory=dict)

    def context(self, entity: str | None) -> PostingContext:
        ctx = self.contexts.get(entity)
        if ctx is None:
            ctx = PostingContext.build(self.master, entity, self.rules)
            self.contexts[entity] = ctx
        return ctx

    def entity_of_machine(self, machine: str) -> str | None:
        m = self.master.machines_by_id.get(machine)
        return None if m is None else self.master.entity_of_work_center(m.work_center)

    def entity(self, entity_id: str | None) -> Entity:
        for e in self.master.entities:
            if e.id == entity_id:
                return e
        return Entity(entity_id or "", timezone="UTC")

    def period_rule(self, entity_id: str | None) -> str:
        for e in self.records.get("entities", []):
            if e["id"] == entity_id:
                return str(e.get("period_rule", "none"))
        return "none"


_cache: dict[tuple[str, int], Snapshot] = {}
_cache_lock = threading.Lock()


def snapshot(session: Session) -> Snapshot:
    """The current master data (periods excluded: read them from ``PeriodRow``), cached per version."""
    version = current_version(session)
    bind = session.get_bind()
    key = (f"{id(bind.engine.pool)}:{bind.engine.url}", version)
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    records: dict[str, list[dict[str, Any]]] = {s: [] for s in SECTIONS}
    for row in session.scalars(select(MasterRecordRow).order_by(MasterRecordRow.section, MasterRecordRow.key)):
        records.setdefault(row.section, []).append(row.data)
    master = to_domain(records, [])
    rules = PostingRuleSet.from_data(version, records["posting_rules"]) if records["posting_rules"] else DEFAULT_RULES
    snap = Snapshot(version, master, rules, records)
    with _cache_lock:
        if len(_cache) > 64:
            _cache.clear()
        _cache[key] = snap
    return snap


def period_status(status: str) -> PeriodStatus:
    return PeriodStatus(status)
