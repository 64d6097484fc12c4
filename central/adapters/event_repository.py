"""The SQLAlchemy events repository (:class:`central.adapters.repository.EventRepository`).

Set-level Core statements only: the ingest's hot path builds no ORM object per event. Events go
in through :func:`~central.adapters.db.dialect.bulk_insert` (``COPY`` on PostgreSQL, the driver's
``executemany`` on SQLite); their ids come back with one indexed range read of ``(seq, id)``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table, insert, select, update
from sqlalchemy.orm import Session

from central.adapters.db.dialect import bulk_insert, for_update, upsert_insert
from central.adapters.db.models_ingest import (
    EdgeRow,
    EventRow,
    EventStatus,
    GapRow,
    MachineRow,
    RejectedEventRow,
    StreamRow,
)
from central.domain.stored_events import EVENT_FIELDS, MachineLimit, OpenGap, RejectedEvent, StoredEvent, StreamState

__all__ = ["SqlEventRepository", "EVENT_COLUMNS"]

EVENT_COLUMNS = ("plant", "edge", "stream", "seq", "status", "machine", "kind", "ts", "rx", "posting_ts", "received",
                 "accepted_at", "qty", "state", "reason", "flags", "raw")
"""The columns an event row is inserted with (every one but ``id``)."""
_JSON_COLUMNS = frozenset({"flags", "raw"})
_EVENTS = cast(Table, EventRow.__table__)
_STREAMS = cast(Table, StreamRow.__table__)
_GAPS = cast(Table, GapRow.__table__)
_REJECTED = cast(Table, RejectedEventRow.__table__)
_STORED = [_EVENTS.c.id, *(_EVENTS.c[name] for name in EVENT_FIELDS)]


class SqlEventRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def edge_plant(self, edge: str) -> str | None:
        plant = self._session.scalar(select(EdgeRow.plant).where(EdgeRow.id == edge))
        return None if plant is None else str(plant)

    def lock_stream(self, stream: str) -> StreamState | None:
        c = _STREAMS.c
        stmt: Select[Any] = select(c.stream, c.edge, c.acked_through, c.last_seq, c.skipped).where(c.stream == stream)
        row = self._session.execute(for_update(self._session, stmt)).first()
        return None if row is None else StreamState(str(row[0]), str(row[1]), int(row[2]), int(row[3]), int(row[4]))

    def create_stream(self, stream: str, edge: str, plant: str, now: datetime) -> None:
        stmt: Any = upsert_insert(self._session, StreamRow).values(
            stream=stream, edge=edge, plant=plant, acked_through=0, last_seq=0, first_seen=now, last_seen=now,
            batches=0, accepted=0, duplicates=0, rejected=0, skipped=0,
        )
        self._session.execute(stmt.on_conflict_do_nothing(index_elements=["stream"]))

    def save_stream(self, stream: str, *, acked_through: int, last_seq: int, accepted: int, duplicates: int,
                    rejected: int, now: datetime) -> None:
        c = _STREAMS.c
        self._session.execute(update(_STREAMS).where(c.stream == stream).values(
            acked_through=acked_through, last_seq=last_seq, last_seen=now, batches=c.batches + 1,
            accepted=c.accepted + accepted, duplicates=c.duplicates + duplicates, rejected=c.rejected + rejected,
        ))

    def held(self, edge: str, stream: str, above: int) -> list[tuple[int, str]]:
        return [(int(s), str(st)) for s, st in self._session.execute(select(_EVENTS.c.seq, _EVENTS.c.status).where(
            _EVENTS.c.edge == edge, _EVENTS.c.stream == stream, _EVENTS.c.seq > above)).tuples()]

    def stored_seqs(self, edge: str, stream: str, lo: int, hi: int) -> set[int]:
        return {int(s) for s in self._session.scalars(select(EventRow.seq).where(
            EventRow.edge == edge, EventRow.stream == stream, EventRow.seq >= lo, EventRow.seq <= hi))}

    def machines(self, machines: Collection[str]) -> list[MachineLimit]:
        if not machines:
            return []
        return [(str(m), e, limit) for m, e, limit in self._session.execute(
            select(MachineRow.id, MachineRow.edge, MachineRow.max_event_qty).where(
                MachineRow.id.in_(list(machines)))).tuples()]

    def insert(self, rows: Sequence[Mapping[str, Any]]) -> dict[int, int]:
        if not rows:
            return {}
        first = rows[0]
        bulk_insert(self._session, _EVENTS, EVENT_COLUMNS, [dict(r) for r in rows], _JSON_COLUMNS)
        c = _EVENTS.c
        return {int(s): int(i) for s, i in self._session.execute(select(c.seq, c.id).where(
            c.edge == first["edge"], c.stream == first["stream"], c.seq >= first["seq"],
            c.seq <= rows[-1]["seq"])).tuples()}

    def accept_pending(self, edge: str, stream: str, above: int, through: int, now: datetime) -> list[StoredEvent]:
        c = _EVENTS.c
        where = (c.edge == edge, c.stream == stream, c.seq > above, c.seq <= through, c.status == EventStatus.PENDING)
        found = self._session.execute(select(*_STORED).where(*where).order_by(c.seq)).tuples().all()
        if not found:
            return []
        self._session.execute(update(_EVENTS).where(*where).values(status=EventStatus.ACCEPTED, accepted_at=now))
        out: list[StoredEvent] = []
        for r in found:
            values = dict(zip(EVENT_FIELDS, r[1:], strict=True))
            values["status"] = EventStatus.ACCEPTED
            out.append(StoredEvent.from_values(int(r[0]), values))
        return out

    def close_gaps(self, stream: str, through: int, now: datetime) -> None:
        self._session.execute(update(_GAPS).where(
            _GAPS.c.stream == stream, _GAPS.c.closed.is_(None), _GAPS.c.through_seq <= through,
        ).values(closed=now, resolution="filled"))

    def open_gaps(self, edge: str, stream: str, gaps: Sequence[tuple[int, int]], now: datetime) -> None:
        if gaps:
            self._session.execute(insert(_GAPS), [
                {"stream": stream, "edge": edge, "from_seq": lo, "through_seq": hi, "opened": now, "alerted": False}
                for lo, hi in gaps])

    def reject(self, rows: Sequence[Mapping[str, Any]], *, mark: bool = False) -> None:
        if not rows:
            return
        if mark:
            self._session.execute(update(_EVENTS).where(_EVENTS.c.id.in_([r["event_id"] for r in rows])).values(
                status=EventStatus.REJECTED, accepted_at=None))
        self._session.execute(insert(RejectedEventRow), list(rows))

    def open_gaps_of(self, stream: str) -> list[OpenGap]:
        c = _GAPS.c
        return [OpenGap(int(i), int(lo), int(hi)) for i, lo, hi in self._session.execute(
            select(c.id, c.from_seq, c.through_seq).where(c.stream == stream, c.closed.is_(None))
            .order_by(c.from_seq)).tuples()]

    def settle_gap(self, gap_id: int, *, resolution: str, by: str, reason: str, now: datetime) -> None:
        self._session.execute(update(_GAPS).where(_GAPS.c.id == gap_id).values(
            closed=now, resolution=resolution, accepted_by=by, reason=reason))

    def trim_gap(self, gap_id: int, from_seq: int) -> None:
        self._session.execute(update(_GAPS).where(_GAPS.c.id == gap_id).values(from_seq=from_seq))

    def advance_stream(self, stream: str, *, accepted: int, skipped: int = 0, acked_through: int | None = None) -> None:
        c = _STREAMS.c
        values: dict[str, Any] = {"accepted": c.accepted + accepted, "skipped": c.skipped + skipped}
        if acked_through is not None:
            values["acked_through"] = acked_through
        self._session.execute(update(_STREAMS).where(c.stream == stream).values(**values))

    def rejected(self, rejected_id: int) -> RejectedEvent | None:
        c = _REJECTED.c
        stmt: Select[Any] = select(c.id, c.event_id, c.edge, c.stream, c.seq, c.status, c.body).where(
            c.id == rejected_id)
        row = self._session.execute(for_update(self._session, stmt)).first()
        if row is None:
            return None
        return RejectedEvent(int(row[0]), int(row[1]), str(row[2]), str(row[3]), int(row[4]), str(row[5]), row[6])

    def replace_event(self, event_id: int, values: Mapping[str, Any]) -> StoredEvent:
        c = _EVENTS.c
        self._session.execute(update(_EVENTS).where(c.id == event_id).values(**values))
        row = self._session.execute(select(*_STORED).where(c.id == event_id)).tuples().one()
        return StoredEvent.from_values(int(row[0]), dict(zip(EVENT_FIELDS, row[1:], strict=True)))

    def mark_replayed(self, rejected_id: int, by: str, now: datetime) -> None:
        self._session.execute(update(_REJECTED).where(_REJECTED.c.id == rejected_id).values(
            status="replayed", replayed_at=now, replayed_by=by))
