"""Journal entries for each input of ACCOUNTING.md, "What each input posts".

Pure functions: master data, the accruals of the order and the input in; journal entries (and
the new accruals) out. Per-order amounts follow the cumulative rule: each element posts
``round(cumulative-to-date amount) - already posted``, so batches of 1, 7 or 500 events give
the same ledger to the cent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
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
from central.domain.costing import (
    Element,
    MaterialCost,
    StandardCost,
    missing_routing_error,
    missing_routings,
    roll_up,
)
from central.domain.errors import InputError, OrderStateError
from central.domain.ledger import EntryBuilder, EntryHeader, JournalEntry, Tags
from central.domain.master_data import IssueMethod, Item, MasterData
from central.domain.money import ZERO, to_cents
from central.domain.posting_rules import (
    DEFAULT_RULES,
    Chart,
    PostingKind,
    PostingRule,
    PostingRuleSet,
    chart_for_entity,
)


class OverheadKind(StrEnum):
    VARIABLE = "variable"
    FIXED = "fixed"


@dataclass(frozen=True)
class ProductionPlan:
    """What posting production of one item needs, looked up once per context: its cost card
    and good-unit cost, its backflushed components with their element keys and rules, and the
    rules of conversion applied and finished goods. Derived from the context's own (immutable)
    master data and rules only, so it is as fresh as the context."""

    card: StandardCost
    good_unit: Decimal
    backflush: tuple[tuple[MaterialCost, str, PostingRule], ...]
    conversion: tuple[tuple[str, PostingRule], ...]
    finished_goods: PostingRule


@dataclass(frozen=True)
class PostingContext:
    """Everything a posting needs besides its input: master data, cost cards, rules, chart.

    Immutable; one is built per master-data version and entity. ``plans`` memoises
    :meth:`production_plan` per item, which depends on nothing but the fields above."""

    master: MasterData
    costs: Mapping[str, StandardCost]
    rules: PostingRuleSet
    chart: Chart
    plans: dict[str, ProductionPlan] = field(default_factory=dict, compare=False, repr=False)

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

    def stamped(self, header: EntryHeader, kind: str) -> EntryHeader:
        """``header`` for an entry of ``kind`` of this context's entity and rule version."""
        return header.stamped(kind, self.chart.entity, self.rules.version)

    def builder(self, header: EntryHeader, kind: str, tags: Tags) -> EntryBuilder:
        return EntryBuilder(self.stamped(header, kind), tags=tags, resolver=self.chart.code)

    def production_plan(self, item_id: str) -> ProductionPlan:
        """The :class:`ProductionPlan` of a manufactured item (refused as :meth:`card` refuses)."""
        plan = self.plans.get(item_id)
        if plan is None:
            card = self.card(item_id)
            backflush = tuple(
                (material, element(BACKFLUSH, material.item),
                 self.rules.rule(PostingKind.BACKFLUSH, self.item(material.item).item_class))
                for material in card.materials
                if self.item(material.item).issue is IssueMethod.BACKFLUSH
            )
            conversion = tuple((key, self.rules.rule(kind)) for key, kind in _CONVERSION_KINDS.items())
            plan = ProductionPlan(card, card.good_unit, backflush, conversion,
                                  self.rules.rule(PostingKind.FINISHED_GOODS))
            self.plans[item_id] = plan
        return plan

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
    Master-data lookups come from the item's :class:`ProductionPlan` (once per context), so a
    batch that touches many orders pays for them once.
    """
    good_qty, scrap_qty = accruals.good_qty + good, accruals.scrap_qty + scrap
    if good_qty < 0 or scrap_qty < 0:
        raise OrderStateError(f"{accruals.work_order}: cumulative quantities cannot go below zero")
    plan = ctx.production_plan(accruals.item)
    processed = good_qty + scrap_qty
    base = replace(tags or Tags(), work_order=accruals.work_order)
    targets: dict[str, Decimal] = {}
    backflush = _backflush(ctx, header, plan, processed, accruals, base, targets)
    conversion = _conversion(ctx, header, plan, processed, accruals, base, targets)
    targets[FINISHED_GOODS] = to_cents(good_qty * plan.good_unit)
    finished = _entry(ctx, ctx.stamped(header, PostingKind.FINISHED_GOODS), replace(base, item=plan.card.item),
                      plan.finished_goods, targets[FINISHED_GOODS] - accruals.amount(FINISHED_GOODS))
    return Posted(_entries(backflush, conversion, finished), accruals.with_production(good_qty, scrap_qty, targets))


def _backflush(
    ctx: PostingContext,
    header: EntryHeader,
    plan: ProductionPlan,
    processed: Decimal,
    accruals: OrderAccruals,
    tags: Tags,
    targets: dict[str, Decimal],
) -> JournalEntry | None:
    if not plan.backflush:
        return None
    builder = ctx.builder(header, PostingKind.BACKFLUSH, tags)
    for material, key, rule in plan.backflush:
        targets[key] = to_cents(processed * material.qty * material.unit_cost)
        delta = targets[key] - accruals.amount(key)
        builder.pair(rule.debit, rule.credit, delta, replace(tags, item=material.item))
    return builder.build()


_LABOR_KEY = element(CONVERSION, Element.LABOR)
_VOH_KEY = element(CONVERSION, Element.VOH)
_FOH_KEY = element(CONVERSION, Element.FOH)


def conversion_targets(card: StandardCost, processed: Decimal) -> dict[str, Decimal]:
    """Cumulative conversion applied for ``processed`` units: standard hours x rates, in cents."""
    labor_hours = processed * card.labor_hours
    machine_hours = processed * card.machine_hours
    return {
        _LABOR_KEY: to_cents(labor_hours * card.labor_rate),
        _VOH_KEY: to_cents(machine_hours * card.voh_rate),
        _FOH_KEY: to_cents(machine_hours * card.foh_rate),
    }


_CONVERSION_KINDS = {
    _LABOR_KEY: PostingKind.CONVERSION_LABOR,
    _VOH_KEY: PostingKind.CONVERSION_VOH,
    _FOH_KEY: PostingKind.CONVERSION_FOH,
}


def _conversion(
    ctx: PostingContext,
    header: EntryHeader,
    plan: ProductionPlan,
    processed: Decimal,
    accruals: OrderAccruals,
    tags: Tags,
    targets: dict[str, Decimal],
) -> JournalEntry | None:
    card = plan.card
    line_tags = replace(tags, work_center=card.work_center, item=card.item)
    builder = ctx.builder(header, "conversion_applied", line_tags)
    amounts = conversion_targets(card, processed)
    for key, rule in plan.conversion:
        targets[key] = amounts[key]
        builder.pair(rule.debit, rule.credit, amounts[key] - accruals.amount(key))
    return builder.build()


def _entry(
    ctx: PostingContext, header: EntryHeader, tags: Tags, rule: PostingRule, amount: Decimal
) -> JournalEntry | None:
    builder = EntryBuilder(header, tags=tags, resolver=ctx.chart.code)
    builder.pair(rule.debit, rule.credit, amount)
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
