"""The pure stream cursor: whatever order, duplication and batching seqs 1..N arrive in, every
seq is stored once and accepted in order; gaps are reported exactly for the missing runs; an
accepted gap releases what waited behind it and turns a seq that comes after it into a late
one. The model below stores what each step decides, as ``ingest.store`` does, and rebuilds the
cursor from it, so the ``after`` state is checked against what the adapter would load."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

import pytest
from hypothesis import given
from hypothesis import strategies as st

from central.domain.stream_cursor import CursorStep, StreamCursor


@dataclass
class Model:
    """The events table of one stream, as far as the cursor is concerned."""

    cursor: StreamCursor = field(default_factory=StreamCursor)
    stored: dict[int, str] = field(default_factory=dict)
    posted: list[int] = field(default_factory=list)
    steps: list[CursorStep] = field(default_factory=list)
    #: gap rows not closed yet: ``ingest.store`` closes them only when held events are released
    open_gaps: list[tuple[int, int]] = field(default_factory=list)

    def deliver(self, seqs: list[int], refused: frozenset[int] = frozenset()) -> CursorStep:
        candidates = self.cursor.late_candidates(seqs)
        stored_below = set()
        if candidates is not None:
            lo, hi = candidates
            stored_below = {s for s in self.stored if lo <= s <= hi}
        arrival = self.cursor.arrive(seqs, stored_below)
        step = self.cursor.decide(arrival, refused & frozenset(arrival.fresh))
        for s in (*step.late, *step.fresh):
            assert s not in self.stored, f"seq {s} stored twice"
            self.stored[s] = step.status(s)
        for s in step.released:
            assert self.stored[s] == "pending"
            self.stored[s] = "accepted"
        self.posted.extend(step.to_post)
        self.steps.append(step)
        if step.advanced:
            self.open_gaps = [(lo, hi) for lo, hi in self.open_gaps if hi > step.acked_through]
        self.open_gaps.extend(step.gaps)
        self.cursor = step.after
        self.check_state()
        return step

    def accept_gap(self, through: int) -> None:
        done = self.cursor.accept_gap(through)
        for s in done.released:
            assert self.stored[s] == "pending"
            self.stored[s] = "accepted"
        self.posted.extend(done.released)
        self.cursor = done.after
        self.check_state()

    def check_state(self) -> None:
        """The cursor after a step is the one the adapter loads from the stored rows."""
        c = self.cursor
        assert c.held == frozenset(s for s in self.stored if s > c.acked_through)
        assert c.pending == frozenset(s for s, st_ in self.stored.items() if s > c.acked_through and st_ == "pending")
        assert c.last_seq == max(self.stored, default=0)
        assert c.acked_through + 1 not in self.stored
        assert not any(st_ == "pending" for s, st_ in self.stored.items() if s <= c.acked_through)


Case: TypeAlias = tuple[int, list[list[int]], frozenset[int]]


@st.composite
def deliveries(draw: st.DrawFn, *, complete: bool = True) -> Case:
    """``N``, batches (each ascending without repeats, as the contract guarantees) whose seqs
    cover 1..N when ``complete``, in any order, with re-sends; and the seqs that do not validate."""
    n = draw(st.integers(1, 40))
    base = draw(st.permutations(range(1, n + 1))) if complete else []
    extra = draw(st.lists(st.integers(1, n), max_size=2 * n))
    order = draw(st.permutations([*base, *extra]))
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(order) - 1)), max_size=len(order))))
    batches: list[list[int]] = []
    start = 0
    for cut in [*cuts, len(order)]:
        if cut > start:
            batches.append(sorted(set(order[start:cut])))
            start = cut
    refused = frozenset(draw(st.sets(st.integers(1, n), max_size=n)))
    return n, batches, refused


@given(deliveries())
def test_any_delivery_stores_each_seq_once_and_accepts_in_order(case: Case) -> None:
    n, batches, refused = case
    model = Model()
    for batch in batches:
        model.deliver(batch, refused)
    assert sorted(model.stored) == list(range(1, n + 1))
    assert model.posted == [s for s in range(1, n + 1) if s not in refused]
    assert model.cursor.acked_through == n and not model.cursor.held and not model.cursor.pending
    assert all(model.stored[s] == ("rejected" if s in refused else "accepted") for s in model.stored)
    assert sum(step.duplicates for step in model.steps) == sum(map(len, batches)) - n
    assert not any(step.late for step in model.steps)


@given(deliveries())
def test_gaps_are_reported_exactly_for_missing_runs(case: Case) -> None:
    _n, batches, refused = case
    model = Model()
    expected: set[int] = set()
    reported: list[int] = []
    for batch in batches:
        before_top = max(model.cursor.last_seq, model.cursor.acked_through)
        step = model.deliver(batch, refused)
        # a seq is missing when a higher one is stored for the first time without it
        expected |= {s for s in range(before_top + 1, model.cursor.last_seq) if s not in model.stored}
        for lo, hi in step.gaps:
            assert lo <= hi
            assert lo - 1 in model.stored or lo - 1 == before_top  # a maximal run
            assert hi + 1 in step.fresh
            reported.extend(range(lo, hi + 1))
    assert sorted(reported) == sorted(expected)
    assert len(reported) == len(set(reported)), "a missing seq reported twice"


@given(deliveries(complete=False), st.data())
def test_accept_gap_releases_held_events_and_makes_missing_seqs_late(
    case: Case, data: st.DataObject
) -> None:
    n, batches, refused = case
    model = Model()
    for batch in batches:
        model.deliver(batch, refused)
    c = model.cursor
    if c.acked_through == c.last_seq:
        with pytest.raises(ValueError):
            c.accept_gap(c.acked_through + 1)
        return
    through = data.draw(st.integers(c.acked_through + 1, c.last_seq))
    missing = {s for s in range(c.acked_through + 1, through + 1) if s not in model.stored}
    pending_before = {s for s, st_ in model.stored.items() if st_ == "pending"}
    done = c.accept_gap(through)
    assert done.skipped == len(missing) > 0
    after = done.after.acked_through
    assert after >= through
    assert all(s in model.stored for s in range(through + 1, after + 1)) and after + 1 not in model.stored
    assert done.released == tuple(sorted(s for s in pending_before if s <= after))
    # what accepting does to each open gap row (some may have filled without closing yet)
    for lo, hi in model.open_gaps:
        fate, first = done.fate(lo, hi)
        if hi <= after:
            # closed: "accepted" when it reaches into the range given up, else it filled behind it
            assert fate == ("accepted" if lo <= through else "filled") and first == lo
        elif lo <= after:
            assert (fate, first) == ("trimmed", after + 1)
        else:
            assert (fate, first) == ("open", lo)
    model.accept_gap(through)

    # the edge re-sends everything: skipped seqs come late (rejected), the rest settle in order
    step = model.deliver(list(range(1, n + 1)), refused)
    assert set(step.late) == missing and set(step.late) <= set(step.rejected)
    assert all(model.stored[s] == "rejected" for s in missing)
    assert model.cursor.acked_through == n
    assert sorted(model.stored) == list(range(1, n + 1))
    assert model.posted == [s for s in range(1, n + 1) if s not in refused and s not in missing]
    # and once more: nothing is new
    again = model.deliver(list(range(1, n + 1)), refused)
    assert again.duplicates == n and not again.late and not again.fresh and not again.to_post


def test_batch_examples() -> None:
    """The cases of the module docstring, one by one."""
    c = StreamCursor()
    first = c.receive([1, 2, 4, 5])
    assert (first.accepted, first.pending, first.gaps, first.acked_through) == ((1, 2), (4, 5), ((3, 3),), 2)
    fill = first.after.receive([2, 3, 5, 7], refused={7})
    assert fill.duplicates == 2 and fill.fresh == (3, 7)
    assert fill.released == (4, 5) and fill.to_post == (3, 4, 5)
    assert fill.gaps == ((6, 6),) and fill.rejected == (7,) and fill.status(7) == "rejected"
    assert fill.acked_through == 5 and fill.after.held == frozenset({7}) and not fill.after.pending
    assert fill.advanced
    middle = StreamCursor().receive([1, 3, 5]).after.receive([4])
    assert middle.acked_through == 1 and not middle.advanced and middle.gaps == ()
    assert middle.after.accept_gap(2).fate(4, 4) == ("filled", 4)
    gap = fill.after.accept_gap(6)
    assert (gap.skipped, gap.released, gap.after.acked_through, gap.after.skipped) == (1, (), 7, 1)
    assert gap.fate(6, 6) == ("accepted", 6)
    assert gap.after.late_candidates([6, 8]) == (6, 6)
    late = gap.after.receive([6, 8], stored_below=set())
    assert late.late == (6,) and late.rejected == (6,) and late.accepted == (8,) and late.duplicates == 0
    resend = gap.after.receive([1], stored_below={1})
    assert resend.duplicates == 1 and not resend.late
    assert StreamCursor(acked_through=3, last_seq=3).late_candidates([1, 2]) is None  # no gap ever accepted
