"""Record -> event lineage: which machine events an operational record was posted from.

Two tables hold the link. ``event_postings.record_id`` is written by the ingest path (one row
per event anyway, so linking costs nothing there); ``record_events`` rows are written when events
are attached after the fact (dispatch, a controller's assignment) and kept when an event leaves
its record (re-attribution clears ``event_postings.record_id``). So every read takes the union of
both (:func:`events_of`), and whatever unlinks an event calls :func:`keep_links` first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import CompoundSelect, select, union
from sqlalchemy.orm import Session

from central.adapters.db.models_costing import EventPostingRow, RecordEventRow

__all__ = ["events_of", "keep_links", "link"]


def events_of(session: Session, record_ids: Iterable[int]) -> dict[int, list[int]]:
    """The event ids each of ``record_ids`` was posted from, ascending (records without any are left out)."""
    wanted = set(record_ids)
    if not wanted:
        return {}
    linked: CompoundSelect[Any] = union(
        select(RecordEventRow.record_id, RecordEventRow.event_id).where(RecordEventRow.record_id.in_(wanted)),
        select(EventPostingRow.record_id, EventPostingRow.event_id).where(EventPostingRow.record_id.in_(wanted)),
    )
    out: dict[int, list[int]] = defaultdict(list)
    for record_id, event_id in session.execute(linked).tuples():
        out[int(record_id)].append(int(event_id))
    return {k: sorted(v) for k, v in out.items()}


def keep_links(session: Session, rows: Iterable[EventPostingRow]) -> None:
    """Before events leave their production record, write each record -> event link explicitly."""
    pairs = {(r.record_id, r.event_id) for r in rows if r.record_id is not None}
    if not pairs:
        return
    existing = set(session.execute(select(RecordEventRow.record_id, RecordEventRow.event_id).where(
        RecordEventRow.event_id.in_([e for _, e in pairs]))).tuples().all())
    session.add_all(RecordEventRow(record_id=rec, event_id=ev) for rec, ev in pairs - existing)


def link(session: Session, record_id: int, event_ids: Iterable[int]) -> None:
    """Write explicit ``record_events`` links (events attached after the fact)."""
    session.add_all(RecordEventRow(record_id=record_id, event_id=e) for e in event_ids)
