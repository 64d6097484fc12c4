"""Work order close and period close: properties and refusals beyond the two scenarios."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.domain import Book, header, worked_example_master

from central.domain.accruals import OrderAccruals
from central.domain.errors import InputError, OrderStateError
from central.domain.ledger import balance
from central.domain.master_data import Bom, BomLine, DowntimeCategory, IssueMethod, Item, ItemClass, WorkCentre
from central.domain.money import ZERO, to_cents
from central.domain.operations_reports import OrderOutput, ScrapRecord, cost_of_quality, oee
from central.domain.order_close import OrderFacts, adjust_closed_order, close_work_order, efficiency_to_date
from central.domain.period_close import (
    UNEXPLAINED,
    CentreFacts,
    DowntimeLabour,
    close_period_for_centre,
    control_balances,
)
from central.domain.postings import PostingContext, post_labor_booking, post_material_issue, post_production
from central.domain.roles import Role
from central.domain.time_accounting import MachineTime

D = Decimal


def uneven_ctx() -> PostingContext:
    master = worked_example_master()
    return PostingContext.build(
        replace(
            master,
            items=(*master.items, Item("W", ItemClass.RAW, "pcs", D("0.033333"), IssueMethod.BACKFLUSH)),
            boms=(Bom("BR-100", (BomLine("S", D("1.37")), BomLine("F", D("4")), BomLine("W", D("3")))),),
            work_centers=(WorkCentre("WC-PRESS", "P1", D("25.10"), D("15.07"), D("1000.00"), D("30")),),
        )
    )


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 40), st.integers(0, 3)), min_size=1, max_size=30),
    st.lists(st.tuples(st.sampled_from(["S", "F", "W"]), st.decimals(-5, 60, places=3)), max_size=6),
    st.decimals(0, 40, places=4),
)
def test_close_leaves_wip_at_zero_and_variances_explain_it(
    batches: list[tuple[int, int]], issues: list[tuple[str, Decimal]], run_hours: Decimal
) -> None:
    ctx = uneven_ctx()
    book = Book()
    acc = OrderAccruals("WO-1", "BR-100")
    for item, qty in issues:
        if qty != 0:
            acc = book.apply(post_material_issue(ctx, header(), acc, item, qty))
    for good, scrap in batches:
        acc = book.apply(post_production(ctx, header(), acc, D(good), D(scrap)))
    wip_before = book.balance(Role.WIP)
    closed = book.apply(close_work_order(ctx, header("close"), OrderFacts(acc, run_hours)))
    assert book.balance(Role.WIP) == 0 and closed.wip_balance == 0 and closed.closed
    usage = book.balance(Role.MATERIAL_USAGE_VARIANCE)
    spoilage = book.balance(Role.ABNORMAL_SPOILAGE)
    rounding = book.balance(Role.ROUNDING)
    assert usage + spoilage + rounding == wip_before
    card = ctx.card("BR-100")
    assert spoilage == to_cents((acc.scrap_qty - D("0.03") * acc.good_qty) * card.per_unit_processed)
    assert book.balance(Role.LABOR_EFFICIENCY_VARIANCE) == to_cents(
        (run_hours - acc.processed_qty * D("0.04")) * D("25.10")
    )
    # rounding is cents from 6-place unit costs, never a posting error
    assert abs(rounding) <= D("0.01") * (len(card.materials) + 4) + acc.good_qty * D("0.0000005")


def test_spoilage_below_allowance_is_favourable_and_cost_of_quality_is_never_negative() -> None:
    ctx = PostingContext.build(worked_example_master())
    book = Book()
    acc = book.apply(post_production(ctx, header(), OrderAccruals("WO-1", "BR-100"), D(1000), D(10)))
    book.apply(close_work_order(ctx, header(), OrderFacts(acc, D("40.4"))))
    assert book.balance(Role.ABNORMAL_SPOILAGE) == D("-200.00")  # (10 - 30) x 10.00
    coq = cost_of_quality(
        ctx, [ScrapRecord("WO-1", "PRESS-2", "BURR", D(10))], [OrderOutput("WO-1", "BR-100", D(1000))]
    )
    assert (coq.total, coq.normal, coq.abnormal) == (D("100.00"), D("100.00"), D(0))


def test_usage_counts_backflush_and_items_outside_the_bom() -> None:
    ctx = uneven_ctx()
    book = Book()
    acc = OrderAccruals("WO-1", "BR-100")
    acc = book.apply(post_material_issue(ctx, header(), acc, "W", D(7)))  # manual issue of a backflushed part
    acc = book.apply(post_production(ctx, header(), acc, D(100), D(0)))
    book.apply(close_work_order(ctx, header(), OrderFacts(acc, D(4))))
    usage = {
        line.tags.item: line.amount
        for e in book.entries
        for line in e.lines
        if line.role is Role.MATERIAL_USAGE_VARIANCE
    }
    # S and F never issued: all of SQ is favourable; W: 7 more than backflush consumed
    assert usage == {"S": D("-548.00"), "F": D("-100.00"), "W": D("0.23")}


def test_close_refusals() -> None:
    ctx = PostingContext.build(worked_example_master())
    acc = post_production(ctx, header(), OrderAccruals("WO-1", "BR-100"), D(10), D(0)).accruals
    with pytest.raises(OrderStateError):
        adjust_closed_order(ctx, header(), OrderFacts(acc, D(1)))
    with pytest.raises(InputError, match="differ"):
        close_work_order(ctx, header(), OrderFacts(acc, D(1), good=D(9)))
    closed = close_work_order(ctx, header(), OrderFacts(acc, D(1))).accruals
    with pytest.raises(OrderStateError):
        close_work_order(ctx, header(), OrderFacts(closed, D(1)))
    with pytest.raises(OrderStateError):
        efficiency_to_date(ctx, header(), OrderFacts(closed, D(1)))
    # a second adjustment with nothing new posts nothing
    assert adjust_closed_order(ctx, header(), OrderFacts(closed, D(1))).entries == ()


def _centre(**changes: object) -> CentreFacts:
    base = CentreFacts(
        work_center="WC-PRESS",
        paid_hours=D(42),
        booked_amount=D("1050.00"),
        actual_voh=D(0),
        actual_foh=D(0),
        run_machine_hours=D(0),
        run_labor_hours=D(0),
        standard_machine_hours=D(0),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_paid_hours_beyond_downtime_are_unexplained_and_controls_close() -> None:
    ctx = PostingContext.build(worked_example_master())
    book = Book()
    book.add(post_labor_booking(ctx, header(), "WC-PRESS", D("1050.00")))
    facts = _centre(
        downtime=(DowntimeLabour("EQ_FAIL", DowntimeCategory.EQUIPMENT, D(2)),),
        control_balances=control_balances(book.entries, "WC-PRESS"),
    )
    closed = close_period_for_centre(ctx, header(), facts)
    book.extend(closed.entries)
    idle = {
        line.tags.reason: line.amount
        for e in closed.entries
        for line in e.lines
        if line.role is Role.LABOR_IDLE_VARIANCE
    }
    assert idle == {"EQ_FAIL": D("50.00"), UNEXPLAINED: D("1000.00")}
    assert balance(book.entries, Role.LABOR_CONTROL) == 0
    # FOH: no actual, no production: budget -1,400 and volume +1,400 cancel on the control
    assert balance(book.entries, Role.FOH_BUDGET_VARIANCE) == D("-1400.00")
    assert balance(book.entries, Role.FOH_VOLUME_VARIANCE) == D("1400.00")
    assert all(v == ZERO for v in closed.residues.values())


def test_period_close_refusals() -> None:
    ctx = PostingContext.build(worked_example_master())
    with pytest.raises(InputError, match="unknown work centre"):
        close_period_for_centre(ctx, header(), _centre(work_center="WC-NOPE"))
    other = replace(
        worked_example_master(),
        work_centers=(*worked_example_master().work_centers, WorkCentre("WC-2", "P1", D(1), D(1), D(1), D(1))),
    )
    ctx2 = PostingContext.build(other)
    acc = OrderAccruals("WO-1", "BR-100")
    with pytest.raises(InputError, match="does not run"):
        close_period_for_centre(ctx2, header(), _centre(work_center="WC-2", open_orders=(OrderFacts(acc, D(1)),)))


def test_oee_with_no_run_time_is_zero_not_an_error() -> None:
    result = oee(MachineTime(D(8), D(0), D(8), D(0)), D(0), D(0), D(0))
    assert result.rounded() == {"availability": 0, "performance": 0, "quality": 0, "oee": 0}
