"""Journal entries for each input of ACCOUNTING.md, "What each input posts".

Pure functions: master data, the accruals of the order and the input in; journal entries (and
the new accruals) out. Per-order amounts follow the cumulative rule: each element posts
``round(cumulative-to-date amount) - already posted``, so batches of 1, 7 or 500 events give
the same ledger to the cent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum

from central.domain.accruals import (
    BACKFLUSH,
    CONVERSION,
    FINISHED_GOODS,
    ISSUE,
    OrderAccruals,
    element,
)
from central.domain.costing import Element, StandardCost, missing_routing_error, missing_routings, roll_up
from central.domain.errors import InputError, OrderStateError
from central.domain.ledger import EntryBuilder, EntryHeader, JournalEntry, Tags
from central.domain.master_data import IssueMethod, Item, MasterData
from central.domain.money import ZERO, to_cents
from central.domain.posting_rules import (
    DEFAULT_RULES,
    Chart,
    PostingKind,
    PostingRuleSet,
    chart_for_entity,
)


class OverheadKind(StrEnum):
    VARIABLE = "variable"
    FIXED = "fixed"


@dataclass(frozen=True)
class PostingContext:
    """Everything a posting needs besides its input: master data, cost cards, rules, chart."""

    master: MasterData
    costs: Mapping[str, StandardCost]
    rules: PostingRuleSet
    chart: Chart

    @classmethod
    def build(
        cls,
        master: MasterData,
        entity: str | None = None,
        rules: PostingRuleSet = DEFAULT_RULES,
        chart: Chart | None = None,
    ) -> PostingContext:
        """Roll up standard costs and resolve the entity's chart (the default chart if no accounts)."""
        if chart is None:
            chart = chart_for_entity(master, entity) if master.accounts else Chart.default(entity)
        return cls(master, roll_up(master), rules, chart)

    def item(self, item_id: str) -> Item:
        try:
            return self.master.item(item_id)
        except KeyError:
            raise InputError(f"unknown item {item_id!r}") from None

    def card(self, item_id: str) -> StandardCost:
        """Standard cost card of a manufactured item (refused naming any routing still missing)."""
        try:
            return self.costs[item_id]
        except KeyError:
            missing = missing_routings(self.master, item_id)
            if missing:
                raise missing_routing_error(item_id, missing) from None
            raise InputError(f"no standard cost for {item_id!r} (not a manufactured item?)") from None

    def unit_cost(self, item_id: str) -> Decimal:
        """Standard price of a raw item, good-unit cost of a manufactured one."""
        item = self.item(item_id)
        if item.manufactured:
            return self.card(item_id).good_unit
        if item.standard_cost is None:
            raise InputError(f"raw item {item_id!r} has no standard cost")
        return item.standard_cost

    def builder(self, header: EntryHeader, kind: str, tags: Tags) -> EntryBuilder:
        header = replace(header, kind=kind, entity=self.chart.entity, rule_version=self.rules.version)
        return EntryBuilder(header, tags=tags, resolver=self.chart.code)

    def post(
        self,
        builder: EntryBuilder,
        kind: PostingKind,
        amount: Decimal,
        tags: Tags | None = None,
        item_id: str | None = None,
    ) -> None:
        """Add Dr/Cr of ``kind``'s rule (item-class specific when ``item_id`` is given)."""
        item_class = self.item(item_id).item_class if item_id is not None else None
        rule = self.rules.rule(kind, item_class)
        builder.pair(rule.debit, rule.credit, amount, tags)


@dataclass(frozen=True)
class Posted:
    """Entries to persist and the order's accruals after them."""

    entries: tuple[JournalEntry, ...]
    accruals: OrderAccruals


def _entries(*built: JournalEntry | None) -> tuple[JournalEntry, ...]:
    return tuple(entry for entry in built if entry is not None)


def post_goods_receipt(
    ctx: PostingContext,
    header: EntryHeader,
    item_id: str,
    qty: Decimal,
    unit_price: Decimal,
    tags: Tags | None = None,
) -> JournalEntry:
    """Dr inventory qty x std; Cr accounts_payable qty x actual; the difference is price variance."""
    if qty <= 0:
        raise InputError(f"a goods receipt needs a positive quantity, got {qty}")
    if unit_price < 0:
        raise InputError(f"a unit price cannot be negative, got {unit_price}")
    line_tags = replace(tags or Tags(), item=item_id)
    at_standard = to_cents(qty * ctx.unit_cost(item_id))
    at_actual = to_cents(qty * unit_price)
    builder = ctx.builder(header, PostingKind.GOODS_RECEIPT, line_tags)
    ctx.post(builder, PostingKind.GOODS_RECEIPT, at_standard, item_id=item_id)
    ctx.post(builder, PostingKind.MATERIAL_PRICE_VARIANCE, at_actual - at_standard)
    entry = builder.build()
    if entry is None:
        raise InputError("a goods receipt worth 0.00 posts nothing")
    return entry


def post_material_issue(
    ctx: PostingContext,
    header: EntryHeader,
    accruals: OrderAccruals,
    item_id: str,
    qty: Decimal,
    tags: Tags | None = None,
) -> Posted:
    """Dr wip / Cr inventory at standard for an issue to the order (negative qty = return)."""
    if qty == 0:
        raise InputError("an issue of zero posts nothing")
    issued = accruals.issued.get(item_id, ZERO) + qty
    key = element(ISSUE, item_id)
    target = to_cents(issued * ctx.unit_cost(item_id))
    line_tags = replace(tags or Tags(), work_order=accruals.work_order, item=item_id)
    builder = ctx.builder(header, PostingKind.MATERIAL_ISSUE, line_tags)
    ctx.post(builder, PostingKind.MATERIAL_ISSUE, target - accruals.amount(key), item_id=item_id)
    new = accruals.with_issued(item_id, issued).with_posted({key: target})
    return Posted(_entries(builder.build()), new)


def post_production(
    ctx: PostingContext,
    header: EntryHeader,
    accruals: OrderAccruals,
    good: Decimal,
    scrap: Decimal,
    tags: Tags | None = None,
) -> Posted:
    """Good and scrapped units of the order: backflush, conversion applied, finished goods.

    Scrapped units consume materials (backflush) and conversion like good ones; only good
    units move to finished goods, at the good-unit cost that carries normal spoilage.
    """
    grown = replace(accruals, good_qty=accruals.good_qty + good, scrap_qty=accruals.scrap_qty + scrap)
    if grown.good_qty < 0 or grown.scrap_qty < 0:
        raise OrderStateError(f"{accruals.work_order}: cumulative quantities cannot go below zero")
    card = ctx.card(accruals.item)
    base = replace(tags or Tags(), work_order=accruals.work_order)
    targets: dict[str, Decimal] = {}
    backflush = _backflush(ctx, header, card, grown, base, targets)
    conversion = _conversion(ctx, header, card, grown, base, targets)
    finished = _finished_goods(ctx, header, card, grown, base, targets)
    return Posted(_entries(backflush, conversion, finished), grown.with_posted(targets))


def _backflush(
    ctx: PostingContext,
    header: EntryHeader,
    card: StandardCost,
    accruals: OrderAccruals,
    tags: Tags,
    targets: dict[str, Decimal],
) -> JournalEntry | None:
    builder = ctx.builder(header, PostingKind.BACKFLUSH, tags)
    for material in card.materials:
        if ctx.item(material.item).issue is not IssueMethod.BACKFLUSH:
            continue
        key = element(BACKFLUSH, material.item)
        targets[key] = to_cents(accruals.processed_qty * material.qty * material.unit_cost)
        delta = targets[key] - accruals.amount(key)
        ctx.post(builder, PostingKind.BACKFLUSH, delta, replace(tags, item=material.item), material.item)
    return builder.build()


def conversion_targets(card: StandardCost, processed: Decimal) -> dict[str, Decimal]:
    """Cumulative conversion applied for ``processed`` units: standard hours x rates, in cents."""
    labor_hours = processed * card.labor_hours
    machine_hours = processed * card.machine_hours
    return {
        element(CONVERSION, Element.LABOR): to_cents(labor_hours * card.labor_rate),
        element(CONVERSION, Element.VOH): to_cents(machine_hours * card.voh_rate),
        element(CONVERSION, Element.FOH): to_cents(machine_hours * card.foh_rate),
    }


_CONVERSION_KINDS = {
    element(CONVERSION, Element.LABOR): PostingKind.CONVERSION_LABOR,
    element(CONVERSION, Element.VOH): PostingKind.CONVERSION_VOH,
    element(CONVERSION, Element.FOH): PostingKind.CONVERSION_FOH,
}


def _conversion(
    ctx: PostingContext,
    header: EntryHeader,
    card: StandardCost,
    accruals: OrderAccruals,
    tags: Tags,
    targets: dict[str, Decimal],
) -> JournalEntry | None:
    line_tags = replace(tags, work_center=card.work_center, item=card.item)
    builder = ctx.builder(header, "conversion_applied", line_tags)
    for key, target in conversion_targets(card, accruals.processed_qty).items():
        targets[key] = target
        ctx.post(builder, _CONVERSION_KINDS[key], target - accruals.amount(key))
    return builder.build()


def _finished_goods(
    ctx: PostingContext,
    header: EntryHeader,
    card: StandardCost,
    accruals: OrderAccruals,
    tags: Tags,
    targets: dict[str, Decimal],
) -> JournalEntry | None:
    targets[FINISHED_GOODS] = to_cents(accruals.good_qty * card.good_unit)
    builder = ctx.builder(header, PostingKind.FINISHED_GOODS, replace(tags, item=card.item))
    ctx.post(builder, PostingKind.FINISHED_GOODS, targets[FINISHED_GOODS] - accruals.amount(FINISHED_GOODS))
    return builder.build()


def post_labor_booking(
    ctx: PostingContext,
    header: EntryHeader,
    work_center: str,
    amount: Decimal,
    tags: Tags | None = None,
) -> JournalEntry:
    """Dr labor_control / Cr wages_payable for paid labour booked to a work centre."""
    return _simple(ctx, header, PostingKind.LABOR_BOOKING, work_center, amount, tags)


def post_overhead_actual(
    ctx: PostingContext,
    header: EntryHeader,
    work_center: str,
    kind: OverheadKind,
    amount: Decimal,
    tags: Tags | None = None,
) -> JournalEntry:
    """Dr voh_control or foh_control / Cr overhead_payable for actual overhead."""
    posting = PostingKind.OVERHEAD_VARIABLE if kind is OverheadKind.VARIABLE else PostingKind.OVERHEAD_FIXED
    return _simple(ctx, header, posting, work_center, amount, tags)


def _simple(
    ctx: PostingContext,
    header: EntryHeader,
    kind: PostingKind,
    work_center: str,
    amount: Decimal,
    tags: Tags | None,
) -> JournalEntry:
    if work_center not in ctx.master.work_centers_by_id:
        raise InputError(f"unknown work centre {work_center!r}")
    builder = ctx.builder(header, kind, replace(tags or Tags(), work_center=work_center))
    ctx.post(builder, kind, amount)
    entry = builder.build()
    if entry is None:
        raise InputError(f"{kind}: an amount of 0.00 posts nothing")
    return entry
