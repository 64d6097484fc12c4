"""Margin arithmetic (central.domain.margin) and selling prices (central.domain.selling_prices):
issue 15's leakage mapping, standard and actual margin per good unit, price history, validation."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st
from support.domain import worked_example_master

from central.domain.costing import standard_cost
from central.domain.margin import (
    CAUSE_OF_VARIANCE,
    ORDER_VARIANCE_TYPES,
    LeakageCause,
    ProductMargin,
    margin_leakage,
    order_margin,
)
from central.domain.money import to_cents, to_unit
from central.domain.roles import VarianceType
from central.domain.selling_prices import SellingPrice, entity_of_product, price_at, selling_price_errors

D = Decimal
V = VarianceType

cents = st.integers(min_value=-10**9, max_value=10**9).map(lambda n: D(n) / 100)
units = st.integers(min_value=1, max_value=10**12).map(lambda n: D(n) / 10**6)
qty = st.integers(min_value=1, max_value=10**7).map(D)


def test_every_variance_type_has_the_cause_issue_15_names() -> None:
    assert set(CAUSE_OF_VARIANCE) == set(VarianceType)
    by_cause = {cause: {k for k, c in CAUSE_OF_VARIANCE.items() if c is cause} for cause in LeakageCause}
    assert by_cause == {
        LeakageCause.SCRAP: {V.ABNORMAL_SPOILAGE},
        LeakageCause.USAGE: {V.MATERIAL_USAGE},
        LeakageCause.EFFICIENCY: {V.LABOR_EFFICIENCY, V.VOH_EFFICIENCY},
        LeakageCause.IDLE_CAPACITY: {V.LABOR_IDLE, V.FOH_VOLUME},
        LeakageCause.SPENDING: {V.LABOR_RATE, V.VOH_SPENDING, V.FOH_BUDGET},
        LeakageCause.PURCHASE_PRICE: {V.MATERIAL_PRICE},
    }


def test_the_worked_example_leaks_by_cause_and_totals_the_variance_report() -> None:
    by_type = {V.MATERIAL_PRICE: D("-96.00"), V.MATERIAL_USAGE: D("62.50"), V.ABNORMAL_SPOILAGE: D("60.00"),
               V.LABOR_RATE: D("39.00"), V.LABOR_IDLE: D("100.00"), V.LABOR_EFFICIENCY: D("45.00"),
               V.VOH_SPENDING: D("35.00"), V.VOH_EFFICIENCY: D("27.00"), V.FOH_BUDGET: D("-20.00"),
               V.FOH_VOLUME: D("238.00")}
    leak = margin_leakage(by_type)
    assert dict(leak.causes) == {
        LeakageCause.SCRAP: D("60.00"), LeakageCause.USAGE: D("62.50"), LeakageCause.EFFICIENCY: D("72.00"),
        LeakageCause.IDLE_CAPACITY: D("338.00"), LeakageCause.SPENDING: D("54.00"),
        LeakageCause.PURCHASE_PRICE: D("-96.00"),
    }
    assert leak.total == D("490.50")  # ACCOUNTING.md: the variance report totals 490.50


@given(st.dictionaries(st.sampled_from(list(VarianceType)), cents))
def test_leakage_causes_add_up_to_the_variances(by_type: dict[VarianceType, Decimal]) -> None:
    leak = margin_leakage(by_type)
    assert leak.total == sum(by_type.values(), D(0))
    assert set(leak.causes) == set(LeakageCause)
    for cause, amount in leak.causes.items():
        assert amount == sum((v for k, v in by_type.items() if CAUSE_OF_VARIANCE[k] is cause), D(0))


def test_the_worked_example_order_margin() -> None:
    card = standard_cost(worked_example_master(), "BR-100")
    assert card.good_unit == D("10.300000")
    variances = {V.MATERIAL_USAGE: D("62.50"), V.ABNORMAL_SPOILAGE: D("60.00"), V.LABOR_EFFICIENCY: D("45.00"),
                 V.VOH_EFFICIENCY: D("27.00"), V.LABOR_IDLE: D("100.00")}  # idle is a period variance: left out
    m = order_margin("WO-1", "BR-100", D(800), card.good_unit, D("13.50"), variances)
    assert m.variance_total == D("194.50")
    assert m.actual_cost == D("8434.50")  # 800 x 10.30 + 194.50
    assert m.actual_unit_cost == D("10.543125")
    assert m.standard_margin == D("3.200000") and m.actual_margin == D("2.956875")
    assert m.revenue == D("10800.00") and m.actual_margin_total == D("2365.50")
    assert m.actual_margin_ratio == D("0.2190")


def test_an_order_without_good_units_or_price_has_no_unit_figures() -> None:
    m = order_margin("WO-0", "BR-100", D(0), D("10.30"), None, {V.ABNORMAL_SPOILAGE: D("5.00")})
    assert m.actual_unit_cost is None and m.actual_margin is None and m.revenue is None
    assert m.actual_cost == D("5.00")
    assert ProductMargin("BR-100", D("10.30"), None).standard_margin is None


@given(qty, units, units, st.lists(cents, min_size=4, max_size=4))
def test_actual_unit_cost_is_standard_plus_variances_per_good_unit(
    good: Decimal, std: Decimal, price: Decimal, amounts: list[Decimal]
) -> None:
    m = order_margin("WO", "P", good, std, price, dict(zip(ORDER_VARIANCE_TYPES, amounts, strict=True)))
    expected_total = good * std + sum(amounts, D(0))
    assert m.actual_cost == to_cents(expected_total)
    assert m.actual_unit_cost == to_unit(expected_total / good)
    assert m.actual_margin == to_unit(price - to_unit(expected_total / good))
    assert m.actual_margin_total == to_cents(good * price - expected_total)
    if not any(amounts):
        assert m.actual_unit_cost == to_unit(std) and m.actual_margin == m.standard_margin


def test_price_at_picks_the_latest_record_on_or_before_the_day() -> None:
    prices = [SellingPrice("A", D("10"), date(2026, 1, 1)), SellingPrice("A", D("12"), date(2026, 7, 1)),
              SellingPrice("B", D("99"), date(2025, 1, 1))]
    assert price_at(prices, "A", date(2025, 12, 31)) is None
    assert price_at(prices, "A", date(2026, 6, 30)) == prices[0]
    assert price_at(prices, "A", date(2026, 7, 1)) == prices[1]
    assert price_at(prices, "C", date(2026, 7, 1)) is None


def test_selling_prices_are_validated_with_key_paths() -> None:
    master = worked_example_master()
    assert entity_of_product(master, "BR-100") == "E1"
    good = SellingPrice("BR-100", D("13.50"), date(2026, 1, 1), "EUR")
    assert selling_price_errors(master, [good]) == []
    bad = [
        good,
        SellingPrice("BR-100", D("14.00"), date(2026, 1, 1)),  # duplicate (product, day)
        SellingPrice("NOPE", D("1"), date(2026, 1, 1)),
        SellingPrice("S", D("1"), date(2026, 1, 1)),  # raw
        SellingPrice("BR-100", D("0"), date(2026, 2, 1)),
        SellingPrice("BR-100", D("1.0000001"), date(2026, 3, 1)),
        SellingPrice("BR-100", D("1e9"), date(2026, 4, 1)),
        SellingPrice("BR-100", D("13.50"), date(2026, 5, 1), "USD"),
    ]
    found = {(e.key_path, e.message.split(" ")[0]) for e in selling_price_errors(master, bad)}
    assert found == {
        ("selling_prices[1]", "duplicate"),
        ("selling_prices[2].product", "unknown"),
        ("selling_prices[3].product", "raw"),
        ("selling_prices[4].price", "must"),
        ("selling_prices[5].price", "has"),
        ("selling_prices[6].price", "must"),
        ("selling_prices[7].currency", "'USD'"),
    }
