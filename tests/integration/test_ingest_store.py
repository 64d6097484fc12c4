"""Exactly-once ingest against a real database (SQLite; PostgreSQL when SFSYNC_TEST_PG_URL is set)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from support.central import (
    MACHINE,
    STREAM,
    batches,
    event,
    make_container,
    payload,
    register,
    stream_state,
    topic,
)

from central.adapters.db.models_ingest import AlertRow, EventRow, GapRow, QuarantineRow, RejectedEventRow
from central.bootstrap import Container
from central.service_layer.ingest import operations as ingest_ops
from central.service_layer.ingest.seam import RecordingHandler


@pytest.fixture
def central(central_db_url: str) -> Iterator[Container]:
    container = make_container(central_db_url)
    register(container)
    yield container
    container.dispose()


def posted(c: Container) -> list[int]:
    assert isinstance(c.posting, RecordingHandler)
    return [seq for _s, seq in c.posting.seen]


def test_in_order_batches_are_accepted_and_acked(central: Container) -> None:
    for seqs in batches(1, 25, 10):
        result = central.ingest.handle_events(topic(), payload(seqs))
        assert result.outcome == "stored"
        assert result.ack is not None and result.ack[3] == seqs[-1]
    state = stream_state(central)
    assert state["acked_through"] == 25
    assert [e[0] for e in state["events"]] == list(range(1, 26))
    assert {e[1] for e in state["events"]} == {"accepted"}
    assert posted(central) == list(range(1, 26))


def test_duplicates_are_no_ops_and_replay_of_history_changes_nothing(central: Container) -> None:
    for seqs in batches(1, 30, 7):
        central.ingest.handle_events(topic(), payload(seqs))
    before = stream_state(central)
    calls = len(posted(central))
    for seqs in batches(1, 30, 7):  # the whole history again
        result = central.ingest.handle_events(topic(), payload(seqs))
        assert result.ack is not None and result.ack[3] == 30
        assert result.stored is not None and result.stored.duplicates == len(seqs) and result.stored.accepted == 0
    assert stream_state(central) == before
    assert len(posted(central)) == calls
    assert central.metrics.duplicates.value() == 30


def test_gap_is_reported_held_and_filled(central: Container) -> None:
    central.ingest.handle_events(topic(), payload([1, 2, 3]))
    result = central.ingest.handle_events(topic(), payload([7, 8]))
    assert result.ack is not None and result.ack[3] == 3  # nothing past the gap is acked
    assert result.stored is not None and result.stored.gaps == [(4, 6)] and result.stored.held == 2
    assert central.ingest.check_gaps() == 1  # alerted once (threshold 0 s in the tests) ...
    assert central.ingest.check_gaps() == 0  # ... not again
    with central.read_sessions() as s:
        gap = s.scalars(select(GapRow)).one()
        assert (gap.from_seq, gap.through_seq, gap.closed) == (4, 6, None)
        assert s.scalar(select(func.count()).select_from(AlertRow).where(AlertRow.kind == "gap")) == 1
    assert posted(central) == [1, 2, 3]
    result = central.ingest.handle_events(topic(), payload([4, 5, 6]))
    assert result.ack is not None and result.ack[3] == 8
    assert posted(central) == list(range(1, 9))  # held events released in seq order
    with central.read_sessions() as s:
        gap = s.scalars(select(GapRow)).one()
        assert gap.resolution == "filled" and gap.closed is not None
    assert {e[1] for e in stream_state(central)["events"]} == {"accepted"}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_out_of_order_arrival_ends_in_the_same_state_as_in_order(central_db_url: str, seed: int) -> None:
    chunks = batches(1, 60, 6)
    ordered = make_container(central_db_url)
    register(ordered)
    for seqs in chunks:
        ordered.ingest.handle_events(topic(), payload(seqs, stream="s-ordered"))
    shuffled = list(chunks)
    random.Random(seed).shuffle(shuffled)
    for seqs in shuffled + shuffled[:3]:  # and some duplicates
        ordered.ingest.handle_events(topic(), payload(seqs, stream="s-shuffled"))
    a, b = stream_state(ordered, "s-ordered"), stream_state(ordered, "s-shuffled")
    assert a == b and a["acked_through"] == 60
    streams = {}
    for stream, seq in ordered.posting.seen:  # type: ignore[attr-defined]
        streams.setdefault(stream, []).append(seq)
    assert streams["s-ordered"] == streams["s-shuffled"] == list(range(1, 61))
    ordered.dispose()


def test_bad_events_are_rejected_the_rest_accepted_and_acked(central: Container) -> None:
    events = [event(1), event(2, machine="NOPE"), {"seq": 3, "kind": "count"}, event(4, qty=-5), event(5)]
    result = central.ingest.handle_events(topic(), payload(events))
    assert result.outcome == "stored" and result.ack is not None and result.ack[3] == 5
    assert posted(central) == [1, 5]
    with central.read_sessions() as s:
        rejected = {r.seq: (r.field, r.reason) for r in s.scalars(select(RejectedEventRow))}
        assert set(rejected) == {2, 3, 4}
        assert "unknown machine" in rejected[2][1]
        assert s.scalar(select(func.count()).select_from(AlertRow).where(AlertRow.kind == "rejected_events")) == 1


def test_replay_after_fix_accepts_and_posts(central: Container) -> None:
    central.ingest.handle_events(topic(), payload([event(1, machine="NEW-1"), event(2)]))
    register(central, machines=["NEW-1"])
    with central.write_sessions() as s, s.begin():
        rid = s.scalars(select(RejectedEventRow.id)).one()
        ev = ingest_ops.replay_rejected(s, rid, "ctl", central.posting, datetime.now(UTC))
        assert ev.status == "accepted"
    assert posted(central) == [2, 1]
    with central.read_sessions() as s:
        assert s.scalars(select(RejectedEventRow.status)).one() == "replayed"


def test_unreadable_payloads_are_quarantined_once_with_times(central: Container) -> None:
    for _ in range(3):
        result = central.ingest.handle_events(topic(), b"{not json")
        assert result.outcome == "quarantined" and result.ack is None
    with central.read_sessions() as s:
        row = s.scalars(select(QuarantineRow)).one()
        assert row.times == 3 and "JSON" in row.reason


def test_unregistered_edge_is_quarantined_and_not_acked(central: Container) -> None:
    result = central.ingest.handle_events(topic(edge="edge-x"), payload([1], edge="edge-x", stream="s-x"))
    assert result.outcome == "refused" and result.ack is None
    register(central, edge="edge-x", machines=[])
    register(central, edge="edge-x", machines=["M-X"])
    result = central.ingest.handle_events(topic(edge="edge-x"), payload([event(1, machine="M-X")], edge="edge-x",
                                                                        stream="s-x"))
    assert result.ack is not None and result.ack[3] == 1


def test_clock_skew_is_accepted_flagged_and_posted_at_receive_time(central: Container) -> None:
    ahead = datetime.now(UTC) + timedelta(hours=2)
    central.ingest.handle_events(topic(), payload([event(1, ts=ahead)]))
    with central.read_sessions() as s:
        row = s.scalars(select(EventRow)).one()
        assert row.status == "accepted" and "clock_skew" in row.flags
        assert row.posting_ts is not None and row.posting_ts < ahead - timedelta(hours=1)
        assert s.scalar(select(func.count()).select_from(AlertRow).where(AlertRow.kind == "clock_skew")) == 1


def test_accept_gap_releases_held_events_and_late_arrival_is_kept(central: Container) -> None:
    central.ingest.handle_events(topic(), payload([1, 2]))
    central.ingest.handle_events(topic(), payload([6, 7]))
    with central.write_sessions() as s, s.begin():
        done = ingest_ops.accept_gap(s, STREAM, 5, "box replaced", "ctl", central.posting, datetime.now(UTC))
    assert (done.acked_through, done.skipped, done.released) == (7, 3, 2)
    assert posted(central) == [1, 2, 6, 7]
    result = central.ingest.handle_events(topic(), payload([4]))  # the lost one turns up after all
    assert result.ack is not None and result.ack[3] == 7
    with central.read_sessions() as s:
        late = s.scalars(select(RejectedEventRow)).one()
        assert late.seq == 4 and "after its gap was accepted" in late.reason
        gap = s.scalars(select(GapRow)).one()
        assert gap.resolution == "accepted" and gap.accepted_by == "ctl"


def test_posting_failure_rejects_only_the_refused_event(central_db_url: str) -> None:
    class Picky:
        def __call__(self, session: object, events: object) -> None:
            for e in events:  # type: ignore[attr-defined]
                if e.seq == 2:
                    raise ValueError("no work order")
            self.ok.extend(e.seq for e in events)  # type: ignore[attr-defined]

        ok: list[int] = []

    handler = Picky()
    c = make_container(central_db_url, posting=handler)
    register(c)
    result = c.ingest.handle_events(topic(), payload([1, 2, 3]))
    assert result.ack is not None and result.ack[3] == 3
    assert handler.ok == [1, 3]
    with c.read_sessions() as s:
        rej = s.scalars(select(RejectedEventRow)).one()
        assert rej.seq == 2 and rej.field == "posting" and "no work order" in rej.reason
    c.dispose()


def test_new_stream_from_known_edge_starts_at_one(central: Container) -> None:
    central.ingest.handle_events(topic(), payload([1, 2, 3]))
    result = central.ingest.handle_events(topic(), payload([1, 2], stream="s-new"))
    assert result.ack == ("P1", "edge-1", "s-new", 2)
    assert MACHINE


@pytest.mark.parametrize("seqs", [[0], [-3], [2, 2], [3, 1]])
def test_bad_seqs_quarantine_the_payload_and_block_nothing(central: Container, seqs: list[int]) -> None:
    central.ingest.handle_events(topic(), payload([1]))
    result = central.ingest.handle_events(topic(), payload([event(s) for s in seqs]))
    assert result.outcome == "quarantined"
    result = central.ingest.handle_events(topic(), payload([2]))
    assert result.ack is not None and result.ack[3] == 2


def test_oversized_batches_are_quarantined(central: Container) -> None:
    too_many = central.ingest.handle_events(topic(), payload(list(range(1, 1002))))
    assert too_many.outcome == "quarantined" and "limit" in (too_many.reason or "")
    huge = payload([event(1, reason="x" * 60)] * 1) + b" " * (1024 * 1024)
    result = central.ingest.handle_events(topic(), huge)
    assert result.outcome == "quarantined" and "bytes" in (result.reason or "")
    assert central.metrics.quarantined.value("unreadable") == 2
    exactly_1000 = central.ingest.handle_events(topic(), payload(list(range(1, 1001))))
    assert exactly_1000.ack is not None and exactly_1000.ack[3] == 1000
