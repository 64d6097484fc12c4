"""A second scenario on other numbers: uneven rates, FOH 1000 / 30 h, backflushed parts, a crew
ratio of 1.5, two orders, one still open at the first period close, a late event for a closed
order. Asserts the invariants rather than a hand-computed ledger."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from support.domain import Book, at, worked_example_master

from central.domain.accruals import OrderAccruals
from central.domain.ledger import EntryHeader, JournalEntry, balance
from central.domain.master_data import (
    Bom,
    BomLine,
    DowntimeCategory,
    DowntimeReason,
    IssueMethod,
    Item,
    ItemClass,
    Machine,
    MasterData,
    Period,
    Routing,
    WorkCentre,
)
from central.domain.money import ZERO, to_cents
from central.domain.order_close import OrderFacts, adjust_closed_order, close_work_order
from central.domain.period_close import (
    UNEXPLAINED,
    UNSPECIFIED,
    CentreClose,
    CentreFacts,
    close_period_for_centre,
    control_balances,
    downtime_labour,
    standard_machine_hours,
)
from central.domain.postings import (
    OverheadKind,
    PostingContext,
    post_goods_receipt,
    post_labor_booking,
    post_material_issue,
    post_overhead_actual,
    post_production,
)
from central.domain.reports import variance_report, wip_by_order
from central.domain.roles import CONTROL_ROLES, VARIANCE_ROLES, Role, VarianceType
from central.domain.time_accounting import (
    Dispatch,
    Interval,
    MachineState,
    StateEvent,
    machine_intervals,
    run_hours_by_order,
    work_centre_hours,
)

D = Decimal
V = VarianceType
NOV = Period("2026-11", date(2026, 11, 1), date(2026, 11, 30))
DEC = Period("2026-12", date(2026, 12, 1), date(2026, 12, 31))
DEC1 = datetime(2026, 12, 1, tzinfo=UTC)
NOV_END = DEC1


def dec(hours: str) -> datetime:
    return DEC1 + (at(hours) - at(0))


def master() -> MasterData:
    base = worked_example_master()
    return replace(
        base,
        items=(
            Item("S", ItemClass.RAW, "kg", D("4.17"), IssueMethod.MANUAL),
            Item("W", ItemClass.RAW, "pcs", D("0.033333"), IssueMethod.BACKFLUSH),
            Item("BR-200", ItemClass.FINISHED, "pcs"),
            Item("BR-300", ItemClass.FINISHED, "pcs"),
        ),
        boms=(
            Bom("BR-200", (BomLine("S", D("1.2")), BomLine("W", D("3")))),
            Bom("BR-300", (BomLine("S", D("0.7")), BomLine("W", D("5")))),
        ),
        work_centers=(WorkCentre("WC-A", "P1", D("23.70"), D("14.35"), D("1000.00"), D("30")),),
        routings=(
            Routing("BR-200", "WC-A", D("0.06"), D("0.04"), D("0.025")),
            Routing("BR-300", "WC-A", D("0.055"), D("0.055"), D("0.02")),
        ),
        machines=(Machine("M-1", "WC-A"),),
        downtime_reasons=(*base.downtime_reasons, DowntimeReason("CHG", DowntimeCategory.CHANGEOVER)),
        periods=(NOV, DEC),
    )


EVENTS = [
    StateEvent(at(0), MachineState.RUNNING),
    StateEvent(at(5), MachineState.DOWN, "EQ_FAIL"),
    StateEvent(at("6.5"), MachineState.RUNNING),
    StateEvent(at(12), MachineState.PLANNED_STOP),
    StateEvent(at(13), MachineState.RUNNING),
    StateEvent(at(20), MachineState.SETUP, "CHG"),
    StateEvent(at("21.25"), MachineState.RUNNING),
    StateEvent(at(30), MachineState.IDLE, "MATERIAL"),
    StateEvent(at("30.75"), MachineState.RUNNING),
    StateEvent(at(40), MachineState.PLANNED_STOP),
    StateEvent(dec("0"), MachineState.RUNNING),
    StateEvent(dec("3"), MachineState.DOWN),
    StateEvent(dec("3.5"), MachineState.RUNNING),
    StateEvent(dec("8"), MachineState.PLANNED_STOP),
]
DISPATCHES = [Dispatch("WO-A", "M-1", at(0), at(20)), Dispatch("WO-B", "M-1", at(20), dec("8"))]
ITEMS = {"WO-A": "BR-200", "WO-B": "BR-300"}
# (good, scrap) count batches
WO_A_NOV = [(1, 0)] * 13 + [(7, 0)] * 25 + [(12, 1)] * 7 + [(128, 0)]  # 400 good, 7 scrap
WO_A_LATE = [(10, 1)]
WO_B_NOV = [(3, 0)] * 100 + [(0, 4)]  # 300 good, 4 scrap
WO_B_DEC = [(50, 1)] * 3 + [(0, 2)]  # 150 good, 5 scrap


def processed(batches: list[tuple[int, int]]) -> Decimal:
    return D(sum(g + s for g, s in batches))


def hdr(period: Period, day: date | None = None, late: bool = False) -> EntryHeader:
    return EntryHeader(day or period.start, period.id, late=late, original_date=date(2026, 11, 3) if late else None)


def in_period(entries: list[JournalEntry], *periods: Period) -> list[JournalEntry]:
    ids = {p.id for p in periods}
    return [e for e in entries if e.period in ids]


def centre_facts(
    ctx: PostingContext,
    book: Book,
    intervals: tuple[Interval, ...],
    period: Period,
    booked: tuple[str, str],
    overhead: tuple[str, str],
    processed: dict[str, Decimal],
    open_orders: tuple[OrderFacts, ...] = (),
) -> CentreFacts:
    start, end = period.bounds(UTC)
    hours = work_centre_hours(
        intervals, lambda m: "WC-A", lambda o: ctx.card(ITEMS[o]).crew_ratio if o else D(1), start, end
    )["WC-A"]
    return CentreFacts(
        work_center="WC-A",
        paid_hours=D(booked[0]),
        booked_amount=D(booked[1]),
        actual_voh=D(overhead[0]),
        actual_foh=D(overhead[1]),
        run_machine_hours=hours.run_machine_hours,
        run_labor_hours=hours.run_labor_hours,
        standard_machine_hours=standard_machine_hours(ctx, processed),
        downtime=downtime_labour(ctx, hours.downtime, ITEMS),
        control_balances=control_balances(book.entries, "WC-A"),
        open_orders=open_orders,
    )


@dataclass
class Scenario:
    ctx: PostingContext
    book: Book
    intervals: tuple[Interval, ...]
    nov_close: CentreClose
    nov_entries: int
    after_nov: dict[str, OrderAccruals]
    dec_close: CentreClose
    wo_a_before_late: OrderAccruals


def produce(ctx: PostingContext, book: Book, order: str, batches: list[tuple[int, int]], h: EntryHeader) -> None:
    acc = book.orders.get(order) or OrderAccruals(order, ITEMS[order])
    for good, scrap in batches:
        acc = book.apply(post_production(ctx, h, acc, D(good), D(scrap)))


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    ctx = PostingContext.build(master(), "E1")
    book = Book()
    intervals = machine_intervals("M-1", EVENTS, DISPATCHES, ctx.master.downtime_reasons_by_code, dec("12"))
    book.add(post_goods_receipt(ctx, hdr(NOV), "S", D("1000"), D("4.2113")))
    book.add(post_goods_receipt(ctx, hdr(NOV), "W", D("5000"), D("0.031")))
    book.orders["WO-A"] = OrderAccruals("WO-A", "BR-200")
    book.orders["WO-B"] = OrderAccruals("WO-B", "BR-300")
    book.apply(post_material_issue(ctx, hdr(NOV), book.orders["WO-A"], "S", D("497.3")))
    book.apply(post_material_issue(ctx, hdr(NOV), book.orders["WO-B"], "S", D("330")))
    produce(ctx, book, "WO-A", WO_A_NOV, hdr(NOV))
    produce(ctx, book, "WO-B", WO_B_NOV, hdr(NOV))
    book.add(post_labor_booking(ctx, hdr(NOV), "WC-A", D("1260.55")))
    book.add(post_overhead_actual(ctx, hdr(NOV), "WC-A", OverheadKind.VARIABLE, D("520.13")))
    book.add(post_overhead_actual(ctx, hdr(NOV), "WC-A", OverheadKind.FIXED, D("1010.00")))
    run_nov = run_hours_by_order(intervals, None, NOV_END)
    book.apply(close_work_order(ctx, hdr(NOV, date(2026, 11, 5)), OrderFacts(book.orders["WO-A"], run_nov["WO-A"])))
    # WO-B keeps running in December; its December counts post before November is closed
    produce(ctx, book, "WO-B", WO_B_DEC, hdr(DEC))
    wo_b_nov = OrderFacts(book.orders["WO-B"], run_nov["WO-B"], good=D(300), scrap=D(4))
    facts = centre_facts(
        ctx,
        replace(book, entries=in_period(book.entries, NOV)),
        intervals,
        NOV,
        ("52.5", "1260.55"),
        ("520.13", "1010.00"),
        {"BR-200": processed(WO_A_NOV), "BR-300": processed(WO_B_NOV)},
        (wo_b_nov,),
    )
    nov_close = close_period_for_centre(ctx, hdr(NOV, NOV.end), facts)
    book.extend(nov_close.entries)
    for acc in nov_close.accruals:
        book.orders[acc.work_order] = acc
    nov_entries = len(book.entries)
    after_nov = dict(book.orders)

    wo_a_before_late = book.orders["WO-A"]
    # a count dated in November for the closed WO-A arrives in December: late adjustment
    produce(ctx, book, "WO-A", WO_A_LATE, hdr(DEC, late=True))
    book.apply(adjust_closed_order(ctx, hdr(DEC, late=True), OrderFacts(book.orders["WO-A"], run_nov["WO-A"])))
    book.add(post_labor_booking(ctx, hdr(DEC), "WC-A", D("190.00")))
    book.add(post_overhead_actual(ctx, hdr(DEC), "WC-A", OverheadKind.VARIABLE, D("100.00")))
    book.add(post_overhead_actual(ctx, hdr(DEC), "WC-A", OverheadKind.FIXED, D("985.00")))
    run_all = run_hours_by_order(intervals)
    book.apply(close_work_order(ctx, hdr(DEC, date(2026, 12, 2)), OrderFacts(book.orders["WO-B"], run_all["WO-B"])))
    dec_facts = centre_facts(
        ctx,
        book,
        intervals,
        DEC,
        ("8", "190.00"),
        ("100.00", "985.00"),
        {"BR-200": processed(WO_A_LATE), "BR-300": processed(WO_B_DEC)},
    )
    dec_close = close_period_for_centre(ctx, hdr(DEC, DEC.end), dec_facts)
    book.extend(dec_close.entries)
    return Scenario(ctx, book, intervals, nov_close, nov_entries, after_nov, dec_close, wo_a_before_late)


def test_every_entry_balances_and_controls_are_zero_after_each_close(scenario: Scenario) -> None:
    book = scenario.book
    assert all(e.total_debit == e.total_credit for e in book.entries)
    nov = in_period(book.entries[: scenario.nov_entries], NOV)
    for role in CONTROL_ROLES:
        assert balance(nov, role) == 0, role
        assert balance(book.entries, role) == 0, role
    # rounding only ever takes cents
    for close in (scenario.nov_close, scenario.dec_close):
        assert all(abs(r) <= D("0.05") for r in close.residues.values()), close.residues
    assert abs(balance(book.entries, Role.ROUNDING)) <= D("0.10")


def test_wip_of_closed_orders_is_zero_and_open_orders_stay_at_what_posted(scenario: Scenario) -> None:
    nov = in_period(scenario.book.entries[: scenario.nov_entries], NOV)
    after_nov = wip_by_order(nov)
    assert after_nov["WO-A"] == 0
    # WO-B open: its November WIP holds what November posted for it (December events are in December)
    nov_b = sum(
        (line.amount for e in nov for line in e.lines if line.role is Role.WIP and line.tags.work_order == "WO-B"), ZERO
    )
    assert after_nov["WO-B"] == nov_b != 0
    assert wip_by_order(scenario.book.entries) == {"WO-A": D(0), "WO-B": D(0)}
    assert scenario.book.orders["WO-A"].wip_balance == scenario.book.orders["WO-B"].wip_balance == 0


def test_efficiency_split_between_period_close_and_order_close(scenario: Scenario) -> None:
    ctx = scenario.ctx
    card = ctx.card("BR-300")
    run_nov = run_hours_by_order(scenario.intervals, None, NOV_END)["WO-B"]
    run_all = run_hours_by_order(scenario.intervals)["WO-B"]
    assert (run_nov, run_all) == (D(18), D("25.5"))

    def labour(entries: list[JournalEntry]) -> Decimal:
        return balance(entries, Role.LABOR_EFFICIENCY_VARIANCE, lambda t: t.work_order == "WO-B")

    nov = in_period(scenario.book.entries, NOV)
    assert labour(nov) == to_cents((D(18) * card.crew_ratio - D(304) * card.labor_hours) * card.labor_rate)
    total = to_cents((run_all - D(459) * card.labor_hours) * card.labor_rate)
    assert labour(scenario.book.entries) == total
    assert scenario.after_nov["WO-B"].run_hours == D(18) and not scenario.after_nov["WO-B"].closed
    dec_close = [e for e in in_period(scenario.book.entries, DEC) if e.kind == "work_order_close"]
    assert sum((labour([e]) for e in dec_close), ZERO) == total - labour(nov)


def test_idle_rows_by_reason_and_unexplained_takes_the_cent(scenario: Scenario) -> None:
    idle = {
        line.tags.reason: line.amount
        for e in scenario.nov_close.entries
        for line in e.lines
        if line.role is Role.LABOR_IDLE_VARIANCE
    }
    # EQ_FAIL 1.5 h during WO-A (crew 1.5), CHG 1.25 h and MATERIAL 0.75 h during WO-B (crew 1)
    assert idle["EQ_FAIL"] == D("53.33") and idle["CHG"] == D("29.63") and idle["MATERIAL"] == D("17.78")
    run_labour = D("17.5") * D("1.5") + D(18)
    assert sum(idle.values(), ZERO) == to_cents((D("52.5") - run_labour) * D("23.70")) == D("195.53")
    assert idle[UNEXPLAINED] == D("94.79")  # 4 h x 23.70 = 94.80, less the cent rounding the rows left
    dec_idle = {
        line.tags.reason: line.amount
        for e in scenario.dec_close.entries
        for line in e.lines
        if line.role is Role.LABOR_IDLE_VARIANCE
    }
    assert dec_idle == {UNSPECIFIED: D("11.85")}  # 0.5 h down without a reason; 8 paid = 7.5 run + 0.5


def test_late_adjustment_recomputes_the_close_for_the_difference(scenario: Scenario) -> None:
    ctx = scenario.ctx
    card = ctx.card("BR-200")
    before = scenario.wo_a_before_late
    after = scenario.book.orders["WO-A"]
    assert after.closed and (after.good_qty, after.scrap_qty) == (before.good_qty + 10, before.scrap_qty + 1)
    spoilage = to_cents((after.scrap_qty - card.normal_spoilage * after.good_qty) * card.per_unit_processed)
    assert balance(scenario.book.entries, Role.ABNORMAL_SPOILAGE, lambda t: t.work_order == "WO-A") == spoilage
    late = [e for e in scenario.book.entries if e.late]
    assert late and all(e.period == DEC.id and e.original_date == date(2026, 11, 3) for e in late)
    assert {e.kind for e in late} >= {"work_order_close", "finished_goods"}


def test_variance_identities(scenario: Scenario) -> None:
    entries = scenario.book.entries
    report = variance_report(entries)
    by_type = report.by_type()
    for kind, role in VARIANCE_ROLES.items():
        assert by_type.get(kind, ZERO) == balance(entries, role)
    # every cost incurred is either at standard in an asset, a variance or rounding
    actual = -sum(
        (balance(entries, r) for r in (Role.ACCOUNTS_PAYABLE, Role.WAGES_PAYABLE, Role.OVERHEAD_PAYABLE)), ZERO
    )
    standard = sum((balance(entries, r) for r in (Role.RAW_MATERIALS, Role.WIP, Role.FINISHED_GOODS)), ZERO)
    assert report.total + balance(entries, Role.ROUNDING) == actual - standard
    # labour: booked - applied = rate + idle + efficiency + rounding on labour
    booked = D("1260.55") + D("190.00")
    applied = -sum(
        (
            line.amount
            for e in entries
            if e.kind == "conversion_applied"
            for line in e.lines
            if line.role is Role.LABOR_CONTROL
        ),
        ZERO,
    )
    residues = [c.residues[Role.LABOR_CONTROL] for c in (scenario.nov_close, scenario.dec_close)]
    labour_variances = by_type[V.LABOR_RATE] + by_type[V.LABOR_IDLE] + by_type[V.LABOR_EFFICIENCY]
    assert booked - applied == labour_variances + sum(residues, ZERO)
    assert all(abs(r) <= D("0.02") for r in residues)
    # FOH: budget variance + volume variance = actual - applied (to the cent, per period)
    fo_applied = -sum(
        (
            line.amount
            for e in entries
            if e.kind == "conversion_applied"
            for line in e.lines
            if line.role is Role.FOH_CONTROL
        ),
        ZERO,
    )
    assert abs(by_type[V.FOH_BUDGET] + by_type[V.FOH_VOLUME] - (D("1995.00") - fo_applied)) <= D("0.02")
