"""Journal entries balance or are refused; the builder rounds line by line into one rounding line."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.domain import header

from central.domain.errors import UnbalancedEntryError
from central.domain.ledger import (
    EntryBuilder,
    JournalEntry,
    JournalLine,
    Tags,
    balance,
    balances_by,
    trial_balance,
)
from central.domain.money import to_cents
from central.domain.roles import Role

D = Decimal
ROLES = [r for r in Role if r not in (Role.ROUNDING, Role.WAGES_PAYABLE)]
unrounded = st.decimals(min_value=D("-100000"), max_value=D("100000"), places=6, allow_nan=False)


@given(st.lists(st.tuples(st.sampled_from(ROLES), unrounded), min_size=1, max_size=12))
def test_any_unrounded_amounts_build_a_balanced_entry_with_at_most_one_rounding_line(
    parts: list[tuple[Role, Decimal]],
) -> None:
    builder = EntryBuilder(header("test"))
    for index, (role, amount) in enumerate(parts):
        builder.add(role, amount, Tags(memo=str(index)))
    total = sum((a for _, a in parts), D(0))
    builder.add(Role.WAGES_PAYABLE, -total, Tags(memo="offset"))
    entry = builder.build()
    expected = {str(i): to_cents(a) for i, (_, a) in enumerate(parts)} | {"offset": to_cents(-total)}
    expected = {memo: amount for memo, amount in expected.items() if amount != 0}
    if entry is None:
        assert not expected
        return
    assert entry.total_debit == entry.total_credit
    rounding = [line for line in entry.lines if line.role is Role.ROUNDING]
    assert len(rounding) <= 1
    assert {line.tags.memo: line.amount for line in entry.lines if line.role is not Role.ROUNDING} == expected
    if rounding:
        assert rounding[0].amount == -sum(expected.values(), D(0))
        assert abs(rounding[0].amount) <= D("0.005") * (len(parts) + 1)
    else:
        assert sum(expected.values(), D(0)) == 0


def test_builder_rounds_line_by_line_and_puts_the_residue_on_rounding() -> None:
    builder = EntryBuilder(header("split"))
    third = D(100) / D(3)
    builder.add(Role.WIP, third).add(Role.WIP, third, Tags(work_order="B")).add(Role.WIP, third, Tags(work_order="C"))
    builder.add(Role.LABOR_CONTROL, D(-100))
    entry = builder.build()
    assert entry is not None
    wip = [line.debit for line in entry.lines if line.role is Role.WIP]
    assert wip == [D("33.33")] * 3
    (rounding,) = [line for line in entry.lines if line.role is Role.ROUNDING]
    assert rounding.debit == D("0.01")


def test_same_role_and_tags_merge_into_one_line() -> None:
    builder = EntryBuilder(header("merge"))
    builder.pair(Role.WIP, Role.RAW_MATERIALS, D("1.004")).pair(Role.WIP, Role.RAW_MATERIALS, D("1.004"))
    entry = builder.build()
    assert entry is not None
    assert [(line.role, line.amount) for line in entry.lines] == [
        (Role.WIP, D("2.01")),
        (Role.RAW_MATERIALS, D("-2.01")),
    ]


def test_unbalanced_amounts_refused() -> None:
    builder = EntryBuilder(header("bad")).add(Role.WIP, D("10")).add(Role.RAW_MATERIALS, D("-9.99"))
    with pytest.raises(UnbalancedEntryError, match="do not balance"):
        builder.build()


def test_unbalanced_entry_refused_at_construction() -> None:
    with pytest.raises(UnbalancedEntryError):
        JournalEntry(
            header("x").entry_date,
            "2026-11",
            "x",
            (JournalLine(Role.WIP, debit=D("1.00")), JournalLine(Role.RAW_MATERIALS, credit=D("0.99"))),
        )
    with pytest.raises(UnbalancedEntryError, match="two lines"):
        JournalEntry(header("x").entry_date, "2026-11", "x", (JournalLine(Role.WIP, debit=D("1.00")),))


@pytest.mark.parametrize(
    ("debit", "credit"),
    [(D("1.001"), D(0)), (D(-1), D(0)), (D(0), D(0)), (D(1), D(1))],
)
def test_malformed_lines_refused(debit: Decimal, credit: Decimal) -> None:
    with pytest.raises(UnbalancedEntryError):
        JournalLine(Role.WIP, debit=debit, credit=credit)


def test_float_line_refused() -> None:
    with pytest.raises(UnbalancedEntryError, match="Decimal"):
        JournalLine(Role.WIP, debit=1.5)  # type: ignore[arg-type]


def test_all_zero_builds_nothing() -> None:
    assert EntryBuilder(header("zero")).pair(Role.WIP, Role.RAW_MATERIALS, D("0.004")).build() is None


@given(st.lists(st.tuples(st.sampled_from(ROLES), st.sampled_from(ROLES), unrounded), min_size=1, max_size=8))
def test_reversal_restores_balances(parts: list[tuple[Role, Role, Decimal]]) -> None:
    entries = []
    for debit, credit, amount in parts:
        if debit is credit:
            continue
        entry = EntryBuilder(header("p")).pair(debit, credit, amount, Tags(work_order="WO")).build()
        if entry is not None:
            entries.append(entry)
    before = trial_balance(entries)
    extra = EntryBuilder(header("late")).pair(Role.WIP, Role.LABOR_CONTROL, D("12.345")).build()
    assert extra is not None
    after = [*entries, extra, extra.reversed("entered twice", reverses="E-1")]
    assert balance(after[:-1], Role.WIP) == balance(entries, Role.WIP) + D("12.35")
    for role in Role:
        assert balance(after, role) == balance(entries, role)
    assert trial_balance(after).balanced and before.balanced


def test_reversal_needs_a_reason_and_keeps_the_link() -> None:
    entry = EntryBuilder(header("p")).pair(Role.WIP, Role.RAW_MATERIALS, D("5")).build()
    assert entry is not None
    with pytest.raises(UnbalancedEntryError, match="reason"):
        entry.reversed("  ")
    reversal = entry.reversed("wrong order", reverses="J-7", period="2026-12")
    assert reversal.reverses == "J-7" and reversal.reason == "wrong order" and reversal.period == "2026-12"
    assert [line.amount for line in reversal.lines] == [-line.amount for line in entry.lines]


def test_trial_balance_and_balances_by() -> None:
    e1 = EntryBuilder(header("a")).pair(Role.WIP, Role.RAW_MATERIALS, D("10"), Tags(work_order="A")).build()
    e2 = EntryBuilder(header("b")).pair(Role.WIP, Role.RAW_MATERIALS, D("5"), Tags(work_order="B")).build()
    e3 = EntryBuilder(header("c")).pair(Role.FINISHED_GOODS, Role.WIP, D("10"), Tags(work_order="A")).build()
    entries = [e for e in (e1, e2, e3) if e is not None]
    tb = trial_balance(entries)
    assert tb.balanced and tb.total_debit == D("15")
    assert tb.balance(Role.WIP) == D("5") and tb.balance(Role.RAW_MATERIALS) == D("-15")
    assert balances_by(entries, Role.WIP, lambda t: t.work_order) == {"A": D(0), "B": D("5")}
