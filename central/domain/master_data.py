"""Master data value types: what drives costing and posting (ACCOUNTING.md, "Master data").

Plain frozen dataclasses over :class:`~decimal.Decimal`; the service layer builds them from the
database or the master-data file and hands a :class:`MasterData` set to the domain.
:func:`central.domain.master_data_validation.validate_master_data` checks a whole set at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from enum import StrEnum
from functools import cached_property
from typing import TypeVar

from central.domain.money import ONE, ZERO, divide, to_unit


class ItemClass(StrEnum):
    RAW = "raw"
    SEMI = "semi"
    FINISHED = "finished"


class IssueMethod(StrEnum):
    MANUAL = "manual"
    BACKFLUSH = "backflush"


class DowntimeCategory(StrEnum):
    EQUIPMENT = "equipment"
    MATERIAL = "material"
    QUALITY = "quality"
    CHANGEOVER = "changeover"
    OPERATOR = "operator"
    OTHER = "other"


class PeriodStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class Entity:
    id: str
    name: str = ""
    currency: str = "EUR"
    timezone: str = "UTC"


@dataclass(frozen=True)
class Plant:
    id: str
    entity: str


@dataclass(frozen=True)
class Account:
    """An account; ``item`` or ``work_center`` set means a split of the role for that key."""

    code: str
    name: str
    role: str
    entity: str | None = None
    item: str | None = None
    work_center: str | None = None


@dataclass(frozen=True)
class Item:
    id: str
    item_class: ItemClass
    unit: str = "pcs"
    standard_cost: Decimal | None = None
    issue: IssueMethod = IssueMethod.MANUAL

    @property
    def manufactured(self) -> bool:
        return self.item_class is not ItemClass.RAW


@dataclass(frozen=True)
class BomLine:
    item: str
    qty: Decimal


@dataclass(frozen=True)
class Bom:
    """Components per unit *processed* (good or scrapped) of ``item``."""

    item: str
    components: tuple[BomLine, ...]


@dataclass(frozen=True)
class Routing:
    """The one routing step of an item (v1). Hours are per unit processed."""

    item: str
    work_center: str
    labor_hours: Decimal
    machine_hours: Decimal
    normal_spoilage: Decimal = ZERO
    ideal_cycle_time: Decimal | None = None

    @property
    def ideal_cycle_hours(self) -> Decimal:
        """Ideal hours per unit for OEE performance; defaults to the machine hours per unit."""
        return self.machine_hours if self.ideal_cycle_time is None else self.ideal_cycle_time

    @property
    def crew_ratio(self) -> Decimal:
        """Labour hours per machine hour (1 when one operator runs one machine)."""
        if self.machine_hours == 0:
            return ONE
        return divide(self.labor_hours, self.machine_hours)


@dataclass(frozen=True)
class WorkCentre:
    id: str
    plant: str
    labor_rate: Decimal
    voh_rate: Decimal
    foh_budget: Decimal
    normal_hours: Decimal

    @property
    def foh_rate(self) -> Decimal:
        """FOH per machine hour = budget / normal capacity, at six places."""
        return to_unit(divide(self.foh_budget, self.normal_hours))


@dataclass(frozen=True)
class Machine:
    id: str
    work_center: str
    edge: str | None = None
    #: central's bound on one event's qty (None: the ingest default, 1,000,000)
    max_event_qty: int | None = None


@dataclass(frozen=True)
class DowntimeReason:
    code: str
    category: DowntimeCategory = DowntimeCategory.OTHER
    planned: bool = False


@dataclass(frozen=True)
class ScrapReason:
    code: str


@dataclass(frozen=True)
class Period:
    """An accounting period; ``end`` is the last day, inclusive."""

    id: str
    start: date
    end: date
    status: PeriodStatus = PeriodStatus.OPEN

    @property
    def is_open(self) -> bool:
        return self.status is PeriodStatus.OPEN

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end

    def bounds(self, tz: tzinfo) -> tuple[datetime, datetime]:
        """[start, end) as aware datetimes: midnight of the first day to midnight after the last."""
        begin = datetime.combine(self.start, time(0), tzinfo=tz)
        finish = datetime.combine(self.end + timedelta(days=1), time(0), tzinfo=tz)
        return begin, finish


_V = TypeVar("_V")


def _index(records: Sequence[_V], key: str) -> dict[str, _V]:
    return {getattr(record, key): record for record in records}


@dataclass(frozen=True)
class MasterData:
    """A whole master-data set; lookups by id raise KeyError for unknown ids."""

    entities: tuple[Entity, ...] = ()
    plants: tuple[Plant, ...] = ()
    accounts: tuple[Account, ...] = ()
    items: tuple[Item, ...] = ()
    boms: tuple[Bom, ...] = ()
    work_centers: tuple[WorkCentre, ...] = ()
    routings: tuple[Routing, ...] = ()
    machines: tuple[Machine, ...] = ()
    downtime_reasons: tuple[DowntimeReason, ...] = ()
    scrap_reasons: tuple[ScrapReason, ...] = ()
    periods: tuple[Period, ...] = field(default=())

    @cached_property
    def items_by_id(self) -> Mapping[str, Item]:
        return _index(self.items, "id")

    @cached_property
    def boms_by_item(self) -> Mapping[str, Bom]:
        return _index(self.boms, "item")

    @cached_property
    def routings_by_item(self) -> Mapping[str, Routing]:
        return _index(self.routings, "item")

    @cached_property
    def work_centers_by_id(self) -> Mapping[str, WorkCentre]:
        return _index(self.work_centers, "id")

    @cached_property
    def machines_by_id(self) -> Mapping[str, Machine]:
        return _index(self.machines, "id")

    @cached_property
    def downtime_reasons_by_code(self) -> Mapping[str, DowntimeReason]:
        return _index(self.downtime_reasons, "code")

    def item(self, item_id: str) -> Item:
        return self.items_by_id[item_id]

    def bom(self, item_id: str) -> Bom:
        """The item's BOM; an item without one has no components."""
        return self.boms_by_item.get(item_id, Bom(item_id, ()))

    def routing(self, item_id: str) -> Routing:
        return self.routings_by_item[item_id]

    def work_center(self, work_center_id: str) -> WorkCentre:
        return self.work_centers_by_id[work_center_id]

    def machine(self, machine_id: str) -> Machine:
        return self.machines_by_id[machine_id]

    def entity_of_work_center(self, work_center_id: str) -> str:
        plant = self.work_center(work_center_id).plant
        return next(p.entity for p in self.plants if p.id == plant)

    def sorted_periods(self) -> tuple[Period, ...]:
        return tuple(sorted(self.periods, key=lambda p: p.start))
