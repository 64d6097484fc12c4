"""The exactly-once step: one batch of one stream, inside one database transaction.

Lock the stream's cursor row and load the pure :class:`~central.domain.stream_cursor.StreamCursor`
(counters, and the seqs held above the cursor); the cursor decides, this module writes: drop
duplicates (counted); store the rest under the unique key ``(edge, stream, seq)``, as
``accepted`` when they continue the sequence, ``pending`` when they wait behind a gap,
``rejected`` (with the reason) when they do not validate or come after their gap was accepted;
open a gap row for every run of missing seqs; release held events the batch makes contiguous;
hand every newly accepted event, in seq order, to the posting seam (:mod:`.posting`); advance
the cursor. The caller commits, then publishes the ack.

:func:`store_batch` is a handler on the unit of work (``uow.events``, set-level statements, no
ORM object per event): the pure cursor decides, the handler applies. The posting seam comes in
bound to the transaction (``post``), so the handler runs on a fake unit of work in the tests.

Every refusal carries a stable code (``shared.contract.REJECTION_CODES``) and one sentence;
an exception's text reaches a stored reason only when it is ours (a domain or central error,
or a plain ``ValueError`` of the costing layer): driver messages, SQL and parameters go to the
log only. An event whose ``qty`` exceeds its machine's ``max_event_qty`` (default
:data:`DEFAULT_MAX_EVENT_QTY`) is accepted with the central flag ``qty_over_limit``: the
costing layer holds it in the suspect queue, never posted until a controller accepts it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from central.domain.stored_events import StoredEvent
from central.domain.stream_cursor import Arrival, CursorStep, StreamCursor
from central.service_layer.ingest.posting import CENTRAL_FLAGS, post_events
from central.service_layer.unit_of_work import AbstractUnitOfWork
from shared.contract import DecodedBatch, Event

log = logging.getLogger(__name__)

__all__ = [
    "CENTRAL_FLAGS",
    "DEFAULT_MAX_EVENT_QTY",
    "StoreResult",
    "StoreRefused",
    "StagedBatch",
    "store_batch",
    "stage_batch",
    "finish_batch",
    "event_values",
    "check_machine",
    "machine_problem",
]

DEFAULT_MAX_EVENT_QTY = 1_000_000
"""A machine's bound on one event's qty when master data sets none (API.md)."""

Post = Callable[[Sequence[StoredEvent]], None]
"""The posting seam bound to the batch's transaction."""


@dataclass
class StoreResult:
    acked_through: int
    accepted: int = 0
    #: ``(seq, code, reason)`` of every event stored as rejected
    released: int = 0
    duplicates: int = 0
    held: int = 0
    rejected: list[tuple[int, str, str]] = field(default_factory=list)
    gaps: list[tuple[int, int]] = field(default_factory=list)
    clock_skew: int = 0
    newest_ts: datetime | None = None
    #: ``(seq, machine, qty)`` of accepted events held as suspect for ``qty_over_limit``
    over_limit: list[tuple[int, str, int]] = field(default_factory=list)

    def merge(self, other: StoreResult) -> None:
        """Fold the result of the next part of the same batch (event-by-event storing)."""
        self.acked_through = other.acked_through
        self.accepted += other.accepted
        self.released += other.released
        self.duplicates += other.duplicates
        self.held += other.held
        self.rejected += other.rejected
        self.gaps += other.gaps
        self.clock_skew += other.clock_skew
        self.over_limit += other.over_limit
        if other.newest_ts is not None and (self.newest_ts is None or other.newest_ts > self.newest_ts):
            self.newest_ts = other.newest_ts


@dataclass(frozen=True)
class StoreRefused:
    """The batch cannot be stored at all (quarantine it); ``ack`` is False when the edge must keep it."""

    reason: str
    kind: str


def machine_problem(
    machine: str, known: dict[str, str | None], edge: str, require_known: bool
) -> tuple[str, str] | None:
    """``(code, reason)`` when an event of ``machine`` from ``edge`` is refused, else None."""
    if machine not in known:
        return ("unknown_machine", f"unknown machine {machine!r}") if require_known else None
    owner = known[machine]
    if owner is not None and owner != edge:
        return "wrong_edge", f"machine {machine!r} belongs to edge {owner!r}, not {edge!r}"
    return None


def check_machine(machine: str, known: dict[str, str | None], edge: str, require_known: bool) -> str | None:
    """Why an event of ``machine`` from ``edge`` is refused, or None."""
    problem = machine_problem(machine, known, edge, require_known)
    return problem[1] if problem is not None else None


def event_values(ev: Event, now: datetime, skew: timedelta, max_qty: int | None = None) -> dict[str, Any]:
    """Columns of an accepted or held event; ``posting_ts`` is the receive time when ``ts`` is
    too far ahead (flag ``clock_skew``); a ``qty`` above ``max_qty`` is flagged ``qty_over_limit``."""
    flags: list[str] = list(ev.flags)
    posting_ts = ev.ts
    if ev.ts - skew > now:  # subtracting keeps the sum within range at the top of the wire range
        flags.append("clock_skew")
        posting_ts = now
    if max_qty is not None and ev.qty is not None and ev.qty > max_qty:
        flags.append("qty_over_limit")
    return {
        "machine": ev.machine, "kind": ev.kind, "ts": ev.ts, "rx": ev.rx, "posting_ts": posting_ts,
        "qty": ev.qty, "state": ev.state, "reason": ev.reason, "flags": flags,
        "raw": ev.raw.model_dump(mode="json"),
    }


_PROBLEM_VALUES: dict[str, Any] = {"machine": None, "kind": None, "ts": None, "rx": None, "posting_ts": None,
                                   "qty": None, "state": None, "reason": None, "raw": None}

Refusal = tuple[str, str, str, dict[str, Any]]
"""``(field, code, reason, body)`` of an event stored as rejected."""


def load_cursor(uow: AbstractUnitOfWork, edge: str, stream: str, acked_through: int, last_seq: int,
                skipped: int) -> StreamCursor:
    """The pure cursor of a (locked) stream: its counters, and the seqs held above it."""
    held: frozenset[int] = frozenset()
    pending: frozenset[int] = frozenset()
    if last_seq > acked_through:
        rows = uow.events.held(edge, stream, acked_through)
        held = frozenset(seq for seq, _status in rows)
        pending = frozenset(seq for seq, status in rows if status == "pending")
    return StreamCursor(acked_through=acked_through, last_seq=last_seq, held=held, pending=pending, skipped=skipped)


def _arrive(uow: AbstractUnitOfWork, batch: DecodedBatch, cursor: StreamCursor) -> Arrival:
    """Ask the cursor how the batch's seqs arrive, reading which old seqs are stored when an
    accepted gap makes a late one possible."""
    stored_below: set[int] = set()
    candidates = cursor.late_candidates(batch.seqs)
    if candidates is not None:
        stored_below = uow.events.stored_seqs(batch.edge, batch.stream, *candidates)
    return cursor.arrive(batch.seqs, stored_below)


def _machine_limits(uow: AbstractUnitOfWork, machines: set[str]) -> tuple[dict[str, str | None], dict[str, int]]:
    """Owner edge and ``max_event_qty`` of every known machine among ``machines``."""
    known: dict[str, str | None] = {}
    limits: dict[str, int] = {}
    for m, e, limit in uow.events.machines(machines):
        known[m] = e
        limits[m] = limit if limit is not None else DEFAULT_MAX_EVENT_QTY
    return known, limits


def _refusals(
    batch: DecodedBatch, arrival: Arrival, known: dict[str, str | None], require_known_machine: bool
) -> dict[int, Refusal]:
    """Why each late or fresh seq of ``batch`` is refused (late ones always, fresh ones when
    they did not validate or their machine is refused), in storing order."""
    valid = {e.seq: e for e in batch.events}
    bad = {p.seq: p for p in batch.problems}
    refusals: dict[int, Refusal] = {}
    for s in arrival.late:
        body = valid[s].model_dump(mode="json") if s in valid else bad[s].raw
        refusals[s] = ("seq", "late_after_gap", "seq arrived after its gap was accepted", body)
    for s in arrival.fresh:
        if s in bad:
            refusals[s] = (bad[s].field, bad[s].code, bad[s].reason, bad[s].raw)
        else:
            problem = machine_problem(valid[s].machine, known, batch.edge, require_known_machine)
            if problem is not None:
                refusals[s] = ("machine", problem[0], problem[1], valid[s].model_dump(mode="json"))
    return refusals


def _event_rows(
    batch: DecodedBatch, step: CursorStep, limits: dict[str, int], now: datetime, skew: timedelta,
    result: StoreResult,
) -> list[dict[str, Any]]:
    """Column values of every late and fresh event, with the status the cursor decided, in seq
    order; counts the clock-skewed and over-limit ones into ``result``."""
    valid = {e.seq: e for e in batch.events}
    rows: list[dict[str, Any]] = []
    for s in (*step.late, *step.fresh):  # ascending: late seqs are below the cursor, fresh above
        ev = valid.get(s)
        status = step.status(s)
        if ev is not None:
            values = event_values(ev, now, skew, limits.get(ev.machine, DEFAULT_MAX_EVENT_QTY))
        else:
            values = {**_PROBLEM_VALUES, "flags": []}
        if status != "rejected":
            if "clock_skew" in values["flags"]:
                result.clock_skew += 1
            if ev is not None and ev.qty is not None and "qty_over_limit" in values["flags"]:
                result.over_limit.append((s, ev.machine, ev.qty))
        rows.append({"plant": batch.plant, "edge": batch.edge, "stream": batch.stream, "seq": s, "status": status,
                     "received": now, "accepted_at": now if status == "accepted" else None, **values})
    return rows


@dataclass
class StagedBatch:
    """A batch stored up to its postings (:func:`stage_batch`): what :func:`finish_batch` needs once
    the posting seam has had ``to_post`` (alone, or with the other batches of a group)."""

    batch: DecodedBatch
    step: CursorStep
    result: StoreResult
    to_post: list[StoredEvent]


def store_batch(
    uow: AbstractUnitOfWork,
    batch: DecodedBatch,
    *,
    post: Post,
    now: datetime,
    skew: timedelta,
    require_registration: bool,
    require_known_machine: bool,
) -> StoreResult | StoreRefused:
    """Apply one decoded batch (see the module docstring) in ``uow``'s transaction; the caller
    commits. ``post`` is the posting seam bound to that transaction.

    The seq arithmetic is the pure :class:`~central.domain.stream_cursor.StreamCursor`'s; this
    handler loads its state, asks it, and applies what it decided through ``uow.events``."""
    staged = stage_batch(uow, batch, now=now, skew=skew, require_registration=require_registration,
                         require_known_machine=require_known_machine)
    if isinstance(staged, StoreRefused):
        return staged
    return finish_batch(uow, staged, post_events(uow, post, staged.to_post, now), now)


def stage_batch(
    uow: AbstractUnitOfWork,
    batch: DecodedBatch,
    *,
    now: datetime,
    skew: timedelta,
    require_registration: bool,
    require_known_machine: bool,
) -> StagedBatch | StoreRefused:
    """The first half of :func:`store_batch`: lock the stream, let the cursor decide, store the
    events, refusals, released held events and gaps; everything but the postings and the
    cursor's advance. Only one batch per stream may be staged and not yet finished in a
    transaction (the cursor is saved by :func:`finish_batch`)."""
    events = uow.events
    plant = events.edge_plant(batch.edge)
    if plant is None and require_registration:
        return StoreRefused(f"edge {batch.edge!r} is not registered", "unregistered_edge")
    if plant is not None and plant != batch.plant:
        return StoreRefused(f"edge {batch.edge!r} is registered in plant {plant!r}, not {batch.plant!r}",
                            "wrong_plant")
    stream = events.lock_stream(batch.stream)
    if stream is None:
        events.create_stream(batch.stream, batch.edge, batch.plant, now)
        stream = events.lock_stream(batch.stream)
        assert stream is not None
    if stream.edge != batch.edge:
        return StoreRefused(f"stream {batch.stream!r} belongs to edge {stream.edge!r}", "stream_owner")

    cursor = load_cursor(uow, batch.edge, batch.stream, stream.acked_through, stream.last_seq, stream.skipped)
    arrival = _arrive(uow, batch, cursor)
    fresh = frozenset(arrival.fresh)
    known, limits = _machine_limits(uow, {e.machine for e in batch.events if e.seq in fresh})
    refusals = _refusals(batch, arrival, known, require_known_machine)
    step = cursor.decide(arrival, refusals)
    result = StoreResult(acked_through=cursor.acked_through, duplicates=step.duplicates, gaps=list(step.gaps))

    rows = _event_rows(batch, step, limits, now, skew, result)
    ids = events.insert(rows)
    result.rejected = _store_refusals(uow, batch, refusals, ids, now)
    released: list[StoredEvent] = []
    if step.advanced:
        released = events.accept_pending(batch.edge, batch.stream, step.before.acked_through, step.acked_through,
                                         now)
        events.close_gaps(batch.stream, step.acked_through, now)
    fresh_accepted = [StoredEvent.from_values(ids[r["seq"]], r) for r in rows if r["status"] == "accepted"]
    to_post = sorted([*released, *fresh_accepted], key=lambda e: e.seq) if released else fresh_accepted
    events.open_gaps(batch.edge, batch.stream, step.gaps, now)
    result.released = len(released)
    return StagedBatch(batch, step, result, to_post)


def finish_batch(uow: AbstractUnitOfWork, staged: StagedBatch, refused: Sequence[StoredEvent],
                 now: datetime) -> StoreResult:
    """The second half of :func:`store_batch`, after the posting seam had ``staged.to_post``:
    count what it ``refused`` (stored as rejected by :func:`~.posting.post_events`) and advance
    the stream's cursor."""
    batch, step, result, to_post = staged.batch, staged.step, staged.result, staged.to_post
    for ev in refused:
        result.rejected.append((ev.seq, "posting_failed", "posting failed"))
    refused_ids = {e.id for e in refused}
    result.acked_through = step.acked_through
    result.accepted = len(to_post) - len(refused)
    result.held = len(step.pending)
    posted_ts = [e.posting_ts for e in to_post if e.posting_ts is not None and e.id not in refused_ids]
    result.newest_ts = max(posted_ts) if posted_ts else None
    uow.events.save_stream(batch.stream, acked_through=step.acked_through, last_seq=step.after.last_seq,
                           accepted=result.accepted, duplicates=result.duplicates, rejected=len(result.rejected),
                           now=now)
    return result


def _store_refusals(
    uow: AbstractUnitOfWork, batch: DecodedBatch, refusals: dict[int, Refusal], ids: dict[int, int], now: datetime
) -> list[tuple[int, str, str]]:
    """One ``rejected_events`` row per refused event (its body kept for a replay); returns
    ``(seq, code, reason)`` of each, in storing order."""
    if not refusals:
        return []
    uow.events.reject([
        {"event_id": ids[s], "edge": batch.edge, "stream": batch.stream, "seq": s, "field": f[:200],
         "code": code, "reason": why[:2000], "body": body, "status": "open", "received": now}
        for s, (f, code, why, body) in refusals.items()])
    return [(s, code, why) for s, (_f, code, why, _b) in refusals.items()]
