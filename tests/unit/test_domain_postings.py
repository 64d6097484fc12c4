"""Postings of each input, and the cumulative rule: batching never changes the ledger."""

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
from central.domain.master_data import Bom, BomLine, IssueMethod, Item, ItemClass, MasterData, WorkCentre
from central.domain.money import to_cents
from central.domain.postings import (
    OverheadKind,
    PostingContext,
    post_goods_receipt,
    post_labor_booking,
    post_material_issue,
    post_overhead_actual,
    post_production,
)
from central.domain.roles import Role

D = Decimal


def uneven_master() -> MasterData:
    """The worked example with an FOH rate that does not divide (1000 / 30) and a backflushed part."""
    master = worked_example_master()
    return replace(
        master,
        items=(*master.items, Item("W", ItemClass.RAW, "pcs", D("0.033333"), IssueMethod.BACKFLUSH)),
        boms=(Bom("BR-100", (BomLine("S", D("1.5")), BomLine("F", D("4")), BomLine("W", D("3")))),),
        work_centers=(WorkCentre("WC-PRESS", "P1", D("25.10"), D("15.07"), D("1000.00"), D("30")),),
    )


def run_batches(ctx: PostingContext, events: list[tuple[int, int]], size: int) -> Book:
    book = Book()
    accruals = OrderAccruals("WO-1", "BR-100")
    for start in range(0, len(events), size):
        chunk = events[start : start + size]
        good = sum(g for g, _ in chunk)
        scrap = sum(s for _, s in chunk)
        accruals = book.apply(post_production(ctx, header(), accruals, D(good), D(scrap)))
    return book


events_strategy = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 1)), min_size=1, max_size=600)


@settings(max_examples=25, deadline=None)
@given(events_strategy)
def test_batches_of_1_7_500_give_the_same_ledger(events: list[tuple[int, int]]) -> None:
    ctx = PostingContext.build(uneven_master())
    card = ctx.card("BR-100")
    assert card.foh_rate == D("33.333333")
    books = [run_batches(ctx, events, size) for size in (1, 7, 500)]
    good = D(sum(g for g, _ in events))
    processed = good + D(sum(s for _, s in events))
    expected = {
        Role.FINISHED_GOODS: to_cents(good * card.good_unit),
        Role.LABOR_CONTROL: -to_cents(processed * D("0.04") * D("25.10")),
        Role.VOH_CONTROL: -to_cents(processed * D("0.04") * D("15.07")),
        Role.FOH_CONTROL: -to_cents(processed * D("0.04") * card.foh_rate),
        Role.RAW_MATERIALS: -to_cents(processed * D("3") * D("0.033333")),
    }
    for book in books:
        for role, amount in expected.items():
            assert book.balance(role) == amount, (role, len(book.entries))
        assert book.balance(Role.ROUNDING) == 0
        for entry in book.entries:
            assert entry.total_debit == entry.total_credit
    accruals = [book.orders["WO-1"] for book in books]
    assert accruals[0].posted == accruals[1].posted == accruals[2].posted
    assert accruals[0].good_qty == good and accruals[0].processed_qty == processed
    assert accruals[0].wip_balance == books[0].balance(Role.WIP)


def test_accruals_round_trip_through_data() -> None:
    ctx = PostingContext.build(uneven_master())
    posted = post_production(ctx, header(), OrderAccruals("WO-1", "BR-100"), D(7), D(1))
    posted = post_material_issue(ctx, header(), posted.accruals, "S", D("12.5"))
    again = OrderAccruals.from_data(posted.accruals.to_data())
    assert again == posted.accruals


def test_goods_receipt_takes_the_price_variance() -> None:
    ctx = PostingContext.build(worked_example_master())
    entry = post_goods_receipt(ctx, header(), "S", D(1300), D("3.90"))
    amounts = {line.role: line.amount for line in entry.lines}
    assert amounts == {
        Role.RAW_MATERIALS: D("5200.00"),
        Role.ACCOUNTS_PAYABLE: D("-5070.00"),
        Role.MATERIAL_PRICE_VARIANCE: D("-130.00"),
    }
    assert all(line.account for line in entry.lines)
    with pytest.raises(InputError):
        post_goods_receipt(ctx, header(), "S", D(0), D("3.90"))
    with pytest.raises(InputError):
        post_goods_receipt(ctx, header(), "NOPE", D(1), D("3.90"))


def test_issue_and_return_use_the_cumulative_rule() -> None:
    ctx = PostingContext.build(uneven_master())
    book = Book()
    acc = OrderAccruals("WO-1", "BR-100")
    # W at 0.033333: three issues of 1 post 0.03 + 0.04 + 0.03 (cumulative 0.03, 0.07, 0.10)
    for _ in range(3):
        acc = book.apply(post_material_issue(ctx, header(), acc, "W", D(1)))
    assert [e.total_debit for e in book.entries] == [D("0.03"), D("0.04"), D("0.03")]
    acc = book.apply(post_material_issue(ctx, header(), acc, "W", D(-3)))
    assert book.balance(Role.WIP) == 0 and acc.issued["W"] == 0
    with pytest.raises(InputError):
        post_material_issue(ctx, header(), acc, "W", D(0))


def test_negative_cumulative_quantities_refused() -> None:
    ctx = PostingContext.build(worked_example_master())
    with pytest.raises(OrderStateError):
        post_production(ctx, header(), OrderAccruals("WO-1", "BR-100"), D(-1), D(0))


def test_labour_and_overhead_bookings() -> None:
    ctx = PostingContext.build(worked_example_master())
    labour = post_labor_booking(ctx, header(), "WC-PRESS", D("1014.00"))
    voh = post_overhead_actual(ctx, header(), "WC-PRESS", OverheadKind.VARIABLE, D("560.00"))
    foh = post_overhead_actual(ctx, header(), "WC-PRESS", OverheadKind.FIXED, D("1380.00"))
    entries = [labour, voh, foh]
    assert balance(entries, Role.LABOR_CONTROL) == D("1014.00")
    assert balance(entries, Role.VOH_CONTROL) == D("560.00")
    assert balance(entries, Role.FOH_CONTROL) == D("1380.00")
    assert balance(entries, Role.OVERHEAD_PAYABLE) == D("-1940.00")
    assert all(line.tags.work_center == "WC-PRESS" for e in entries for line in e.lines)
    with pytest.raises(InputError):
        post_labor_booking(ctx, header(), "WC-NOPE", D("1"))
