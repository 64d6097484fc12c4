"""The ingest handler (``store_batch``) and the posting fail-closed step on a fake unit of work.

No database: ``uow.events`` is ``tests.support.fake_uow.FakeEvents`` (dicts), savepoints undo
its changes on an exception, and the posting seam is a plain function. The pure cursor decides;
these tests check that the handler applies its decisions: rows, statuses, gaps, rejections,
the cursor row, and what reaches the posting seam, in which order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import orjson
import pytest

from central.domain.master_data import MasterData
from central.domain.stored_events import StoredEvent
from central.service_layer.ingest.posting import post_events
from central.service_layer.ingest.store import StoreRefused, StoreResult, store_batch
from shared.contract import assemble_batch, decode_batch, format_ts
from tests.support.fake_uow import NOW, FakeUnitOfWork, stored

PLANT, EDGE, STREAM = "P1", "edge-1", "s-1"


def _batch(seqs: Sequence[int], machine: str = "M1", bad: frozenset[int] = frozenset(), edge: str = EDGE,
           plant: str = PLANT) -> object:
    events = []
    for seq in seqs:
        ts = format_ts(NOW - timedelta(minutes=10) + timedelta(seconds=seq))
        doc: dict[str, object] = {"seq": seq, "machine": machine, "kind": "count", "ts": ts, "rx": ts, "qty": 1,
                                  "flags": [], "raw": {"tag": "good", "value": seq, "prev": seq - 1}}
        if seq in bad:
            doc["qty"] = -5  # fails validation: stored as rejected
        events.append(orjson.dumps(doc))
    return decode_batch(assemble_batch(plant, edge, STREAM, events))


class Seam:
    """The posting seam: records what it was given; refuses the seqs in ``refuse``."""

    def __init__(self, refuse: frozenset[int] = frozenset()) -> None:
        self.refuse = refuse
        self.calls: list[list[int]] = []

    def __call__(self, events: Sequence[StoredEvent]) -> None:
        self.calls.append([e.seq for e in events])
        for e in events:
            if e.seq in self.refuse:
                raise ValueError(f"no work order for seq {e.seq}")

    @property
    def posted(self) -> list[int]:
        """Seqs of the calls that did not raise (what a savepoint kept)."""
        return [s for call in self.calls if not (set(call) & self.refuse) for s in call]


def _uow() -> FakeUnitOfWork:
    uow = FakeUnitOfWork(MasterData())
    uow.events.edges[EDGE] = PLANT
    uow.events.machines_["M1"] = (EDGE, None)
    return uow


def _store(uow: FakeUnitOfWork, batch: object, seam: Seam, *, registration: bool = True) -> StoreResult | StoreRefused:
    return store_batch(uow, batch, post=seam, now=NOW, skew=timedelta(minutes=5),  # type: ignore[arg-type]
                       require_registration=registration, require_known_machine=True)


def test_a_contiguous_batch_is_stored_accepted_posted_in_order_and_acked() -> None:
    uow, seam = _uow(), Seam()
    result = _store(uow, _batch(range(1, 6)), seam)
    assert isinstance(result, StoreResult)
    assert (result.acked_through, result.accepted, result.duplicates, result.held) == (5, 5, 0, 0)
    assert seam.calls == [[1, 2, 3, 4, 5]]  # one call, seq order
    assert {r["status"] for r in uow.events.rows.values()} == {"accepted"}
    stream = uow.events.streams[STREAM]
    assert (stream["acked_through"], stream["last_seq"], stream["accepted"], stream["batches"]) == (5, 5, 5, 1)


def test_statements_per_batch_do_not_grow_with_its_size() -> None:
    counts = []
    for size in (5, 500):
        uow = _uow()
        _store(uow, _batch(range(1, size + 1)), Seam())
        counts.append(uow.events.statements)
    assert counts[0] == counts[1], counts


def test_a_resent_batch_is_a_no_op_counted_as_duplicates() -> None:
    uow, seam = _uow(), Seam()
    _store(uow, _batch([1, 2, 3]), seam)
    again = _store(uow, _batch([1, 2, 3]), seam)
    assert isinstance(again, StoreResult)
    assert (again.acked_through, again.accepted, again.duplicates) == (3, 0, 3)
    assert seam.calls == [[1, 2, 3]] and len(uow.events.rows) == 3
    assert uow.events.streams[STREAM]["duplicates"] == 3


def test_a_gap_holds_later_events_until_it_fills_then_posts_them_in_seq_order() -> None:
    uow, seam = _uow(), Seam()
    _store(uow, _batch([1, 2]), seam)
    held = _store(uow, _batch([5, 6]), seam)
    assert isinstance(held, StoreResult)
    assert (held.acked_through, held.held, held.gaps) == (2, 2, [(3, 4)])
    assert [g["closed"] for g in uow.events.gaps] == [None]
    assert uow.events.rows[(STREAM, 5)]["status"] == "pending"
    filled = _store(uow, _batch([3, 4]), seam)
    assert isinstance(filled, StoreResult)
    assert (filled.acked_through, filled.released, filled.accepted) == (6, 2, 4)
    assert seam.calls == [[1, 2], [3, 4, 5, 6]]
    assert uow.events.gaps[0]["resolution"] == "filled"
    assert {r["status"] for r in uow.events.rows.values()} == {"accepted"}


def test_an_invalid_event_is_stored_rejected_and_does_not_block_the_stream() -> None:
    uow, seam = _uow(), Seam()
    result = _store(uow, _batch([1, 2, 3], bad=frozenset({2})), seam)
    assert isinstance(result, StoreResult)
    assert result.acked_through == 3 and [r[0] for r in result.rejected] == [2]
    assert seam.calls == [[1, 3]]
    assert uow.events.rows[(STREAM, 2)]["status"] == "rejected"
    assert [(r["seq"], r["event_id"]) for r in uow.events.rejections] == [(2, uow.events.rows[(STREAM, 2)]["id"])]


def test_an_unknown_machine_is_rejected() -> None:
    uow, seam = _uow(), Seam()
    result = _store(uow, _batch([1], machine="NOPE"), seam)
    assert isinstance(result, StoreResult)
    assert result.rejected == [(1, "unknown_machine", "unknown machine 'NOPE'")]
    assert seam.calls == []


def test_a_refused_posting_rejects_that_event_alone_and_the_rest_post() -> None:
    uow, seam = _uow(), Seam(refuse=frozenset({2}))
    result = _store(uow, _batch([1, 2, 3]), seam)
    assert isinstance(result, StoreResult)
    assert result.acked_through == 3 and result.accepted == 2
    assert result.rejected == [(2, "posting_failed", "posting failed")]
    assert seam.calls == [[1, 2, 3], [1], [2], [3]]  # the batch, then one by one
    assert seam.posted == [1, 3]
    assert uow.events.rows[(STREAM, 2)]["status"] == "rejected"
    (rejection,) = uow.events.rejections
    assert rejection["code"] == "posting_failed" and "no work order for seq 2" in rejection["reason"]
    assert rejection["body"]["seq"] == 2 and rejection["body"]["machine"] == "M1"


def test_post_events_undoes_a_refused_call_through_the_savepoint() -> None:
    uow = _uow()
    _store(uow, _batch([1, 2]), Seam())
    def writes_then_refuses(evs: Sequence[StoredEvent]) -> None:
        uow.events.gaps.append({"stream": "scratch", "closed": None, "through_seq": 0})
        raise ValueError("refused")

    refused = post_events(uow, writes_then_refuses, [stored(uow.events.rows[(STREAM, 1)])], NOW)
    assert [e.seq for e in refused] == [1]
    assert all(g["stream"] != "scratch" for g in uow.events.gaps)  # both attempts rolled back


@pytest.mark.parametrize(("edge", "plant", "registration", "kind"), [
    ("edge-x", PLANT, True, "unregistered_edge"),
    (EDGE, "P2", True, "wrong_plant"),
])
def test_a_batch_from_an_unknown_edge_or_the_wrong_plant_is_refused_whole(
    edge: str, plant: str, registration: bool, kind: str
) -> None:
    uow, seam = _uow(), Seam()
    result = _store(uow, _batch([1], edge=edge, plant=plant), seam, registration=registration)
    assert isinstance(result, StoreRefused) and result.kind == kind
    assert uow.events.rows == {} and seam.calls == []


def test_a_stream_owned_by_another_edge_is_refused() -> None:
    uow, seam = _uow(), Seam()
    uow.events.edges["edge-2"] = PLANT
    _store(uow, _batch([1]), seam)
    result = _store(uow, _batch([2], edge="edge-2"), seam)
    assert isinstance(result, StoreRefused) and result.kind == "stream_owner"
