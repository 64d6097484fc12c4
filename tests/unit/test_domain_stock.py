"""Production stock moves by the cumulative rule: any split of the same events (and taking some
back out again) moves the same totals as one batch, to 6 places."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st
from support.domain import worked_example_master

from central.domain.accruals import OrderAccruals
from central.domain.master_data import BomLine, IssueMethod
from central.domain.postings import PostingContext
from central.domain.stock import BACKFLUSH, FINISHED_GOODS, MoveKey, move_deltas, production_targets

D = Decimal


def _ctx() -> PostingContext:
    """The worked example with F backflushed at an awkward BOM quantity (6 places)."""
    master = worked_example_master()
    items = tuple(replace(i, issue=IssueMethod.BACKFLUSH) if i.id == "F" else i for i in master.items)
    bom = master.boms[0]
    lines = tuple(BomLine(line.item, D("4.333333")) if line.item == "F" else line for line in bom.components)
    return PostingContext.build(replace(master, items=items, boms=(replace(bom, components=lines),)))


CTX = _ctx()


def _replay(batches: list[tuple[int, int]]) -> tuple[dict[MoveKey, Decimal], int]:
    """Apply each (good, scrap) batch (negative = taken back out) as the service does: the moves
    are cumulative targets minus what has moved. Returns the totals and the number of moves."""
    acc = OrderAccruals("WO-1", "BR-100")
    moved: dict[MoveKey, Decimal] = {}
    count = 0
    for good, scrap in batches:
        acc = replace(acc, good_qty=acc.good_qty + good, scrap_qty=acc.scrap_qty + scrap)
        for key, delta in move_deltas(production_targets(CTX, acc), moved).items():
            assert delta == delta.quantize(D("0.000001"))
            moved[key] = moved.get(key, D(0)) + delta
            count += 1
    return {k: v for k, v in moved.items() if v != 0}, count


def test_targets_of_the_worked_example() -> None:
    acc = OrderAccruals("WO-1", "BR-100", good_qty=D(800), scrap_qty=D(30))
    assert production_targets(CTX, acc) == {(BACKFLUSH, "F"): D("-3596.666390"), (FINISHED_GOODS, "BR-100"): D(800)}
    manual = PostingContext.build(worked_example_master())  # S and F issued by hand: only finished goods
    assert production_targets(manual, acc) == {(FINISHED_GOODS, "BR-100"): D(800)}
    assert move_deltas({(FINISHED_GOODS, "X"): D(5)}, {(FINISHED_GOODS, "X"): D(5)}) == {}


units = st.lists(st.tuples(st.integers(0, 40), st.integers(0, 5)), min_size=1, max_size=30)


@given(units, st.data())
def test_batching_and_taking_back_never_change_the_totals(events: list[tuple[int, int]], data: st.DataObject) -> None:
    good, scrap = sum(g for g, _ in events), sum(s for _, s in events)
    one, _ = _replay([(good, scrap)])
    each, _ = _replay(events)
    assert one == each
    expected = {(BACKFLUSH, "F"): -(D(good + scrap) * D("4.333333")), (FINISHED_GOODS, "BR-100"): D(good)}
    assert one == {k: v for k, v in expected.items() if v != 0}
    # re-attribution: some events leave the order (negative batch), then come back
    k = data.draw(st.integers(0, len(events)))
    back_good, back_scrap = sum(g for g, _ in events[k:]), sum(s for _, s in events[k:])
    out, _ = _replay([*events, (-back_good, -back_scrap)])
    assert out == _replay(events[:k])[0]
    again, _ = _replay([*events, (-back_good, -back_scrap), *events[k:]])
    assert again == one
