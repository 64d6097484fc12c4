"""A controller's actions on the ingest: accept a gap, replay a rejected event, register an edge.

Each is a handler on the unit of work (``handler(command, uow, ...)``); the pure decision stays
in :mod:`central.domain.stream_cursor` (which seqs a gap acceptance skips and releases, what
becomes of each open gap). Gap acceptance and replay post what they accept through the posting
seam bound to the unit of work's transaction (``post``, as :func:`.store.store_batch` does), so
they run on a fake unit of work in the tests. :func:`accept_gap` and :func:`replay_rejected`
keep the old session-taking form for callers that already hold a transaction (tests): they run
the handler in it. Alerts are acknowledged by the one alert service
(:mod:`central.service_layer.alerts`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from central.adapters.db.models_ingest import EdgeRow, EventRow, EventStatus
from central.adapters.unit_of_work import SqlAlchemyUnitOfWork
from central.domain.commands import AcceptGap, RegisterEdge, ReplayRejectedEvent
from central.domain.stored_events import EVENT_FIELDS, StoredEvent
from central.domain.stream_cursor import GapAcceptance
from central.errors import Conflict, InvalidInput, NotFound
from central.service_layer.ingest.posting import post_events
from central.service_layer.ingest.seam import PostingHandler
from central.service_layer.ingest.store import DEFAULT_MAX_EVENT_QTY, event_values, load_cursor, machine_problem
from central.service_layer.unit_of_work import AbstractUnitOfWork
from shared.contract import ID_PATTERN, Event, problem_of

log = logging.getLogger(__name__)

__all__ = [
    "GapAccepted",
    "ReplayedEvent",
    "accept_stream_gap",
    "replay_rejected_event",
    "bound_posting",
    "accept_gap",
    "replay_rejected",
    "register_edge",
    "stored_event",
]

Post = Callable[[Sequence[StoredEvent]], None]
"""The posting seam bound to the handler's transaction."""

DEFAULT_SKEW = timedelta(minutes=5)
"""How far ahead of the receive time an event's ``ts`` may be before it is flagged ``clock_skew``."""


def stored_event(row: EventRow) -> StoredEvent:
    """The posting seam's value of a stored event row."""
    return StoredEvent(row.id, *(getattr(row, name) for name in EVENT_FIELDS))


def bound_posting(uow: AbstractUnitOfWork, posting: PostingHandler) -> Post:
    """``posting`` bound to ``uow``'s transaction: what the handlers call to post."""

    def post(events: Sequence[StoredEvent]) -> None:
        posting(uow.session, events)

    return post


@dataclass(frozen=True)
class GapAccepted:
    stream: str
    acked_through: int
    skipped: int
    released: int


@dataclass(frozen=True)
class ReplayedEvent:
    """A replayed event: its id, and whether it was posted (``accepted``) or still waits behind
    an open gap (``pending``)."""

    event_id: int
    status: str


def accept_stream_gap(cmd: AcceptGap, uow: AbstractUnitOfWork, post: Post) -> GapAccepted:
    """Give up on the missing seqs up to ``cmd.through``: held events behind them are released
    (posted in seq order) and the cursor moves past them. A missing seq that arrives later
    is stored as rejected ("arrived after its gap was accepted"), so nothing is lost."""
    if not cmd.reason.strip():
        raise InvalidInput("a reason is required to accept a gap")
    with uow:
        now = uow.clock()
        stream = uow.events.lock_stream(cmd.stream)
        if stream is None:
            raise NotFound(f"no stream {cmd.stream!r}")
        if cmd.through <= stream.acked_through:
            raise Conflict(f"stream {cmd.stream} is already acked through {stream.acked_through}",
                           {"acked_through": stream.acked_through})
        if cmd.through > stream.last_seq:
            raise InvalidInput(
                f"through {cmd.through} is beyond the last seq received ({stream.last_seq}); only a gap before "
                "received events can be accepted", {"last_seq": stream.last_seq},
            )
        cursor = load_cursor(uow, stream.edge, cmd.stream, stream.acked_through, stream.last_seq, stream.skipped)
        done = cursor.accept_gap(cmd.through)
        new_cursor = done.after.acked_through
        released = uow.events.accept_pending(stream.edge, cmd.stream, stream.acked_through, new_cursor, now)
        assert tuple(e.seq for e in released) == done.released, "the cursor and the stored events disagree"
        _settle_gaps(uow, cmd, done, now)
        refused = post_events(uow, post, released, now)
        uow.events.advance_stream(cmd.stream, accepted=len(released) - len(refused), skipped=done.skipped,
                                  acked_through=new_cursor)
        uow.commit()
    log.warning("gap of stream %s accepted through %s by %s (%s seqs skipped): %s",
                cmd.stream, cmd.through, cmd.user, done.skipped, cmd.reason)
    return GapAccepted(cmd.stream, new_cursor, done.skipped, len(released) - len(refused))


def _settle_gaps(uow: AbstractUnitOfWork, cmd: AcceptGap, done: GapAcceptance, now: datetime) -> None:
    for gap in uow.events.open_gaps_of(cmd.stream):
        fate, first = done.fate(gap.from_seq, gap.through_seq)
        if fate in ("accepted", "filled"):
            uow.events.settle_gap(gap.id, resolution=fate, by=cmd.user, reason=cmd.reason, now=now)
        elif fate == "trimmed":
            uow.events.trim_gap(gap.id, first)


def replay_rejected_event(
    cmd: ReplayRejectedEvent, uow: AbstractUnitOfWork, post: Post, *, require_known_machine: bool = True,
    skew: timedelta = DEFAULT_SKEW,
) -> ReplayedEvent:
    """Re-validate a rejected event (its stored body, or a corrected ``cmd.body`` with the same
    seq) and, when it passes, accept and post it. Refused again: 422, nothing changes. A
    posting the seam refuses propagates: the transaction fails and the event stays rejected."""
    with uow:
        now = uow.clock()
        rej = uow.events.rejected(cmd.rejected_id)
        if rej is None:
            raise NotFound(f"no rejected event {cmd.rejected_id}")
        if rej.status != "open":
            raise Conflict(f"rejected event {cmd.rejected_id} is already {rej.status}")
        event = _revalidated(cmd.body if cmd.body is not None else rej.body, rej.seq)
        stream = uow.events.lock_stream(rej.stream)
        if stream is None:  # pragma: no cover - a rejected event always has its stream
            raise NotFound(f"no stream {rej.stream!r}")
        machines = uow.events.machines([event.machine])
        known = {m: e for m, e, _limit in machines}
        limit = next((lim for _m, _e, lim in machines if lim is not None), DEFAULT_MAX_EVENT_QTY)
        refusal = machine_problem(event.machine, known, rej.edge, require_known_machine)
        if refusal is not None:
            raise InvalidInput(f"event still refused: {refusal[1]}", {"code": refusal[0]})
        values = event_values(event, now, skew, limit)
        uow.events.mark_replayed(rej.id, cmd.user, now)
        if rej.seq > stream.acked_through:  # still behind an open gap: posted when the gap closes
            uow.events.replace_event(rej.event_id, {**values, "status": EventStatus.PENDING})
            uow.commit()
            return ReplayedEvent(rej.event_id, EventStatus.PENDING)
        accepted = uow.events.replace_event(rej.event_id,
                                            {**values, "status": EventStatus.ACCEPTED, "accepted_at": now})
        post([accepted])
        uow.events.advance_stream(rej.stream, accepted=1)
        uow.commit()
        return ReplayedEvent(rej.event_id, EventStatus.ACCEPTED)


def _revalidated(candidate: Any, seq: int) -> Event:
    if isinstance(candidate, Mapping) and candidate.get("seq") != seq:
        raise InvalidInput(f"the corrected event must keep seq {seq}")
    try:
        return Event.model_validate(candidate)
    except ValidationError as exc:
        code, _field, why = problem_of(exc.errors()[0])
        raise InvalidInput(f"event still invalid: {why}", {"code": code}) from None


def accept_gap(
    session: Session, stream_id: str, through: int, reason: str, by: str, posting: PostingHandler, now: datetime
) -> GapAccepted:
    """:func:`accept_stream_gap` in ``session``'s transaction, at ``now``."""
    uow = SqlAlchemyUnitOfWork.joining(session, lambda: now)
    return accept_stream_gap(AcceptGap(stream_id, through, reason, by), uow, bound_posting(uow, posting))


def replay_rejected(
    session: Session,
    rejected_id: int,
    by: str,
    posting: PostingHandler,
    now: datetime,
    *,
    require_known_machine: bool = True,
    skew: timedelta = DEFAULT_SKEW,
    body: dict[str, Any] | None = None,
) -> EventRow:
    """:func:`replay_rejected_event` in ``session``'s transaction, at ``now``; the event row after it."""
    uow = SqlAlchemyUnitOfWork.joining(session, lambda: now)
    done = replay_rejected_event(ReplayRejectedEvent(rejected_id, by, body), uow, bound_posting(uow, posting),
                                 require_known_machine=require_known_machine, skew=skew)
    row = session.get(EventRow, done.event_id, populate_existing=True)
    assert row is not None, f"event {done.event_id} vanished in its own transaction"
    return row


def register_edge(cmd: RegisterEdge, uow: AbstractUnitOfWork) -> EdgeRow:
    """Register an edge box (idempotent for the same plant; 409 if it is in another)."""
    for name, value in (("edge", cmd.edge), ("plant", cmd.plant)):
        if not re.fullmatch(ID_PATTERN.strip("^$"), value):
            raise InvalidInput(f"{name} {value!r} does not match {ID_PATTERN}")
    with uow:
        row = uow.edges.get(cmd.edge)
        if row is not None:
            if row.plant != cmd.plant:
                raise Conflict(f"edge {cmd.edge!r} is registered in plant {row.plant!r}")
            return row
        row = EdgeRow(id=cmd.edge, plant=cmd.plant, registered=uow.clock())
        uow.edges.add(row)
        uow.commit()
        return row
