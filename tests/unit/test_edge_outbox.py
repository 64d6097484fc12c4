"""The SQLite outbox: gapless seqs, marks in the same transaction, ack-only deletion, stream."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.derivation import Mark
from edge.encoding import event_body, with_seq
from edge.errors import OutboxMismatch
from edge.outbox import Outbox
from shared.contract import Event, RawValue, assemble_batch, decode_batch, encode_event

T0 = datetime(2026, 11, 25, tzinfo=UTC)


def body(value: int, prev: int | None = None) -> bytes:
    return event_body(machine="M1", kind="count", ts=T0, rx=T0, tag="good", value=value, prev=prev, qty=1)


def test_event_body_matches_the_shared_encoder() -> None:
    ev = Event(seq=7, machine="M1", kind="count", ts=T0, rx=T0, qty=1, raw=RawValue(tag="good", value=3, prev=None))
    assert with_seq(7, body(3)) == encode_event(ev)
    state = Event(seq=9, machine="M1", kind="state", ts=T0, rx=T0, state="down", reason="EQ_FAIL",
                  raw=RawValue(tag="st", value=3, prev=1))
    made = event_body(machine="M1", kind="state", ts=T0, rx=T0, tag="st", value=3, prev=1, state="down",
                      reason="EQ_FAIL")
    assert with_seq(9, made) == encode_event(state)


def test_seqs_are_gapless_and_survive_reopen_and_ack(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.db", "P1", "e1")
    stream = ob.stream
    entries = [(body(1), "good", Mark(1, "x")), (None, "other", Mark(5, "x")), (body(2), "good", Mark(2, "x"))]
    assert ob.append(entries) == 2
    assert ob.ack(2) == 2
    ob.close()
    ob = Outbox(tmp_path / "o.db", "P1", "e1")
    assert ob.stream == stream and ob.last_seq == 2 and ob.acked_through == 2
    assert ob.marks() == {"good": Mark(2, "x"), "other": Mark(5, "x")}
    ob.append([(body(3), "good", Mark(3, "y"))])
    rows = ob.pending(0, 10, 1 << 20)
    assert [s for s, _ in rows] == [3]  # seq continues after every row was deleted
    assert orjson.loads(rows[0][1])["seq"] == 3
    payload = assemble_batch("P1", "e1", stream, [b for _, b in rows])
    assert decode_batch(payload).problems == ()
    ob.close()


def test_ack_deletes_only_what_it_covers(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.db", "P1", "e1", max_rows=3)
    ob.append([(body(i), "good", Mark(i, "x")) for i in range(1, 6)])
    st0 = ob.stats()
    assert st0.rows == 5 and st0.over_budget and st0.bytes > 0 and st0.oldest_created is not None
    assert ob.ack(0) == 0
    assert ob.ack(3) == 3
    assert [s for s, _ in ob.pending(0, 10, 1 << 20)] == [4, 5]
    assert ob.ack(2) == 0  # an old ack changes nothing
    assert ob.ack(99) == 2  # clamped to the last seq
    st1 = ob.stats()
    assert st1.rows == 0 and st1.bytes == 0 and not st1.over_budget and st1.acked_through == 5


def test_pending_respects_limits(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.db", "P1", "e1")
    ob.append([(body(i), "good", Mark(i, "x")) for i in range(1, 21)])
    assert len(ob.pending(0, 7, 1 << 20)) == 7
    one = len(ob.pending(0, 1, 1 << 20)[0][1]) + 1
    assert len(ob.pending(0, 100, one * 3)) == 3
    assert [s for s, _ in ob.pending(15, 100, 1 << 20)] == [16, 17, 18, 19, 20]


def test_database_of_another_edge_is_refused(tmp_path: Path) -> None:
    Outbox(tmp_path / "o.db", "P1", "e1").close()
    with pytest.raises(OutboxMismatch, match="belongs to plant"):
        Outbox(tmp_path / "o.db", "P1", "e2")


def test_new_file_is_a_new_stream(tmp_path: Path) -> None:
    a = Outbox(tmp_path / "a.db", "P1", "e1")
    b = Outbox(tmp_path / "b.db", "P1", "e1")
    assert a.stream != b.stream


@settings(max_examples=25, deadline=None)
@given(groups=st.lists(st.lists(st.booleans(), max_size=8), max_size=8), acks=st.lists(st.integers(0, 70), max_size=5))
def test_rows_equal_unacked_span(tmp_path_factory: pytest.TempPathFactory, groups: list[list[bool]],
                                 acks: list[int]) -> None:
    ob = Outbox(tmp_path_factory.mktemp("o") / "o.db", "P1", "e1")
    n = 0
    for group in groups:
        ob.append([(body(i) if has_event else None, "good", Mark(i, "x")) for i, has_event in enumerate(group)])
        n += sum(group)
    for a in acks:
        ob.ack(a)
    rows = ob.pending(0, 1000, 1 << 30)
    assert [s for s, _ in rows] == list(range(ob.acked_through + 1, n + 1))
    assert ob.stats().rows == len(rows)
    ob.close()
