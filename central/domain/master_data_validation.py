"""Validation of a whole master-data set: every problem at once, each with its key path.

In the style of beancount's validation: a list of :class:`ValidationError` rather than an
exception on the first problem, so a person fixing a file sees everything wrong with it.

Magnitudes and places are checked here too (:data:`MAX_PRICE` and friends), on the merged set:
the file reader refuses them on the way in, and a value stored before these bounds existed is
named at the next load instead of breaking a posting.
"""

from __future__ import annotations

import zoneinfo
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from functools import cache
from itertools import pairwise

from central.domain.bounds import INT64_MAX
from central.domain.errors import MasterDataError, ValidationError
from central.domain.master_data import ItemClass, MasterData
from central.domain.money import MONEY_PLACES, QUANTITY_PLACES, UNIT_PLACES, significant_places
from central.domain.roles import Role, parse_role

Errors = Iterator[ValidationError]

MAX_PRICE = Decimal(10) ** 9
"""Standard costs, labour and overhead rates: below 1,000,000,000 per unit or hour."""
MAX_MONEY = Decimal(10) ** 12
"""Money amounts of master data (a work centre's FOH budget): below 10**12."""
MAX_PER_UNIT = Decimal(10) ** 6
"""Quantities and hours per unit processed (BOM quantities, routing hours, cycle time)."""
MAX_HOURS = Decimal(10) ** 6
"""A work centre's normal hours (capacity per period) and threshold minutes."""

_HOST_ZONES = frozenset({"localtime", "posixrules"})
"""Keys some zone databases hold that name the host's own setting, not a place."""


@cache
def _zone_keys() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) - _HOST_ZONES


def is_zone_key(name: str) -> bool:
    """True for a key of the zone database (``Europe/Berlin``, ``UTC``).

    ``zoneinfo.ZoneInfo`` fails only when used and accepts keys such as ``localtime``; checking
    against the list of keys refuses made-up and path-like names (``../../etc/passwd``) at load.
    """
    return name == "UTC" or name in _zone_keys()

MAX_EVENT_QTY_LIMIT = INT64_MAX
"""Largest ``machines[].max_event_qty`` (int64, the column's range)."""


def validate_master_data(
    master: MasterData, *, routing_required: Collection[str] | None = None
) -> list[ValidationError]:
    """Every problem in ``master``: duplicates, dangling references, bad numbers, roles, BOM cycles.

    A manufactured item needs a routing before anything is made or costed with it. Which items
    must already have one here is ``routing_required``: every manufactured item when ``None``
    (a master-data file, a first load), only the named ones otherwise (an engineer creates an
    item through ``POST /items`` and its routing next; work orders and the cost roll-up refuse
    the item until then).
    """
    checks = (
        _duplicates,
        _plants,
        _accounts,
        _items,
        _boms,
        _bom_cycles,
        _work_centers,
        _routings,
        _machines,
        _periods,
        _magnitudes,
        _time_zones,
    )
    errors = [error for check in checks for error in check(master)]
    return errors + list(_missing_routings(master, routing_required))


def ensure_valid(master: MasterData) -> MasterData:
    """``master`` itself, or :class:`MasterDataError` with every problem found."""
    errors = validate_master_data(master)
    if errors:
        raise MasterDataError(errors)
    return master


def _dupes(section: str, keys: Sequence[object]) -> Errors:
    counts = Counter(keys)
    for index, key in enumerate(keys):
        if counts[key] > 1 and keys.index(key) != index:
            yield ValidationError(f"{section}[{index}]", f"duplicate {key!r}")


def _duplicates(m: MasterData) -> Errors:
    yield from _dupes("entities", [e.id for e in m.entities])
    yield from _dupes("plants", [p.id for p in m.plants])
    yield from _dupes("accounts", [(a.entity, a.code) for a in m.accounts])
    yield from _dupes("items", [i.id for i in m.items])
    yield from _dupes("boms", [b.item for b in m.boms])
    yield from _dupes("work_centers", [w.id for w in m.work_centers])
    yield from _dupes("routings", [r.item for r in m.routings])
    yield from _dupes("machines", [x.id for x in m.machines])
    yield from _dupes("downtime_reasons", [d.code for d in m.downtime_reasons])
    yield from _dupes("scrap_reasons", [s.code for s in m.scrap_reasons])
    yield from _dupes("periods", [p.id for p in m.periods])


def _ref(path: str, value: str | None, known: Iterable[str], what: str) -> Errors:
    if value is not None and value not in set(known):
        yield ValidationError(path, f"unknown {what} {value!r}")


def _positive(path: str, value: Decimal, *, allow_zero: bool) -> Errors:
    if value < 0 or (value == 0 and not allow_zero):
        bound = "zero or more" if allow_zero else "more than zero"
        yield ValidationError(path, f"must be {bound}, got {value}")


def _plants(m: MasterData) -> Errors:
    entities = [e.id for e in m.entities]
    for i, plant in enumerate(m.plants):
        yield from _ref(f"plants[{i}].entity", plant.entity, entities, "entity")


def _accounts(m: MasterData) -> Errors:
    entities = [e.id for e in m.entities]
    for i, account in enumerate(m.accounts):
        path = f"accounts[{i}]"
        if parse_role(account.role) is None:
            yield ValidationError(f"{path}.role", f"unknown role {account.role!r}")
        yield from _ref(f"{path}.entity", account.entity, entities, "entity")
        yield from _ref(f"{path}.item", account.item, m.items_by_id, "item")
        yield from _ref(f"{path}.work_center", account.work_center, m.work_centers_by_id, "work centre")
    targets: list[str | None] = [*entities] if entities else [None]
    for entity in targets:
        yield from _chart_roles(m, entity)


def _chart_roles(m: MasterData, entity: str | None) -> Errors:
    """Each role of the default chart needs exactly one unsplit account for the entity."""
    base = [
        a.role
        for a in m.accounts
        if a.entity in (None, entity) and a.item is None and a.work_center is None
    ]
    counts = Counter(base)
    suffix = f" for entity {entity!r}" if entity is not None else ""
    for role in Role:
        if counts[role.value] == 0:
            yield ValidationError("accounts", f"missing role {role.value!r} of the default chart{suffix}")
        elif counts[role.value] > 1:
            yield ValidationError("accounts", f"more than one account for role {role.value!r}{suffix}")


def _items(m: MasterData) -> Errors:
    for i, item in enumerate(m.items):
        path = f"items[{i}]"
        if item.item_class is ItemClass.RAW:
            if item.standard_cost is None:
                yield ValidationError(f"{path}.standard_cost", "a raw item needs a standard cost")
            else:
                yield from _positive(f"{path}.standard_cost", item.standard_cost, allow_zero=True)
        else:
            if item.standard_cost is not None:
                yield ValidationError(
                    f"{path}.standard_cost", "rolled up from BOM and routing for manufactured items"
                )


def _missing_routings(m: MasterData, required: Collection[str] | None) -> Errors:
    for i, item in enumerate(m.items):
        if item.manufactured and item.id not in m.routings_by_item and (required is None or item.id in required):
            yield ValidationError(f"items[{i}]", f"manufactured item {item.id!r} has no routing")


def _boms(m: MasterData) -> Errors:
    for i, bom in enumerate(m.boms):
        path = f"boms[{i}]"
        parent = m.items_by_id.get(bom.item)
        if parent is None:
            yield ValidationError(f"{path}.item", f"unknown item {bom.item!r}")
        elif not parent.manufactured:
            yield ValidationError(f"{path}.item", f"raw item {bom.item!r} cannot have a BOM")
        for j, line in enumerate(bom.components):
            yield from _ref(f"{path}.components[{j}].item", line.item, m.items_by_id, "item")
            yield from _positive(f"{path}.components[{j}].qty", line.qty, allow_zero=False)
        yield from _dupes(f"{path}.components", [c.item for c in bom.components])


def _bom_cycles(m: MasterData) -> Errors:
    graph: Mapping[str, list[str]] = {b.item: [c.item for c in b.components] for b in m.boms}
    index = {b.item: i for i, b in enumerate(m.boms)}
    reported: set[frozenset[str]] = set()
    for start in graph:
        cycle = _find_cycle(graph, start)
        if cycle and frozenset(cycle) not in reported:
            reported.add(frozenset(cycle))
            yield ValidationError(f"boms[{index[start]}]", "BOM cycle: " + " -> ".join(cycle))


def _find_cycle(graph: Mapping[str, list[str]], start: str) -> list[str] | None:
    """A path start -> ... -> start through the BOM graph, or None (iterative DFS)."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for child in graph.get(node, []):
            if child == start:
                return [*path, start]
            if child not in seen:
                seen.add(child)
                stack.append((child, [*path, child]))
    return None


def _work_centers(m: MasterData) -> Errors:
    plants = [p.id for p in m.plants]
    for i, wc in enumerate(m.work_centers):
        path = f"work_centers[{i}]"
        yield from _ref(f"{path}.plant", wc.plant, plants, "plant")
        yield from _positive(f"{path}.labor_rate", wc.labor_rate, allow_zero=True)
        yield from _positive(f"{path}.voh_rate", wc.voh_rate, allow_zero=True)
        yield from _positive(f"{path}.foh_budget", wc.foh_budget, allow_zero=True)
        yield from _positive(f"{path}.normal_hours", wc.normal_hours, allow_zero=False)


def _routings(m: MasterData) -> Errors:
    for i, r in enumerate(m.routings):
        path = f"routings[{i}]"
        item = m.items_by_id.get(r.item)
        if item is None:
            yield ValidationError(f"{path}.item", f"unknown item {r.item!r}")
        elif not item.manufactured:
            yield ValidationError(f"{path}.item", f"raw item {r.item!r} cannot have a routing")
        yield from _ref(f"{path}.work_center", r.work_center, m.work_centers_by_id, "work centre")
        yield from _positive(f"{path}.labor_hours", r.labor_hours, allow_zero=True)
        yield from _positive(f"{path}.machine_hours", r.machine_hours, allow_zero=False)
        if not 0 <= r.normal_spoilage < 1:
            yield ValidationError(f"{path}.normal_spoilage", "must be a fraction in [0, 1)")
        if r.ideal_cycle_time is not None:
            yield from _positive(f"{path}.ideal_cycle_time", r.ideal_cycle_time, allow_zero=False)


def _machines(m: MasterData) -> Errors:
    for i, machine in enumerate(m.machines):
        yield from _ref(
            f"machines[{i}].work_center", machine.work_center, m.work_centers_by_id, "work centre"
        )
        limit = machine.max_event_qty
        if limit is not None and not (isinstance(limit, int) and 1 <= limit <= MAX_EVENT_QTY_LIMIT):
            yield ValidationError(f"machines[{i}].max_event_qty", f"must be an integer from 1 to {MAX_EVENT_QTY_LIMIT}")


def _periods(m: MasterData) -> Errors:
    for i, period in enumerate(m.periods):
        if period.end < period.start:
            yield ValidationError(f"periods[{i}].end", "ends before it starts")
    ordered = sorted(enumerate(m.periods), key=lambda pair: pair[1].start)
    for (_, earlier), (j, later) in pairwise(ordered):
        if later.start <= earlier.end:
            yield ValidationError(f"periods[{j}]", f"overlaps period {earlier.id!r}")


def _bounded(path: str, value: Decimal | None, limit: Decimal, max_places: int) -> Errors:
    if value is None:
        return
    if not value.is_finite() or abs(value) >= limit:
        yield ValidationError(path, f"must be less than {limit:,} in absolute value")
    elif significant_places(value) > max_places:
        yield ValidationError(path, f"has more than {max_places} decimal places")


def _magnitudes(m: MasterData) -> Errors:
    """Every number within its bound and places, so products and stored values stay in range."""
    for i, item in enumerate(m.items):
        yield from _bounded(f"items[{i}].standard_cost", item.standard_cost, MAX_PRICE, UNIT_PLACES)
    for i, bom in enumerate(m.boms):
        for j, line in enumerate(bom.components):
            yield from _bounded(f"boms[{i}].components[{j}].qty", line.qty, MAX_PER_UNIT, QUANTITY_PLACES)
    for i, wc in enumerate(m.work_centers):
        path = f"work_centers[{i}]"
        yield from _bounded(f"{path}.labor_rate", wc.labor_rate, MAX_PRICE, UNIT_PLACES)
        yield from _bounded(f"{path}.voh_rate", wc.voh_rate, MAX_PRICE, UNIT_PLACES)
        yield from _bounded(f"{path}.foh_budget", wc.foh_budget, MAX_MONEY, MONEY_PLACES)
        yield from _bounded(f"{path}.normal_hours", wc.normal_hours, MAX_HOURS, QUANTITY_PLACES)
    for i, r in enumerate(m.routings):
        path = f"routings[{i}]"
        yield from _bounded(f"{path}.labor_hours", r.labor_hours, MAX_PER_UNIT, QUANTITY_PLACES)
        yield from _bounded(f"{path}.machine_hours", r.machine_hours, MAX_PER_UNIT, QUANTITY_PLACES)
        yield from _bounded(f"{path}.normal_spoilage", r.normal_spoilage, MAX_PER_UNIT, QUANTITY_PLACES)
        yield from _bounded(f"{path}.ideal_cycle_time", r.ideal_cycle_time, MAX_PER_UNIT, QUANTITY_PLACES)


def _time_zones(m: MasterData) -> Errors:
    for i, entity in enumerate(m.entities):
        if not is_zone_key(entity.timezone):
            yield ValidationError(f"entities[{i}].timezone", f"unknown time zone {entity.timezone[:64]!r}")
