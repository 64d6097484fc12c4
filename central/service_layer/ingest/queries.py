"""Read side of the ingest for the API (views): events, streams, quarantine, rejected events, edges.
Alerts are listed by the one alert service (:func:`central.service_layer.alerts.list_alerts`).

Lists page by id (keyset): pass the last id seen as ``after``; ``next`` is None on the last page.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

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

__all__ = ["Page", "get_event", "list_events", "list_streams", "list_quarantine", "list_rejected", "list_edges"]

Page = dict[str, Any]


def _page(session: Session, stmt: Select[Any], id_col: Any, limit: int, after: int | None,
          dump: Any, key: str) -> Page:
    rows, next_after = keyset_page(session, stmt, id_col, limit, after)
    return {key: [dump(r) for r in rows], "next": next_after}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def event_dict(r: EventRow) -> dict[str, Any]:
    return {
        "id": r.id, "plant": r.plant, "edge": r.edge, "stream": r.stream, "seq": r.seq, "status": r.status,
        "machine": r.machine, "kind": r.kind, "ts": _iso(r.ts), "rx": _iso(r.rx), "posting_ts": _iso(r.posting_ts),
        "received": _iso(r.received), "accepted_at": _iso(r.accepted_at), "qty": r.qty, "state": r.state,
        "reason": r.reason, "flags": r.flags, "raw": r.raw,
    }


def get_event(session: Session, event_id: int) -> dict[str, Any]:
    """One stored event as :func:`event_dict`, read again (a handler may just have changed it)."""
    row = session.get(EventRow, event_id, populate_existing=True)
    if row is None:
        raise NotFound(f"no event {event_id}")
    return event_dict(row)


def list_events(
    session: Session, *, limit: int, after: int | None = None, machine: str | None = None, kind: str | None = None,
    since: datetime | None = None, until: datetime | None = None, stream: str | None = None,
    status: str | None = None, edge: str | None = None,
) -> Page:
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
    return _page(session, stmt, EventRow.id, limit, after, event_dict, "events")


def list_streams(session: Session) -> list[dict[str, Any]]:
    gaps: dict[str, list[dict[str, Any]]] = {}
    for g in session.scalars(select(GapRow).where(GapRow.closed.is_(None)).order_by(GapRow.id)):
        gaps.setdefault(g.stream, []).append({"id": g.id, "from": g.from_seq, "through": g.through_seq,
                                              "opened": _iso(g.opened)})
    held = dict(session.execute(select(EventRow.stream, func.count()).where(EventRow.status == "pending")
                                .group_by(EventRow.stream)).tuples().all())
    out = []
    for s in session.scalars(select(StreamRow).order_by(StreamRow.edge, StreamRow.stream)):
        out.append({
            "stream": s.stream, "edge": s.edge, "plant": s.plant, "last_seq": s.last_seq,
            "acked_through": s.acked_through, "held": held.get(s.stream, 0), "gaps": gaps.get(s.stream, []),
            "first_seen": _iso(s.first_seen), "last_seen": _iso(s.last_seen), "online": s.online,
            "status_at": _iso(s.status_at), "batches": s.batches, "accepted": s.accepted,
            "duplicates": s.duplicates, "rejected": s.rejected, "skipped": s.skipped,
        })
    return out


def _quarantine_dict(r: QuarantineRow) -> dict[str, Any]:
    preview = r.payload[:2048]
    try:
        text: str | None = preview.decode("utf-8")
        b64 = None
    except UnicodeDecodeError:
        text, b64 = None, base64.b64encode(preview).decode()
    return {"id": r.id, "topic": r.topic, "code": r.code, "reason": r.reason, "size": r.size, "times": r.times,
            "received": _iso(r.received), "last_received": _iso(r.last_received),
            "payload_text": text, "payload_base64": b64, "truncated": len(r.payload) > len(preview)}


def list_quarantine(session: Session, *, limit: int, after: int | None = None) -> Page:
    return _page(session, select(QuarantineRow), QuarantineRow.id, limit, after, _quarantine_dict, "quarantine")


def _rejected_dict(r: RejectedEventRow) -> dict[str, Any]:
    return {"id": r.id, "event_id": r.event_id, "edge": r.edge, "stream": r.stream, "seq": r.seq,
            "field": r.field, "code": r.code, "reason": r.reason, "body": r.body, "status": r.status,
            "received": _iso(r.received), "replayed_at": _iso(r.replayed_at), "replayed_by": r.replayed_by}


def list_rejected(session: Session, *, limit: int, after: int | None = None, status: str | None = None,
                  stream: str | None = None) -> Page:
    stmt = select(RejectedEventRow)
    if status is not None:
        stmt = stmt.where(RejectedEventRow.status == status)
    if stream is not None:
        stmt = stmt.where(RejectedEventRow.stream == stream)
    return _page(session, stmt, RejectedEventRow.id, limit, after, _rejected_dict, "rejected_events")


def edge_dict(r: EdgeRow) -> dict[str, Any]:
    return {"id": r.id, "plant": r.plant, "registered": _iso(r.registered), "online": r.online,
            "status_at": _iso(r.status_at), "version": r.version}


def list_edges(session: Session) -> list[dict[str, Any]]:
    return [edge_dict(r) for r in session.scalars(select(EdgeRow).order_by(EdgeRow.id))]


def count_rows(session: Session, model: type[Base]) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)
