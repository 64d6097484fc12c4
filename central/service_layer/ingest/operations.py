"""Operator actions on the ingest: accept a gap, replay a rejected event (each in the caller's
transaction, one API request: they post through the session-taking posting seam), and register
an edge (a handler on the unit of work). Alerts are acknowledged by the one alert service
(:mod:`central.service_layer.alerts`)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from central.adapters.db.models_ingest import (
    EdgeRow,
    EventRow,
    EventStatus,
    GapRow,
    MachineRow,
    RejectedEventRow,
)
from central.adapters.unit_of_work import SqlAlchemyUnitOfWork
from central.domain.commands import RegisterEdge
from central.domain.stored_events import EVENT_FIELDS, StoredEvent
from central.domain.stream_cursor import StreamCursor
from central.errors import Conflict, InvalidInput, NotFound
from central.service_layer.ingest.posting import post_events
from central.service_layer.ingest.seam import PostingHandler
from central.service_layer.ingest.store import (
    DEFAULT_MAX_EVENT_QTY,
    event_values,
    lock_stream,
    machine_problem,
)
from central.service_layer.unit_of_work import AbstractUnitOfWork
from shared.contract import ID_PATTERN, Event, problem_of

log = logging.getLogger(__name__)

__all__ = ["GapAccepted", "accept_gap", "replay_rejected", "register_edge", "stored_event"]


def stored_event(row: EventRow) -> StoredEvent:
    """The posting seam's value of a stored event row."""
    return StoredEvent(row.id, *(getattr(row, name) for name in EVENT_FIELDS))


@dataclass(frozen=True)
class GapAccepted:
    stream: str
    acked_through: int
    skipped: int
    released: int


def accept_gap(
    session: Session, stream_id: str, through: int, reason: str, by: str, posting: PostingHandler, now: datetime
) -> GapAccepted:
    """Give up on the missing seqs up to ``through``: held events behind them are released
    (posted in seq order) and the cursor moves past them. A missing seq that arrives later
    is stored as rejected ("arrived after its gap was accepted"), so nothing is lost."""
    if not reason.strip():
        raise InvalidInput("a reason is required to accept a gap")
    stream = lock_stream(session, stream_id)
    if stream is None:
        raise NotFound(f"no stream {stream_id!r}")
    cursor = stream.acked_through
    if through <= cursor:
        raise Conflict(f"stream {stream_id} is already acked through {cursor}", {"acked_through": cursor})
    if through > stream.last_seq:
        raise InvalidInput(
            f"through {through} is beyond the last seq received ({stream.last_seq}); only a gap before "
            "received events can be accepted", {"last_seq": stream.last_seq},
        )
    held = list(session.scalars(select(EventRow).where(
        EventRow.edge == stream.edge, EventRow.stream == stream_id, EventRow.seq > cursor).order_by(EventRow.seq)))
    done = StreamCursor(
        acked_through=cursor, last_seq=stream.last_seq, held=frozenset(e.seq for e in held),
        pending=frozenset(e.seq for e in held if e.status == EventStatus.PENDING), skipped=stream.skipped,
    ).accept_gap(through)
    new_cursor, skipped = done.after.acked_through, done.skipped
    to_release = set(done.released)
    released = [e for e in held if e.seq in to_release]
    for ev in released:
        ev.status = EventStatus.ACCEPTED
        ev.accepted_at = now
    for gap in session.scalars(select(GapRow).where(GapRow.stream == stream_id, GapRow.closed.is_(None))):
        fate, first = done.fate(gap.from_seq, gap.through_seq)
        if fate in ("accepted", "filled"):
            gap.closed, gap.accepted_by, gap.reason = now, by, reason
            gap.resolution = fate
        elif fate == "trimmed":
            gap.from_seq = first
    session.flush()
    refused = post_events(SqlAlchemyUnitOfWork.joining(session), lambda evs: posting(session, evs),
                          [stored_event(e) for e in released], now)
    stream.acked_through = new_cursor
    stream.skipped += skipped
    stream.accepted += len(released) - len(refused)
    log.warning("gap of stream %s accepted through %s by %s (%s seqs skipped): %s",
                stream_id, through, by, skipped, reason)
    return GapAccepted(stream_id, new_cursor, skipped, len(released) - len(refused))


def replay_rejected(
    session: Session,
    rejected_id: int,
    by: str,
    posting: PostingHandler,
    now: datetime,
    *,
    require_known_machine: bool = True,
    skew: timedelta = timedelta(minutes=5),
    body: dict[str, Any] | None = None,
) -> EventRow:
    """Re-validate a rejected event (its stored body, or a corrected ``body`` with the same
    seq) and, when it passes, accept and post it. Refused again: 422, nothing changes."""
    rej = session.get(RejectedEventRow, rejected_id, with_for_update=True)
    if rej is None:
        raise NotFound(f"no rejected event {rejected_id}")
    if rej.status != "open":
        raise Conflict(f"rejected event {rejected_id} is already {rej.status}")
    candidate = body if body is not None else rej.body
    if isinstance(candidate, dict) and candidate.get("seq") != rej.seq:
        raise InvalidInput(f"the corrected event must keep seq {rej.seq}")
    try:
        event = Event.model_validate(candidate)
    except ValidationError as exc:
        code, _field, why = problem_of(exc.errors()[0])
        raise InvalidInput(f"event still invalid: {why}", {"code": code}) from None
    stream = lock_stream(session, rej.stream)
    if stream is None:  # pragma: no cover - a rejected event always has its stream
        raise NotFound(f"no stream {rej.stream!r}")
    machines = session.execute(select(MachineRow.id, MachineRow.edge, MachineRow.max_event_qty)
                               .where(MachineRow.id == event.machine)).tuples().all()
    known = {m: e for m, e, _limit in machines}
    limit = next((lim for _m, _e, lim in machines if lim is not None), DEFAULT_MAX_EVENT_QTY)
    refusal = machine_problem(event.machine, known, rej.edge, require_known_machine)
    if refusal is not None:
        raise InvalidInput(f"event still refused: {refusal[1]}", {"code": refusal[0]})
    ev = session.get(EventRow, rej.event_id, with_for_update=True)
    assert ev is not None
    for key, value in event_values(event, now, skew, limit).items():
        setattr(ev, key, value)
    rej.replayed_at, rej.replayed_by = now, by
    if ev.seq > stream.acked_through:
        # still behind an open gap: it will be posted when the gap closes
        ev.status = EventStatus.PENDING
        rej.status = "replayed"
        return ev
    ev.status, ev.accepted_at = EventStatus.ACCEPTED, now
    session.flush()
    posting(session, [stored_event(ev)])  # a refusal propagates: the request fails, the event stays rejected
    rej.status = "replayed"
    stream.accepted += 1
    return ev


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
