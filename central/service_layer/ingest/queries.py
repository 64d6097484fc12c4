"""Read side of the ingest for the API (views): events, streams, quarantine, rejected events, edges.
Alerts are listed by the one alert service (:func:`central.service_layer.alerts.list_alerts`).

Lists page by id (keyset): pass the last id seen as ``after``; ``next`` is None on the last page.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session
from typing_extensions import TypedDict

from central.adapters.db.base import Base
from central.adapters.db.models_ingest import (
    EdgeRow,
    EventRow,
    GapRow,
    QuarantineRow,
    RejectedEventRow,
    StreamRow,
)
from central.adapters.db.paging import keyset_page
from central.errors import NotFound

__all__ = [
    "EventView", "EventPage", "GapView", "StreamView", "QuarantinedView", "QuarantinePage", "RejectedView",
    "RejectedPage", "EdgeView",
    "get_event", "list_events", "list_streams", "list_quarantine", "list_rejected", "list_edges",
]


class EventView(TypedDict):
    """A stored event (instants: ISO 8601, UTC, ``Z``)."""

    id: int
    plant: str
    edge: str
    stream: str
    seq: int
    status: str
    machine: str | None
    kind: str | None
    ts: str | None
    rx: str | None
    posting_ts: str | None
    received: str | None
    accepted_at: str | None
    qty: int | None
    state: str | None
    reason: str | None
    flags: Any
    raw: Any


class EventPage(TypedDict):
    events: list[EventView]
    #: the last id of this page (``after`` for the next one), None on the last page
    next: int | None


GapView = TypedDict("GapView", {"id": int, "from": int, "through": int, "opened": str | None})
"""An open gap of a stream: the missing seqs ``from`` .. ``through``."""


class StreamView(TypedDict):
    stream: str
    edge: str
    plant: str
    last_seq: int
    acked_through: int
    #: events stored above the cursor, waiting behind a gap
    held: int
    gaps: list[GapView]
    first_seen: str | None
    last_seen: str | None
    online: bool | None
    status_at: str | None
    batches: int
    accepted: int
    duplicates: int
    rejected: int
    skipped: int


class QuarantinedView(TypedDict):
    """A quarantined payload: its first 2 KiB as text (UTF-8) or base64."""

    id: int
    topic: str
    code: str
    reason: str
    size: int
    times: int
    received: str | None
    last_received: str | None
    payload_text: str | None
    payload_base64: str | None
    truncated: bool


class QuarantinePage(TypedDict):
    quarantine: list[QuarantinedView]
    next: int | None


class RejectedView(TypedDict):
    id: int
    event_id: int
    edge: str
    stream: str
    seq: int
    field: str
    code: str
    reason: str
    body: Any
    status: str
    received: str | None
    replayed_at: str | None
    replayed_by: str | None


class RejectedPage(TypedDict):
    rejected_events: list[RejectedView]
    next: int | None


class EdgeView(TypedDict):
    id: str
    plant: str
    registered: str | None
    online: bool | None
    status_at: str | None
    version: str | None


def _page(session: Session, stmt: Select[Any], id_col: Any, limit: int,
          after: int | None) -> tuple[Sequence[Any], int | None]:
    return keyset_page(session, stmt, id_col, limit, after)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def event_dict(r: EventRow) -> EventView:
    return {
        "id": r.id, "plant": r.plant, "edge": r.edge, "stream": r.stream, "seq": r.seq, "status": r.status,
        "machine": r.machine, "kind": r.kind, "ts": _iso(r.ts), "rx": _iso(r.rx), "posting_ts": _iso(r.posting_ts),
        "received": _iso(r.received), "accepted_at": _iso(r.accepted_at), "qty": r.qty, "state": r.state,
        "reason": r.reason, "flags": r.flags, "raw": r.raw,
    }


def get_event(session: Session, event_id: int) -> EventView:
    """One stored event as :func:`event_dict`, read again (a handler may just have changed it)."""
    row = session.get(EventRow, event_id, populate_existing=True)
    if row is None:
        raise NotFound(f"no event {event_id}")
    return event_dict(row)


def list_events(
    session: Session, *, limit: int, after: int | None = None, machine: str | None = None, kind: str | None = None,
    since: datetime | None = None, until: datetime | None = None, stream: str | None = None,
    status: str | None = None, edge: str | None = None,
) -> EventPage:
    stmt = select(EventRow)
    if machine is not None:
        stmt = stmt.where(EventRow.machine == machine)
    if kind is not None:
        stmt = stmt.where(EventRow.kind == kind)
    if since is not None:
        stmt = stmt.where(EventRow.ts >= since)
    if until is not None:
        stmt = stmt.where(EventRow.ts < until)
    if stream is not None:
        stmt = stmt.where(EventRow.stream == stream)
    if edge is not None:
        stmt = stmt.where(EventRow.edge == edge)
    if status is not None:
        stmt = stmt.where(EventRow.status == status)
    rows, next_after = _page(session, stmt, EventRow.id, limit, after)
    return {"events": [event_dict(r) for r in rows], "next": next_after}


def list_streams(session: Session) -> list[StreamView]:
    gaps: dict[str, list[GapView]] = {}
    for g in session.scalars(select(GapRow).where(GapRow.closed.is_(None)).order_by(GapRow.id)):
        gaps.setdefault(g.stream, []).append({"id": g.id, "from": g.from_seq, "through": g.through_seq,
                                              "opened": _iso(g.opened)})
    held = dict(session.execute(select(EventRow.stream, func.count()).where(EventRow.status == "pending")
                                .group_by(EventRow.stream)).tuples().all())
    out: list[StreamView] = []
    for s in session.scalars(select(StreamRow).order_by(StreamRow.edge, StreamRow.stream)):
        out.append({
            "stream": s.stream, "edge": s.edge, "plant": s.plant, "last_seq": s.last_seq,
            "acked_through": s.acked_through, "held": held.get(s.stream, 0), "gaps": gaps.get(s.stream, []),
            "first_seen": _iso(s.first_seen), "last_seen": _iso(s.last_seen), "online": s.online,
            "status_at": _iso(s.status_at), "batches": s.batches, "accepted": s.accepted,
            "duplicates": s.duplicates, "rejected": s.rejected, "skipped": s.skipped,
        })
    return out


def _quarantine_dict(r: QuarantineRow) -> QuarantinedView:
    preview = r.payload[:2048]
    try:
        text: str | None = preview.decode("utf-8")
        b64 = None
    except UnicodeDecodeError:
        text, b64 = None, base64.b64encode(preview).decode()
    return {"id": r.id, "topic": r.topic, "code": r.code, "reason": r.reason, "size": r.size, "times": r.times,
            "received": _iso(r.received), "last_received": _iso(r.last_received),
            "payload_text": text, "payload_base64": b64, "truncated": len(r.payload) > len(preview)}


def list_quarantine(session: Session, *, limit: int, after: int | None = None) -> QuarantinePage:
    rows, next_after = _page(session, select(QuarantineRow), QuarantineRow.id, limit, after)
    return {"quarantine": [_quarantine_dict(r) for r in rows], "next": next_after}


def _rejected_dict(r: RejectedEventRow) -> RejectedView:
    return {"id": r.id, "event_id": r.event_id, "edge": r.edge, "stream": r.stream, "seq": r.seq,
            "field": r.field, "code": r.code, "reason": r.reason, "body": r.body, "status": r.status,
            "received": _iso(r.received), "replayed_at": _iso(r.replayed_at), "replayed_by": r.replayed_by}


def list_rejected(session: Session, *, limit: int, after: int | None = None, status: str | None = None,
                  stream: str | None = None) -> RejectedPage:
    stmt = select(RejectedEventRow)
    if status is not None:
        stmt = stmt.where(RejectedEventRow.status == status)
    if stream is not None:
        stmt = stmt.where(RejectedEventRow.stream == stream)
    rows, next_after = _page(session, stmt, RejectedEventRow.id, limit, after)
    return {"rejected_events": [_rejected_dict(r) for r in rows], "next": next_after}


def edge_dict(r: EdgeRow) -> EdgeView:
    return {"id": r.id, "plant": r.plant, "registered": _iso(r.registered), "online": r.online,
            "status_at": _iso(r.status_at), "version": r.version}


def list_edges(session: Session) -> list[EdgeView]:
    return [edge_dict(r) for r in session.scalars(select(EdgeRow).order_by(EdgeRow.id))]


def count_rows(session: Session, model: type[Base]) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)
