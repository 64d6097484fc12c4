"""Counter plausibility (pure arithmetic, hypothesis): rollover vs reset vs suspect by max_rate x elapsed.

No unit is ever invented: a drop is a rollover only when the whole wrap step fits in what the
counter can have made since it was last seen; a reset counts only the new value; anything else
is suspect. And the time that judgement needs survives a restart (outbox schema 2, upgraded
in place from schema 1).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from edge.counters import Delta, Mark, counter_delta, units_possible
from edge.outbox import SCHEMA_VERSION, Outbox

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
U16 = 65535

rates = st.floats(0.01, 1000, allow_nan=False)
elapsed = st.floats(0, 60, allow_nan=False)


def test_the_issue_example_a_reset_at_65533_invents_nothing() -> None:
    # 2 units/s at most, polled every 0.5 s: at most 2 units between two polls
    assert counter_delta(Mark(65533, "e"), 1, "e", U16, 1000, max_rate_per_s=2, elapsed_s=0.5) == Delta(1, ("reset",))
    assert counter_delta(Mark(65533, "e"), 0, "e", U16, 1000, max_rate_per_s=2, elapsed_s=0.5) == Delta(0, ("reset",))
    # the same counter really wrapping at full rate: still a rollover
    assert counter_delta(Mark(65535, "e"), 1, "e", U16, 1000, max_rate_per_s=2, elapsed_s=0.5) == Delta(
        2, ("rollover",)
    )
    # a drop too big for both readings: suspect, held for review
    assert counter_delta(Mark(65533, "e"), 9, "e", U16, 1000, max_rate_per_s=2, elapsed_s=0.5) == Delta(
        9, ("suspect",)
    )


@given(prev=st.integers(1, U16), value=st.integers(0, U16), rate=rates, secs=elapsed, sanity=st.integers(1, U16))
def test_a_drop_never_counts_more_than_the_rate_allows(
    prev: int, value: int, rate: float, secs: float, sanity: int
) -> None:
    if value >= prev:
        return
    delta = counter_delta(Mark(prev, "e"), value, "e", U16, sanity, max_rate_per_s=rate, elapsed_s=secs)
    assert delta is not None
    possible = min(units_possible(rate, secs), sanity)
    wrap = U16 - prev + value + 1
    if delta.flags == ("rollover",):
        assert delta.qty == wrap <= possible
    elif delta.flags == ("reset",):
        assert delta.qty == value <= possible < wrap
    else:
        assert delta.flags == ("suspect",) and delta.qty == value
        assert value > possible and wrap > possible


@given(prev=st.integers(0, U16), rate=rates, secs=st.floats(0.01, 10), data=st.data())
def test_a_counter_that_wraps_within_its_rate_is_counted_exactly(
    prev: int, rate: float, secs: float, data: st.DataObject
) -> None:
    """Whatever the PLC really made in `secs` at most `rate` units/s is counted, wrap or not."""
    made = data.draw(st.integers(1, min(units_possible(rate, secs), 5000)))
    value = (prev + made) % (U16 + 1)
    delta = counter_delta(Mark(prev, "e"), value, "e", U16, 5000, max_rate_per_s=rate, elapsed_s=secs)
    assert delta is not None and delta.qty == made
    assert delta.flags == (("rollover",) if value < prev else ())


@given(top=st.integers(1, 50), rate=rates, secs=st.floats(0, 10), data=st.data())
def test_a_reset_near_the_top_is_never_a_rollover_beyond_the_rate(
    top: int, rate: float, secs: float, data: st.DataObject
) -> None:
    """A PLC reset while the counter stood `top` below its max, then counted a few units."""
    possible = units_possible(rate, secs)
    counted = data.draw(st.integers(0, min(possible, 1000)))
    prev = U16 - top + 1
    if prev <= counted:
        return
    delta = counter_delta(Mark(prev, "e"), counted, "e", U16, 1000, max_rate_per_s=rate, elapsed_s=secs)
    assert delta is not None
    if top + counted > min(possible, 1000):  # the wrap step exceeds what could happen: not invented
        assert delta == Delta(counted, ("reset",))


def test_marks_keep_their_time_and_a_schema_1_outbox_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE events (seq INTEGER PRIMARY KEY, body BLOB NOT NULL, created REAL NOT NULL);
        CREATE TABLE marks (key TEXT PRIMARY KEY, kind TEXT NOT NULL, value TEXT NOT NULL, epoch TEXT NOT NULL);
        INSERT INTO meta VALUES ('schema_version', '1'), ('plant', 'P1'), ('edge', 'e1'), ('stream', 'e1-abc'),
            ('last_seq', '4'), ('acked_through', '4'), ('created', '0');
        INSERT INTO marks VALUES ('good', 'i', '65533', 'x'), ('state:M1', 's', 'running|', '');
        """
    )
    db.commit()
    db.close()
    ob = Outbox(path, "P1", "e1")
    assert ob.get_meta("schema_version") == str(SCHEMA_VERSION) == "2"
    assert ob.stream == "e1-abc" and ob.last_seq == 4
    assert ob.marks() == {"good": Mark(65533, "x"), "state:M1": Mark("running|", "")}
    assert ob.marks()["good"].at is None  # no time known for a mark written by the old agent
    ob.append([(None, "good", Mark(3, "x", T0))])
    ob.close()
    again = Outbox(path, "P1", "e1")
    assert again.marks()["good"].at == T0 and again.marks()["good"].value == 3
