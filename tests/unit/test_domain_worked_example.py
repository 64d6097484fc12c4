"""ACCOUNTING.md's worked example, end to end through the pure domain, to the cent."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest
from support.domain import PERIOD, Book, at, header, worked_example_master, worked_example_timeline

from central.domain.accruals import OrderAccruals
from central.domain.ledger import trial_balance
from central.domain.master_data import DowntimeCategory
from central.domain.operations_reports import (
    OrderOutput,
    ScrapRecord,
    cost_of_quality,
    downtime_cost,
    ideal_hours,
    oee,
)
from central.domain.order_close import OrderFacts, close_work_order
from central.domain.period_close import (
    UNEXPLAINED,
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
from central.domain.reports import inventory_valuation, trial_balance_by_role, variance_report, wip_by_order
from central.domain.roles import Role, VarianceType
from central.domain.time_accounting import (
    Dispatch,
    downtime_hours,
    machine_intervals,
    machine_time,
    run_hours_by_order,
    work_centre_hours,
)

D = Decimal
V = VarianceType

# 800 good + 30 scrap as PLC batches: (good, scrap, scrap reason)
BATCHES = [(97, 3, "BURR"), (1, 0, None), (250, 7, "BURR"), (0, 1, "CRACK"), (333, 9, "CRACK"), (119, 10, "BURR")]


@dataclass
class Run:
    ctx: PostingContext
    book: Book
    closed_order: OrderAccruals
    centre_residues: dict[Role, Decimal]


@pytest.fixture(scope="module")
def run() -> Run:
    master = worked_example_master()
    ctx = PostingContext.build(master, "E1")
    book = Book()
    book.add(post_goods_receipt(ctx, header("gr"), "S", D(1300), D("3.90")))
    book.add(post_goods_receipt(ctx, header("gr"), "F", D(3400), D("0.26")))
    acc = OrderAccruals("WO-1", "BR-100")
    for item, qty in (("S", D(1000)), ("F", D(3330)), ("S", D(260))):
        acc = book.apply(post_material_issue(ctx, header(), acc, item, qty))
    for good, scrap, _ in BATCHES:
        acc = book.apply(post_production(ctx, header(), acc, D(good), D(scrap)))
    assert (acc.good_qty, acc.scrap_qty) == (D(800), D(30))
    book.add(post_labor_booking(ctx, header(), "WC-PRESS", D("1014.00")))
    book.add(post_overhead_actual(ctx, header(), "WC-PRESS", OverheadKind.VARIABLE, D("560.00")))
    book.add(post_overhead_actual(ctx, header(), "WC-PRESS", OverheadKind.FIXED, D("1380.00")))

    reasons = master.downtime_reasons_by_code
    intervals = machine_intervals(
        "PRESS-2", worked_example_timeline(), [Dispatch("WO-1", "PRESS-2", at(0), at(40))], reasons, at(40)
    )
    run_hours = run_hours_by_order(intervals)["WO-1"]
    acc = book.apply(close_work_order(ctx, header("close"), OrderFacts(acc, run_hours)))

    start, end = PERIOD.bounds(at(0).tzinfo)  # type: ignore[arg-type]
    hours = work_centre_hours(intervals, lambda m: "WC-PRESS", lambda o: ctx.card("BR-100").crew_ratio, start, end)
    centre = hours["WC-PRESS"]
    facts = CentreFacts(
        work_center="WC-PRESS",
        paid_hours=D(39),
        booked_amount=D("1014.00"),
        actual_voh=D("560.00"),
        actual_foh=D("1380.00"),
        run_machine_hours=centre.run_machine_hours,
        run_labor_hours=centre.run_labor_hours,
        standard_machine_hours=standard_machine_hours(ctx, {"BR-100": acc.processed_qty}),
        downtime=downtime_labour(ctx, centre.downtime, {"WO-1": "BR-100"}),
        control_balances=control_balances(book.entries, "WC-PRESS"),
    )
    closed = close_period_for_centre(ctx, header("period_close"), facts)
    book.extend(closed.entries)
    return Run(ctx, book, acc, dict(closed.residues))


def test_variances(run: Run) -> None:
    report = variance_report(run.book.entries)
    rows = {(r.type, r.item, r.reason): r.amount for r in report.rows}
    assert rows[(V.MATERIAL_PRICE, "S", None)] == D("-130.00")
    assert rows[(V.MATERIAL_PRICE, "F", None)] == D("34.00")
    assert rows[(V.MATERIAL_USAGE, "S", None)] == D("60.00")
    assert rows[(V.MATERIAL_USAGE, "F", None)] == D("2.50")
    assert rows[(V.ABNORMAL_SPOILAGE, "BR-100", None)] == D("60.00")
    assert rows[(V.LABOR_RATE, None, None)] == D("39.00")
    assert rows[(V.LABOR_IDLE, None, "EQ_FAIL")] == D("75.00")
    assert rows[(V.LABOR_IDLE, None, "MATERIAL")] == D("25.00")
    assert (V.LABOR_IDLE, None, UNEXPLAINED) not in rows  # downtime explains all idle time
    assert rows[(V.LABOR_EFFICIENCY, "BR-100", None)] == D("45.00")
    assert rows[(V.VOH_SPENDING, None, None)] == D("35.00")
    assert rows[(V.VOH_EFFICIENCY, "BR-100", None)] == D("27.00")
    assert rows[(V.FOH_BUDGET, None, None)] == D("-20.00")
    assert rows[(V.FOH_VOLUME, None, None)] == D("238.00")
    assert len(rows) == 13
    by_type = report.by_type()
    assert by_type[V.LABOR_IDLE] == D("100.00")
    assert report.total - by_type[V.ABNORMAL_SPOILAGE] == D("430.50")
    assert report.total == D("490.50")
    usage = next(r for r in report.rows if r.type is V.MATERIAL_USAGE and r.item == "S")
    assert usage.as_dict() == {
        "type": "material_usage",
        "amount": D("60.00"),
        "item": "S",
        "work_center": "WC-PRESS",
        "work_order": "WO-1",
    }


def test_balances_and_trial_balance(run: Run) -> None:
    assert wip_by_order(run.book.entries) == {"WO-1": D(0)}
    assert run.closed_order.closed and run.closed_order.wip_balance == 0
    assert run.centre_residues == {Role.LABOR_CONTROL: 0, Role.VOH_CONTROL: 0, Role.FOH_CONTROL: 0}
    expected = {
        Role.RAW_MATERIALS: D("177.50"),
        Role.WIP: D(0),
        Role.FINISHED_GOODS: D("8240.00"),
        Role.ACCOUNTS_PAYABLE: D("-5954.00"),
        Role.WAGES_PAYABLE: D("-1014.00"),
        Role.OVERHEAD_PAYABLE: D("-1940.00"),
        Role.LABOR_CONTROL: D(0),
        Role.VOH_CONTROL: D(0),
        Role.FOH_CONTROL: D(0),
        Role.ABNORMAL_SPOILAGE: D("60.00"),
        Role.MATERIAL_PRICE_VARIANCE: D("-96.00"),
        Role.MATERIAL_USAGE_VARIANCE: D("62.50"),
        Role.LABOR_RATE_VARIANCE: D("39.00"),
        Role.LABOR_IDLE_VARIANCE: D("100.00"),
        Role.LABOR_EFFICIENCY_VARIANCE: D("45.00"),
        Role.VOH_SPENDING_VARIANCE: D("35.00"),
        Role.VOH_EFFICIENCY_VARIANCE: D("27.00"),
        Role.FOH_BUDGET_VARIANCE: D("-20.00"),
        Role.FOH_VOLUME_VARIANCE: D("238.00"),
    }
    by_role = {line.role: line.balance for line in trial_balance_by_role(run.book.entries)}
    assert by_role == expected  # no rounding role: every amount came out exact
    tb = trial_balance(run.book.entries)
    assert tb.total_debit == tb.total_credit == D("9024.00")
    codes = {line.role: line.account for line in tb.lines}
    assert codes[Role.RAW_MATERIALS] == "1300" and codes[Role.FOH_VOLUME_VARIANCE] == "5510"
    for entry in run.book.entries:
        assert entry.total_debit == entry.total_credit and entry.entity == "E1" and entry.rule_version == 1


def test_finished_goods_moved_as_counts_arrived(run: Run) -> None:
    fg = [e for e in run.book.entries if e.kind == "finished_goods"]
    assert len(fg) == len([b for b in BATCHES if b[0]])
    assert sum((e.total_debit for e in fg), D(0)) == D("8240.00")
    close = [e for e in run.book.entries if e.kind == "work_order_close"]
    assert len(close) == 1
    assert {line.role: line.amount for line in close[0].lines if line.role is Role.ABNORMAL_SPOILAGE} == {
        Role.ABNORMAL_SPOILAGE: D("60.00")
    }


def test_inventory_valuation(run: Run) -> None:
    on_hand = {"S": D(40), "F": D(70), "BR-100": D(800)}
    rows = {r.item: r for r in inventory_valuation(run.ctx, on_hand, run.book.entries)}
    assert rows["S"].value == rows["S"].ledger == D("160.00")
    assert rows["F"].value == rows["F"].ledger == D("17.50")
    assert rows["BR-100"].value == rows["BR-100"].ledger == D("8240.00")
    assert rows["BR-100"].unit_cost == D("10.30") and rows["BR-100"].role is Role.FINISHED_GOODS


def test_cost_of_quality_downtime_and_oee(run: Run) -> None:
    ctx = run.ctx
    scrap = [ScrapRecord("WO-1", "PRESS-2", reason, D(s)) for _, s, reason in BATCHES if s]
    coq = cost_of_quality(ctx, scrap, [OrderOutput("WO-1", "BR-100", D(800))])
    assert (coq.total, coq.normal, coq.abnormal) == (D("300.00"), D("240.00"), D("60.00"))
    by_reason = {(r.reason, r.qty): r.amount for r in coq.rows}
    assert by_reason == {("BURR", D(20)): D("200.00"), ("CRACK", D(10)): D("100.00")}

    intervals = machine_intervals(
        "PRESS-2",
        worked_example_timeline(),
        [Dispatch("WO-1", "PRESS-2", at(0), at(40))],
        ctx.master.downtime_reasons_by_code,
        at(40),
    )
    cost = downtime_cost(ctx, downtime_hours(intervals), {"WO-1": "BR-100"})
    assert cost.total_cost == D("240.00") and cost.total_hours == D(4)
    assert cost.by_reason() == {"EQ_FAIL": D("180.00"), "MATERIAL": D("60.00")}
    assert cost.by_category() == {DowntimeCategory.EQUIPMENT: D("180.00"), DowntimeCategory.MATERIAL: D("60.00")}

    result = oee(machine_time(intervals, "PRESS-2", at(0), at(40)), ideal_hours(ctx, {"BR-100": D(830)}), D(800), D(30))
    assert result.rounded() == {
        "availability": D("0.8974"),
        "performance": D("0.9486"),
        "quality": D("0.9639"),
        "oee": D("0.8205"),
    }
    assert (result.planned_time_h, result.run_time_h) == (D(39), D(35))
