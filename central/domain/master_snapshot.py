"""The master data of one version as domain values (:class:`Snapshot`) and the reading of the
stored JSON records into them (:func:`to_domain`). Pure: the cached reader is
:func:`central.adapters.master_snapshot.snapshot`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

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
from central.domain.posting_rules import PostingRuleSet
from central.domain.postings import PostingContext

__all__ = ["SECTIONS", "Snapshot", "to_domain"]

SECTIONS: dict[str, str] = {
    "entities": "id",
    "plants": "id",
    "accounts": "code",
    "items": "id",
    "boms": "item",
    "work_centers": "id",
    "routings": "item",
    "machines": "id",
    "downtime_reasons": "code",
    "scrap_reasons": "code",
    "posting_rules": "",
}
"""The master-data sections and the field each record is keyed by (posting rules: kind and item class)."""


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
