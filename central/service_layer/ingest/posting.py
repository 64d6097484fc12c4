"""Handing newly accepted events to the posting seam, failing closed one event at a time.

The seam (:mod:`central.service_layer.ingest.seam`) gets the events (plain
:class:`~central.domain.stored_events.StoredEvent` values) in seq order in one call;
when it raises, each event is retried alone in a savepoint and the ones it still refuses are
stored as rejected (code ``posting_failed``, body kept for a replay), so one event the costing
layer cannot post never blocks its stream. A database outage propagates: the batch rolls back
and the edge re-sends it. A stored reason carries our own errors' text, never a driver's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError

from central.domain.stored_events import StoredEvent
from central.errors import CentralError
from central.service_layer.unit_of_work import AbstractUnitOfWork

log = logging.getLogger(__name__)

__all__ = ["CENTRAL_FLAGS", "post_events", "posting_reason"]

CENTRAL_FLAGS = ("clock_skew", "qty_over_limit")
"""Flags central adds to a stored event (never on the wire: a replayed body drops them)."""


def posting_reason(exc: BaseException) -> str:
    """One sentence for a stored reason: our own errors' text, never a driver's (SQL, parameters)."""
    if isinstance(exc, CentralError | ValueError) and not isinstance(exc, SQLAlchemyError):  # DomainError included
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"posting failed: {text[:300]}"
    if isinstance(exc, SQLAlchemyError):
        return "posting failed: the database refused the event's postings (details in the central log)"
    return "posting failed: an internal error (details in the central log)"


def post_events(
    uow: AbstractUnitOfWork, post: Callable[[Sequence[StoredEvent]], None], events: Sequence[StoredEvent],
    now: datetime,
) -> list[StoredEvent]:
    """Call the posting seam (``post``, bound to ``uow``'s transaction) with ``events`` in a
    savepoint; the events it refuses are marked rejected, one by one, so the rest still post.
    Database outages propagate (the batch is retried). Returns the refused events."""
    if not events:
        return []
    try:
        with uow.savepoint():
            post(events)
        return []
    except (OperationalError, InterfaceError):
        raise
    except Exception:  # the costing layer refused one of them: find which, post the rest
        log.warning("posting %s events of stream %s failed; retrying one by one", len(events), events[0].stream,
                    exc_info=True)
    refused: list[StoredEvent] = []
    rows: list[dict[str, Any]] = []
    for ev in events:
        try:
            with uow.savepoint():
                post([ev])
        except (OperationalError, InterfaceError):
            raise
        except Exception as exc:
            log.warning("posting event %s/%s failed, stored as rejected", ev.stream, ev.seq, exc_info=True)
            rows.append({"event_id": ev.id, "edge": ev.edge, "stream": ev.stream, "seq": ev.seq, "field": "posting",
                         "code": "posting_failed", "reason": posting_reason(exc), "body": _body_of(ev),
                         "status": "open", "received": now})
            refused.append(ev)
    uow.events.reject(rows, mark=True)
    return refused


def _body_of(ev: StoredEvent) -> dict[str, Any]:
    """The wire form of a stored event (what a replay re-validates)."""
    body: dict[str, Any] = {"seq": ev.seq, "machine": ev.machine, "kind": ev.kind,
                            "ts": ev.ts.isoformat() if ev.ts else None, "rx": ev.rx.isoformat() if ev.rx else None,
                            "flags": [f for f in ev.flags if f not in CENTRAL_FLAGS], "raw": ev.raw}
    for key in ("qty", "state", "reason"):
        if getattr(ev, key) is not None:
            body[key] = getattr(ev, key)
    return body
