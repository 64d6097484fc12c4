"""Group commit (``IngestService.handle_events_group``, the worker's ``ingest.group_max_messages``):
several waiting events messages stored in one transaction with one posting call change nothing
that storing each alone would give — per message the same outcome and ack, per stream the same
events, statuses, cursor and postings, and the same ledger to the cent — and a group that
cannot be stored together falls back to storing each message alone."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from support.central import MACHINE, event, make_container, payload, register, stream_state, topic
from support.costing import (
    costing_container,
    load,
    period_id,
    timeline,
    window_start,
    wire_events,
    worked_example_master,
)

from central.adapters.db.models_costing import JournalEntryRow, JournalLineRow
from central.adapters.db.models_ingest import QuarantineRow, RejectedEventRow
from central.bootstrap import Container
from central.domain.stored_events import StoredEvent
from central.service_layer.costing import closing, ledger, work_orders
from central.service_layer.ingest import IngestResult
from central.service_layer.ingest.seam import RecordingHandler

STREAMS = ("s-a", "s-b", "s-c")
Message = tuple[str, bytes]


def _messages(rng: random.Random) -> list[Message]:
    """A messy delivery: three streams in random batch sizes, re-sent batches, batches overtaking
    each other (gaps held and filled), events that do not validate, unreadable payloads, a batch
    from an edge nobody registered and one on a topic its batch does not name."""
    out: list[Message] = []
    for stream in STREAMS:
        seq, parts = 1, []
        while seq <= 40:
            size = rng.randint(1, 9)
            docs = [event(s) for s in range(seq, min(seq + size, 41))]
            if rng.random() < 0.15:
                docs[0] = event(docs[0]["seq"], kind="bogus")
            parts.append(payload(docs, stream=stream))
            seq += size
        out += [(topic(), p) for p in parts]
        out += [(topic(), rng.choice(parts)) for _ in range(3)]  # re-sends
    rng.shuffle(out)  # streams interleaved, batches of one stream overtaking each other
    out.insert(rng.randrange(len(out)), (topic(), b"{not json"))
    out.insert(rng.randrange(len(out)), (topic("edge-9"), payload([1, 2], stream="s-x", edge="edge-9")))
    out.insert(rng.randrange(len(out)), (topic("edge-9"), payload([3], stream="s-x", edge="edge-9")))
    out.insert(rng.randrange(len(out)), (topic("edge-1", "P2"), payload([1], stream="s-y")))
    return out


def _outcomes(results: Sequence[IngestResult]) -> list[str]:
    return [r.outcome for r in results]


def _acks(results: Sequence[IngestResult]) -> list[int | None]:
    return [r.ack[3] if r.ack is not None else None for r in results]


def _state(c: Container) -> dict[str, Any]:
    assert isinstance(c.posting, RecordingHandler)
    with c.read_sessions() as s:
        quarantined = s.scalar(select(func.count()).select_from(QuarantineRow))
        rejected = sorted(s.execute(select(RejectedEventRow.stream, RejectedEventRow.seq, RejectedEventRow.code)).all())
    return {
        "streams": {st: stream_state(c, st) for st in STREAMS},
        "posted": {st: [seq for s_, seq in c.posting.seen if s_ == st] for st in STREAMS},
        "quarantined": quarantined,
        "rejected": [tuple(r) for r in rejected],
    }


@pytest.fixture
def pair(central_db_url: str, central_sqlite_template: Path, tmp_path: Path) -> Iterator[tuple[Container, Container]]:
    """Two containers: storing each message alone (SQLite) and in groups (the parametrised database)."""
    copy = tmp_path / "alone.db"
    copy.write_bytes(central_sqlite_template.read_bytes())
    alone = make_container(f"sqlite:///{copy}")
    grouped = make_container(central_db_url)
    for c in (alone, grouped):
        register(c)
    yield alone, grouped
    alone.dispose()
    grouped.dispose()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_groups_store_exactly_what_each_message_alone_stores(pair: tuple[Container, Container], seed: int) -> None:
    alone, grouped = pair
    rng = random.Random(seed)
    messages = _messages(rng)
    one_by_one = [alone.ingest.handle_events(t, p) for t, p in messages]
    together: list[IngestResult] = []
    i = 0
    while i < len(messages):
        size = rng.randint(1, 12)
        together += grouped.ingest.handle_events_group(messages[i:i + size])
        i += size
    assert _outcomes(together) == _outcomes(one_by_one)
    # a message stored with later batches of its stream is acked with them: never less than alone
    for a, g in zip(_acks(one_by_one), _acks(together), strict=True):
        assert (a is None) == (g is None) and (a is None or g is None or g >= a)
    assert _state(grouped) == _state(alone)
    assert all(stream_state(grouped, st)["acked_through"] == 40 for st in STREAMS)
    assert grouped.metrics.groups.value() > 0 and grouped.metrics.group_fallbacks.value() == 0


def test_one_event_the_costing_refuses_is_rejected_in_its_own_stream_only(central_db_url: str) -> None:
    class RefusesSeq7OfB(RecordingHandler):
        def __call__(self, session: Session, events: Sequence[StoredEvent]) -> None:
            if any((e.stream, e.seq) == ("s-b", 7) for e in events):
                raise ValueError("no order for this event")
            super().__call__(session, events)

    c = make_container(central_db_url, posting=RefusesSeq7OfB())
    try:
        register(c)
        results = c.ingest.handle_events_group(
            [(topic(), payload(list(range(1, 11)), stream=st)) for st in STREAMS])
        assert [r.ack[3] if r.ack else None for r in results] == [10, 10, 10]
        stored = [r.stored for r in results]
        assert stored[0] is not None and stored[0].rejected == [] and stored[0].accepted == 10
        assert stored[1] is not None and stored[1].rejected == [(7, "posting_failed", "posting failed")]
        assert stored[1].accepted == 9
        assert stored[2] is not None and stored[2].rejected == [] and stored[2].accepted == 10
        with c.read_sessions() as s:
            rows = s.execute(select(RejectedEventRow.stream, RejectedEventRow.seq, RejectedEventRow.code)).all()
        assert [tuple(r) for r in rows] == [("s-b", 7, "posting_failed")]
        assert all(stream_state(c, st)["acked_through"] == 10 for st in STREAMS)
    finally:
        c.dispose()


def test_a_group_that_fails_together_is_stored_message_by_message(
    central_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = make_container(central_db_url)
    try:
        register(c)

        def broken(*_a: Any, **_k: Any) -> list[IngestResult]:
            raise RuntimeError("a bug in the joint path")

        monkeypatch.setattr(c.ingest, "_store_together", broken)
        messages = [(topic(), payload([1, 2, 3], stream=st)) for st in STREAMS] + [(topic(), b"garbage")]
        results = c.ingest.handle_events_group(messages)
        assert [r.outcome for r in results] == ["stored", "stored", "stored", "quarantined"]
        assert [r.ack[3] for r in results[:3] if r.ack] == [3, 3, 3]
        assert c.metrics.group_fallbacks.value() == 1
        assert all(stream_state(c, st)["acked_through"] == 3 for st in STREAMS)
    finally:
        c.dispose()


def _ledger(c: Container, deliver: Callable[[Container], None], t0: Any) -> dict[tuple[str, ...], Decimal]:
    load(c, worked_example_master(foh_budget="1000.00", normal_hours="30"))
    with c.write_sessions() as s, s.begin():
        work_orders.create_order(s, "BR-100", Decimal(500), "planner", "WO-G")
        work_orders.release(s, "WO-G", "planner")
        work_orders.start(s, "WO-G", MACHINE, "planner", at=t0)
    deliver(c)
    with c.write_sessions() as s, s.begin():
        work_orders.complete(s, "WO-G", "planner", at=t0 + timedelta(hours=40))
    with c.write_sessions() as s, s.begin():
        closing.close_order(s, "WO-G", "ctl")
    with c.write_sessions() as s, s.begin():
        closing.close_period(s, period_id(), "ctl")
    out: dict[tuple[str, ...], Decimal] = {}
    with c.read_sessions() as s:
        rows = s.execute(select(JournalLineRow, JournalEntryRow.period).join(
            JournalEntryRow, JournalEntryRow.id == JournalLineRow.entry_id)).all()
        for line, period in rows:
            key = (period, line.account, line.role, line.work_order or "", line.item or "")
            out[key] = out.get(key, Decimal(0)) + line.debit - line.credit
        assert ledger.trial_balance(s)["balanced"]
    return {k: v for k, v in out.items() if v != 0}


@pytest.mark.timeout(300)
def test_the_ledger_is_the_same_to_the_cent_with_and_without_groups(central_sqlite_url: str, tmp_path: Path) -> None:
    """The worked example's machine on two streams (an edge box replaced mid-run): batches of 5
    alternating between the streams, delivered one by one and in groups of up to 8 messages."""
    t0 = window_start()
    docs = wire_events(timeline(t0, good=211, scrap=13))
    parts = [docs[i:i + 5] for i in range(0, len(docs), 5)]
    streams: dict[str, list[dict[str, Any]]] = {"s-old": [], "s-new": []}
    messages: list[Message] = []
    for n, part in enumerate(parts):
        name = "s-old" if n % 2 == 0 else "s-new"
        renumbered = [{**d, "seq": len(streams[name]) + k + 1} for k, d in enumerate(part)]
        streams[name] += renumbered
        messages.append((topic(), payload(renumbered, stream=name)))

    def alone(c: Container) -> None:
        for t, p in messages:
            assert c.ingest.handle_events(t, p).outcome == "stored"

    def grouped(c: Container) -> None:
        for i in range(0, len(messages), 8):
            assert {r.outcome for r in c.ingest.handle_events_group(messages[i:i + 8])} == {"stored"}

    copy = tmp_path / "copy.db"
    copy.write_bytes(Path(central_sqlite_url.split("sqlite:///", 1)[1]).read_bytes())
    results = []
    for url, deliver in ((central_sqlite_url, alone), (f"sqlite:///{copy}", grouped)):
        c = costing_container(url)
        try:
            results.append(_ledger(c, deliver, t0))
        finally:
            c.dispose()
    assert results[0] == results[1]
    assert any(k[2] == "finished_goods" for k in results[0])
