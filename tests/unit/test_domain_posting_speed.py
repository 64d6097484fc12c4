"""The cheaper posting path (helper H16c, issue 16) gives exactly what the plain one gave.

``EntryBuilder.build`` makes one pass where it made three, ``JournalLine`` checks its sides with
one test before saying which is wrong, and ``post_production`` takes its master-data lookups from
a :class:`ProductionPlan` memoised on the (immutable) context. Each is compared here with the
code it replaced, kept below as the reference, on generated inputs.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal, InvalidOperation

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.domain import header, worked_example_master

from central.domain.accruals import OrderAccruals
from central.domain.errors import OrderStateError, UnbalancedEntryError
from central.domain.ledger import EntryBuilder, JournalEntry, JournalLine, Tags
from central.domain.master_data import (
    Account,
    Bom,
    BomLine,
    IssueMethod,
    Item,
    ItemClass,
    MasterData,
    Routing,
    WorkCentre,
)
from central.domain.money import ZERO, is_cents, to_cents
from central.domain.posting_rules import Chart, PostingKind
from central.domain.postings import Posted, PostingContext, conversion_targets, post_production
from central.domain.roles import DEFAULT_CHART, Role

D = Decimal
ROLES = list(Role)
amounts = st.decimals(min_value=D("-100000"), max_value=D("100000"), places=6, allow_nan=False)


def split_master() -> MasterData:
    """The worked example with an FOH rate that does not divide, a backflushed raw part (W, with
    its own raw-materials account), a backflushed semi item and a second product whose BOM lists
    W twice; WIP split by work centre."""
    master = worked_example_master()
    accounts = tuple(Account(code, role.value, role.value) for role, code in DEFAULT_CHART.items())
    return replace(
        master,
        accounts=(*accounts, Account("1310", "washers", "raw_materials", item="W"),
                  Account("1410", "press WIP", "wip", work_center="WC-PRESS")),
        items=(*master.items, Item("W", ItemClass.RAW, "pcs", D("0.033333"), IssueMethod.BACKFLUSH),
               Item("SEMI", ItemClass.SEMI, "pcs", None, IssueMethod.BACKFLUSH),
               Item("BR-200", ItemClass.FINISHED, "pcs")),
        boms=(Bom("BR-100", (BomLine("S", D("1.5")), BomLine("F", D("4")), BomLine("W", D("3")))),
              Bom("SEMI", (BomLine("S", D("0.25")),)),
              Bom("BR-200", (BomLine("W", D("2")), BomLine("SEMI", D("0.5")), BomLine("W", D("1.25"))))),
        work_centers=(WorkCentre("WC-PRESS", "P1", D("25.10"), D("15.07"), D("1000.00"), D("30")),),
        routings=(*master.routings, Routing("SEMI", "WC-PRESS", D("0.01"), D("0.02"), D("0")),
                  Routing("BR-200", "WC-PRESS", D("0.033"), D("0.041"), D("0.025"))),
    )


tag_choices = st.sampled_from([Tags(), Tags(memo="a"), Tags(item="S"), Tags(work_order="WO-1", refs=("record:1",))])


def reference_build(default: Tags, parts: list[tuple[Role, Decimal, Tags]]) -> JournalEntry | None:
    """``EntryBuilder.build`` as it was before H16c (three passes), for comparison."""
    chart = Chart.default()
    imbalance = sum((amount for _, amount, _ in parts), ZERO)
    if abs(imbalance) > D("1e-12"):
        raise UnbalancedEntryError("amounts do not balance")
    merged: dict[tuple[Role, Tags], Decimal] = {}
    for role, amount, tags in parts:
        if role != Role.ROUNDING:
            merged[(role, tags)] = merged.get((role, tags), ZERO) + amount

    def line(role: Role, amount: Decimal, tags: Tags) -> JournalLine | None:
        if amount == 0:
            return None
        if amount > 0:
            return JournalLine(role, debit=amount, account=chart.code(role, tags), tags=tags)
        return JournalLine(role, credit=-amount, account=chart.code(role, tags), tags=tags)

    kept = [x for x in (line(r, to_cents(a), t) for (r, t), a in merged.items()) if x is not None]
    rounding = line(Role.ROUNDING, -sum((x.amount for x in kept), ZERO), default)
    if rounding is not None:
        kept.append(rounding)
    if not kept:
        return None
    h = header("test")
    return JournalEntry(h.entry_date, h.period, h.kind, tuple(kept))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(ROLES), amounts, tag_choices), min_size=0, max_size=10),
       st.sampled_from(ROLES), tag_choices)
def test_builder_gives_what_the_three_pass_builder_gave(
    parts: list[tuple[Role, Decimal, Tags]], offset_role: Role, offset_tags: Tags
) -> None:
    """Same lines, order, accounts, rounding line and refusals (balanced and unbalanced inputs)."""
    balanced = [*parts, (offset_role, -sum((a for _, a, _ in parts), ZERO), offset_tags)]
    for case in (balanced, parts):
        builder = EntryBuilder(header("test"), tags=Tags(memo="default"), resolver=Chart.default().code)
        for role, amount, tags in case:
            builder.add(role, amount, tags)
        try:
            expected: JournalEntry | type[Exception] | None = reference_build(Tags(memo="default"), case)
        except UnbalancedEntryError:
            expected = UnbalancedEntryError
        if expected is UnbalancedEntryError:
            with pytest.raises(UnbalancedEntryError):
                builder.build()
        else:
            assert builder.build() == expected


sides = st.one_of(
    st.decimals(min_value=D("-1000"), max_value=D("1000"), places=3, allow_nan=False),
    st.sampled_from([D(0), D("0.00"), D("-0"), D("1E+3"), D("12.340"), D("Infinity"), D("-Infinity"), D("1E-30")]),
)


@given(sides, sides)
def test_a_line_is_accepted_exactly_when_the_per_side_rules_accept_it(debit: Decimal, credit: Decimal) -> None:
    """The one-test check of each side accepts and refuses exactly what the per-side loop did."""
    ok = all(v.is_finite() and v >= 0 and is_cents(v) for v in (debit, credit)) and (debit == 0) != (credit == 0)
    if ok:
        line = JournalLine(Role.WIP, debit=debit, credit=credit)
        assert (line.debit, line.credit) == (debit, credit)
    else:
        with pytest.raises(UnbalancedEntryError):
            JournalLine(Role.WIP, debit=debit, credit=credit)


def test_a_nan_side_still_raises_as_before() -> None:
    with pytest.raises(InvalidOperation):
        JournalLine(Role.WIP, debit=D("NaN"))


def test_production_plan_is_the_card_and_rules_of_the_context() -> None:
    ctx = PostingContext.build(split_master())
    plan = ctx.production_plan("BR-100")
    card = ctx.card("BR-100")
    assert plan.card == card and plan.good_unit == card.good_unit
    backflushed = [m for m in card.materials if ctx.item(m.item).issue is IssueMethod.BACKFLUSH]
    assert [m for m, _, _ in plan.backflush] == backflushed == [m for m in card.materials if m.item == "W"]
    assert [key for _, key, _ in plan.backflush] == ["backflush:W"]
    assert [rule for _, _, rule in plan.backflush] == [ctx.rules.rule(PostingKind.BACKFLUSH, ctx.item("W").item_class)]
    kinds = (PostingKind.CONVERSION_LABOR, PostingKind.CONVERSION_VOH, PostingKind.CONVERSION_FOH)
    assert [rule for _, rule in plan.conversion] == [ctx.rules.rule(k) for k in kinds]
    assert plan.finished_goods == ctx.rules.rule(PostingKind.FINISHED_GOODS)
    assert ctx.production_plan("BR-100") is plan  # memoised on the context
    posted = post_production(ctx, header("p"), OrderAccruals("WO-1", "BR-100"), D(10), D(1))
    assert {"1310", "1410"} <= {line.account for entry in posted.entries for line in entry.lines}  # splits used
    assert PostingContext.build(split_master()).plans == {}  # a new context (master version) starts empty


def reference_post_production(
    ctx: PostingContext, accruals: OrderAccruals, good: Decimal, scrap: Decimal, tags: Tags
) -> Posted:
    """``post_production`` as it was before H16c: every lookup per call, through the general
    ``ctx.builder`` / ``ctx.post`` path that the other postings use."""
    grown = replace(accruals, good_qty=accruals.good_qty + good, scrap_qty=accruals.scrap_qty + scrap)
    if grown.good_qty < 0 or grown.scrap_qty < 0:
        raise OrderStateError("below zero")
    card = ctx.card(accruals.item)
    base = replace(tags, work_order=accruals.work_order)
    targets: dict[str, Decimal] = {}
    backflush = ctx.builder(header("p"), PostingKind.BACKFLUSH, base)
    for material in card.materials:
        if ctx.item(material.item).issue is not IssueMethod.BACKFLUSH:
            continue
        key = f"backflush:{material.item}"
        targets[key] = to_cents(grown.processed_qty * material.qty * material.unit_cost)
        ctx.post(backflush, PostingKind.BACKFLUSH, targets[key] - accruals.amount(key),
                 replace(base, item=material.item), material.item)
    conversion = ctx.builder(header("p"), "conversion_applied", replace(base, work_center=card.work_center,
                                                                         item=card.item))
    kinds = (PostingKind.CONVERSION_LABOR, PostingKind.CONVERSION_VOH, PostingKind.CONVERSION_FOH)
    for (key, target), kind in zip(conversion_targets(card, grown.processed_qty).items(), kinds, strict=True):
        targets[key] = target
        ctx.post(conversion, kind, target - accruals.amount(key))
    targets["finished_goods"] = to_cents(grown.good_qty * card.good_unit)
    finished = ctx.builder(header("p"), PostingKind.FINISHED_GOODS, replace(base, item=card.item))
    ctx.post(finished, PostingKind.FINISHED_GOODS, targets["finished_goods"] - accruals.amount("finished_goods"))
    entries = tuple(e for e in (backflush.build(), conversion.build(), finished.build()) if e is not None)
    return Posted(entries, grown.with_posted(targets))


quantities = st.lists(st.tuples(st.integers(-2, 40), st.integers(-1, 3), st.sampled_from([1, 3, 7])),
                      min_size=1, max_size=30)


@settings(max_examples=60, deadline=None)
@given(quantities, st.sampled_from(["BR-100", "BR-200"]))
def test_production_posts_what_the_general_path_posted(steps: list[tuple[int, int, int]], item: str) -> None:
    """Same entries (lines, order, accounts, tags), accruals and refusals as the general path, for
    any sequence of batches (fractional and negative quantities included) through one shared
    context (its memoised plans), with a backflushed part and an item-split chart."""
    ctx = PostingContext.build(split_master())
    acc_fast = acc_ref = OrderAccruals("WO-1", item)
    for n, (good, scrap, divisor) in enumerate(steps):
        args = (D(good) / divisor, D(scrap))
        tags = Tags(memo=str(n), refs=(f"record:{n}",))
        try:
            expected = reference_post_production(ctx, acc_ref, *args, tags)
        except OrderStateError:
            with pytest.raises(OrderStateError):
                post_production(ctx, header("p"), acc_fast, *args, tags)
            continue
        posted = post_production(ctx, header("p"), acc_fast, *args, tags)
        assert posted == expected
        acc_fast, acc_ref = posted.accruals, expected.accruals
