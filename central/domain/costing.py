"""Standard cost roll-up (ACCOUNTING.md, "Master data that drives costing").

Standard cost per unit processed = materials (BOM qty x standard price, recursively for semi
items, which enter at their good-unit cost) + labour hours x labour rate + machine hours x
(VOH rate + FOH rate). A good unit carries normal spoilage: per unit processed x (1 + normal
spoilage). Every unit cost is kept at six places.

A manufactured item may exist before its routing (an engineer creates the item, then the
routing): the roll-up leaves out every item whose BOM tree holds a manufactured item without a
routing, and asking for such an item's cost is a :class:`MasterDataError` naming the routing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType

from central.domain.errors import MasterDataError, ValidationError
from central.domain.master_data import MasterData
from central.domain.money import ONE, ZERO, to_unit


class Element(StrEnum):
    """Cost elements of a manufactured item."""

    MATERIAL = "material"
    LABOR = "labor"
    VOH = "voh"
    FOH = "foh"


@dataclass(frozen=True)
class MaterialCost:
    """One BOM line costed: qty per unit processed x the component's unit cost."""

    item: str
    qty: Decimal
    unit_cost: Decimal
    amount: Decimal


@dataclass(frozen=True)
class StandardCost:
    """The standard cost card of a manufactured item, per element, per unit processed."""

    item: str
    work_center: str
    materials: tuple[MaterialCost, ...]
    labor_hours: Decimal
    machine_hours: Decimal
    labor_rate: Decimal
    voh_rate: Decimal
    foh_rate: Decimal
    normal_spoilage: Decimal
    crew_ratio: Decimal

    @property
    def material(self) -> Decimal:
        return sum((m.amount for m in self.materials), ZERO)

    @property
    def labor(self) -> Decimal:
        return to_unit(self.labor_hours * self.labor_rate)

    @property
    def voh(self) -> Decimal:
        return to_unit(self.machine_hours * self.voh_rate)

    @property
    def foh(self) -> Decimal:
        return to_unit(self.machine_hours * self.foh_rate)

    @property
    def per_unit_processed(self) -> Decimal:
        """Standard cost of one unit processed, good or scrapped."""
        return self.material + self.labor + self.voh + self.foh

    @property
    def good_unit(self) -> Decimal:
        """What finished goods are valued at: normal spoilage is part of good output."""
        return to_unit(self.per_unit_processed * (ONE + self.normal_spoilage))

    def elements(self) -> Mapping[str, Decimal]:
        """Per-unit-processed breakdown: ``material:<component>``, ``labor``, ``voh``, ``foh``."""
        parts = {f"{Element.MATERIAL}:{m.item}": m.amount for m in self.materials}
        parts |= {Element.LABOR: self.labor, Element.VOH: self.voh, Element.FOH: self.foh}
        return MappingProxyType(parts)

    def component_qty(self, component: str) -> Decimal:
        """BOM quantity of ``component`` per unit processed (zero when not in the BOM)."""
        return sum((m.qty for m in self.materials if m.item == component), ZERO)


def missing_routings(master: MasterData, item_id: str) -> tuple[str, ...]:
    """Manufactured items of ``item_id``'s BOM tree (itself included) that have no routing yet."""
    missing: list[str] = []
    seen: set[str] = set()
    stack = [item_id]
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        item = master.items_by_id.get(current)
        if item is None or not item.manufactured:
            continue
        if current not in master.routings_by_item:
            missing.append(current)
        stack.extend(reversed([line.item for line in master.bom(current).components]))
    return tuple(missing)


def missing_routing_error(item_id: str, missing: tuple[str, ...]) -> MasterDataError:
    """The refusal of a cost (or a work order) that needs routings not created yet."""
    def what(m: str) -> str:
        return "it has no routing" if m == item_id else f"its component {m!r} has no routing"

    return MasterDataError([ValidationError(f"routings.{m}", f"no standard cost for {item_id!r}: {what(m)} "
                                            f"(create it with POST /routings)") for m in missing])


def roll_up(master: MasterData) -> Mapping[str, StandardCost]:
    """Standard cost cards of every manufactured item whose BOM tree has all its routings."""
    cards: dict[str, StandardCost] = {}
    for item in master.items:
        if item.manufactured and not missing_routings(master, item.id):
            _card(master, item.id, cards, ())
    return MappingProxyType(cards)


def standard_cost(master: MasterData, item_id: str) -> StandardCost:
    """Standard cost card of one manufactured item."""
    return _card(master, item_id, {}, ())


def unit_cost(master: MasterData, costs: Mapping[str, StandardCost], item_id: str) -> Decimal:
    """Inventory unit cost: the standard price of a raw item, the good-unit cost otherwise."""
    item = master.item(item_id)
    if item.manufactured:
        return costs[item_id].good_unit if item_id in costs else standard_cost(master, item_id).good_unit
    if item.standard_cost is None:
        raise MasterDataError([ValidationError(f"items.{item_id}", "raw item without standard cost")])
    return item.standard_cost


def _card(
    master: MasterData, item_id: str, cards: dict[str, StandardCost], path: tuple[str, ...]
) -> StandardCost:
    if item_id in cards:
        return cards[item_id]
    if item_id in path:
        cycle = " -> ".join((*path, item_id))
        raise MasterDataError([ValidationError(f"boms.{item_id}", f"BOM cycle: {cycle}")])
    routing = master.routings_by_item.get(item_id)
    if routing is None:
        raise missing_routing_error(item_id, missing_routings(master, item_id) or (item_id,))
    centre = master.work_center(routing.work_center)
    materials = tuple(
        MaterialCost(line.item, line.qty, cost, to_unit(line.qty * cost))
        for line in master.bom(item_id).components
        for cost in [_component_cost(master, line.item, cards, (*path, item_id))]
    )
    card = StandardCost(
        item=item_id,
        work_center=centre.id,
        materials=materials,
        labor_hours=routing.labor_hours,
        machine_hours=routing.machine_hours,
        labor_rate=centre.labor_rate,
        voh_rate=centre.voh_rate,
        foh_rate=centre.foh_rate,
        normal_spoilage=routing.normal_spoilage,
        crew_ratio=routing.crew_ratio,
    )
    cards[item_id] = card
    return card


def _component_cost(
    master: MasterData, item_id: str, cards: dict[str, StandardCost], path: tuple[str, ...]
) -> Decimal:
    item = master.item(item_id)
    if item.manufactured:
        return _card(master, item_id, cards, path).good_unit
    if item.standard_cost is None:
        raise MasterDataError([ValidationError(f"items.{item_id}", "raw item without standard cost")])
    return item.standard_cost
