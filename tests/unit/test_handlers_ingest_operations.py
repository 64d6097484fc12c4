"""A controller's ingest actions (accept a gap, replay a rejected event) on a fake unit of work.

No database: the stream's history is made by the ingest handler itself (``store_batch`` on
``tests.support.fake_uow.FakeEvents``), then the action runs as a handler
``(command, uow, post)``; the posting seam is a plain function. Checked: what reaches the seam
and in which order, the cursor row, the gaps, the rejection, the clock, the refusals.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import orjson
import pytest

from central.domain.commands import AcceptGap, ReplayRejectedEvent
from central.domain.master_data import MasterData
from central.domain.stored_events import StoredEvent
from central.errors import Conflict, InvalidInput, NotFound
from central.service_layer.ingest.operations import (
    GapAccepted,
    ReplayedEvent,
    accept_stream_gap,
    replay_rejected_event,
)
from central.service_layer.ingest.store import StoreResult, store_batch
from shared.contract import DecodedBatch, assemble_batch, decode_batch, format_ts
from tests.support.fake_uow import NOW, FakeUnitOfWork

PLANT, EDGE, STREAM = "P1", "edge-1", "s-1"
LATER = NOW + timedelta(hours=1)


def _doc(seq: int, machine: str = "M1", qty: int = 1) -> dict[str, Any]:
    ts = format_ts(NOW - timedelta(minutes=10) + timedelta(seconds=seq))
    return {"seq": seq, "machine": machine, "kind": "count", "ts": ts, "rx": ts, "qty": qty, "flags": [],
            "raw": {"tag": "good", "value": seq, "prev": seq - 1}}


def _batch(docs: Sequence[dict[str, Any]]) -> DecodedBatch:
    return decode_batch(assemble_batch(PLANT, EDGE, STREAM, [orjson.dumps(d) for d in docs]))


class Seam:
    """The posting seam: records the seqs of each call; refuses the seqs in ``refuse``."""

    def __init__(self, refuse: frozenset[int] = frozenset()) -> None:
        self.refuse = refuse
        self.calls: list[list[int]] = []

    def __call__(self, events: Sequence[StoredEvent]) -> None:
        self.calls.append([e.seq for e in events])
        for e in events:
            if e.seq in self.refuse:
                raise ValueError(f"no work order for seq {e.seq}")


def _uow_with(*batches: Sequence[dict[str, Any]]) -> FakeUnitOfWork:
    """A fake unit of work whose stream received ``batches`` (through the ingest handler)."""
    uow = FakeUnitOfWork(MasterData())
    uow.events.edges[EDGE] = PLANT
    uow.events.machines_["M1"] = (EDGE, None)
    for docs in batches:
        result = store_batch(uow, _batch(docs), post=Seam(), now=NOW, skew=timedelta(minutes=5),
                             require_registration=True, require_known_machine=True)
        assert isinstance(result, StoreResult)
    uow.clock = lambda: LATER
    uow.commits = 0
    return uow


# --- accept a gap ---------------------------------------------------------------------------


def test_accepting_a_gap_releases_the_held_events_in_seq_order_and_moves_the_cursor() -> None:
    uow = _uow_with([_doc(1), _doc(2)], [_doc(6), _doc(7)])
    seam = Seam()
    done = accept_stream_gap(AcceptGap(STREAM, 5, "box replaced", "ctl"), uow, seam)
    assert done == GapAccepted(STREAM, 7, 3, 2)
    assert seam.calls == [[6, 7]]
    stream = uow.events.streams[STREAM]
    assert (stream["acked_through"], stream["skipped"], stream["accepted"]) == (7, 3, 4)
    assert [(uow.events.rows[(STREAM, s)]["status"], uow.events.rows[(STREAM, s)]["accepted_at"])
            for s in (6, 7)] == [("accepted", LATER)] * 2
    (gap,) = uow.events.gaps
    assert (gap["resolution"], gap["closed"], gap["accepted_by"], gap["reason"]) == (
        "accepted", LATER, "ctl", "box replaced")
    assert uow.commits == 1


def test_accepting_part_of_a_gap_trims_it_and_keeps_the_rest_open() -> None:
    uow = _uow_with([_doc(1)], [_doc(4)], [_doc(9)])  # gaps 2..3 and 5..8
    seam = Seam()
    done = accept_stream_gap(AcceptGap(STREAM, 6, "lost in the outage", "ctl"), uow, seam)
    assert (done.acked_through, done.skipped, done.released) == (6, 4, 1)
    assert seam.calls == [[4]]
    assert [(g["from_seq"], g["through_seq"], g["resolution"]) for g in uow.events.gaps] == [
        (2, 3, "accepted"), (7, 8, None)]
    assert uow.events.rows[(STREAM, 9)]["status"] == "pending"


def test_a_released_event_the_seam_refuses_is_stored_rejected_and_the_rest_post() -> None:
    uow = _uow_with([_doc(1)], [_doc(3), _doc(4)])
    seam = Seam(refuse=frozenset({3}))
    done = accept_stream_gap(AcceptGap(STREAM, 2, "gone", "ctl"), uow, seam)
    assert (done.acked_through, done.released) == (4, 1)
    assert seam.calls == [[3, 4], [3], [4]]
    assert uow.events.rows[(STREAM, 3)]["status"] == "rejected"
    (rejection,) = uow.events.rejections
    assert (rejection["seq"], rejection["code"], rejection["received"]) == (3, "posting_failed", LATER)
    assert uow.events.streams[STREAM]["accepted"] == 2  # seq 1, then 4


@pytest.mark.parametrize(("through", "reason", "error", "text"), [
    (2, "r", Conflict, "already acked through 2"),
    (9, "r", InvalidInput, r"beyond the last seq received \(5\)"),
    (3, "  ", InvalidInput, "a reason is required"),
])
def test_a_gap_acceptance_out_of_range_or_without_reason_is_refused_and_changes_nothing(
    through: int, reason: str, error: type[Exception], text: str
) -> None:
    uow = _uow_with([_doc(1), _doc(2)], [_doc(5)])
    before = (dict(uow.events.streams[STREAM]), [dict(g) for g in uow.events.gaps])
    seam = Seam()
    with pytest.raises(error, match=text):
        accept_stream_gap(AcceptGap(STREAM, through, reason, "ctl"), uow, seam)
    assert (uow.events.streams[STREAM], uow.events.gaps) == before
    assert seam.calls == [] and uow.commits == 0


def test_accepting_a_gap_of_an_unknown_stream_is_not_found() -> None:
    with pytest.raises(NotFound, match="no stream 'nope'"):
        accept_stream_gap(AcceptGap("nope", 3, "r", "ctl"), _uow_with(), Seam())


# --- replay a rejected event ----------------------------------------------------------------


def _rejected_id(uow: FakeUnitOfWork, seq: int) -> int:
    return int(next(r["id"] for r in uow.events.rejections if r["seq"] == seq))


def test_a_replay_after_the_fix_accepts_posts_and_counts_the_event() -> None:
    uow = _uow_with([_doc(1, machine="NEW-1"), _doc(2)])
    uow.events.machines_["NEW-1"] = (EDGE, None)  # the fix: the machine is registered now
    seam = Seam()
    rid = _rejected_id(uow, 1)
    done = replay_rejected_event(ReplayRejectedEvent(rid, "ctl"), uow, seam)
    row = uow.events.rows[(STREAM, 1)]
    assert done == ReplayedEvent(row["id"], "accepted")
    assert seam.calls == [[1]]
    assert (row["status"], row["accepted_at"], row["machine"]) == ("accepted", LATER, "NEW-1")
    rej = next(r for r in uow.events.rejections if r["id"] == rid)
    assert (rej["status"], rej["replayed_by"], rej["replayed_at"]) == ("replayed", "ctl", LATER)
    assert uow.events.streams[STREAM]["accepted"] == 2 and uow.commits == 1


def test_a_corrected_body_is_stored_and_posted() -> None:
    uow = _uow_with([_doc(1), _doc(2, qty=-5)])
    seam = Seam()
    done = replay_rejected_event(ReplayRejectedEvent(_rejected_id(uow, 2), "ctl", _doc(2, qty=4)), uow, seam)
    assert done.status == "accepted" and seam.calls == [[2]]
    assert uow.events.rows[(STREAM, 2)]["qty"] == 4


def test_a_replay_behind_an_open_gap_waits_pending_and_posts_nothing() -> None:
    uow = _uow_with([_doc(1)], [_doc(3, qty=-5)])  # seq 3 rejected behind the gap at 2
    seam = Seam()
    done = replay_rejected_event(ReplayRejectedEvent(_rejected_id(uow, 3), "ctl", _doc(3)), uow, seam)
    assert done.status == "pending" and seam.calls == []
    assert uow.events.rows[(STREAM, 3)]["status"] == "pending"
    assert uow.events.streams[STREAM]["accepted"] == 1


@pytest.mark.parametrize(("body", "error", "text"), [
    (None, InvalidInput, "event still refused: unknown machine 'NEW-1'"),
    ({**_doc(1, machine="M1"), "seq": 7}, InvalidInput, "must keep seq 1"),
    ({**_doc(1, machine="M1"), "qty": -1}, InvalidInput, "event still invalid"),
])
def test_a_replay_still_refused_changes_nothing(body: dict[str, Any] | None, error: type[Exception],
                                                 text: str) -> None:
    uow = _uow_with([_doc(1, machine="NEW-1")])
    rid = _rejected_id(uow, 1)
    seam = Seam()
    with pytest.raises(error, match=text):
        replay_rejected_event(ReplayRejectedEvent(rid, "ctl", body), uow, seam)
    assert uow.events.rows[(STREAM, 1)]["status"] == "rejected"
    assert next(r for r in uow.events.rejections if r["id"] == rid)["status"] == "open"
    assert seam.calls == [] and uow.commits == 0


def test_a_replayed_event_cannot_be_replayed_again_and_an_unknown_one_is_not_found() -> None:
    uow = _uow_with([_doc(1, qty=-5)])
    rid = _rejected_id(uow, 1)
    replay_rejected_event(ReplayRejectedEvent(rid, "ctl", _doc(1)), uow, Seam())
    with pytest.raises(Conflict, match="already replayed"):
        replay_rejected_event(ReplayRejectedEvent(rid, "ctl"), uow, Seam())
    with pytest.raises(NotFound, match="no rejected event 99"):
        replay_rejected_event(ReplayRejectedEvent(99, "ctl"), uow, Seam())


def test_a_replay_the_seam_refuses_propagates() -> None:
    uow = _uow_with([_doc(1, qty=-5)])
    with pytest.raises(ValueError, match="no work order for seq 1"):
        replay_rejected_event(ReplayRejectedEvent(_rejected_id(uow, 1), "ctl", _doc(1)), uow,
                              Seam(refuse=frozenset({1})))
    assert uow.commits == 0 and uow.events.streams[STREAM]["accepted"] == 0
