"""The one alert service: ingest and costing raise alerts here, inside the caller's transaction.

The merge rule is :mod:`central.domain.alerts`; this module only finds the open alert with the
same key (the oldest, should two ever be open) and writes the rule's result to ``alerts``. The
time comes from the caller (``now``, read from its injected clock), never from the wall clock
here, so a test can pin it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.adapters.db.models_ingest import AlertRow
from central.domain.alerts import AlertOccurrence, AlertState

log = logging.getLogger(__name__)

__all__ = ["raise_alert"]


def raise_alert(
    session: Session,
    kind: str,
    key: str,
    message: str,
    now: datetime,
    *,
    severity: str = "warning",
    detail: Mapping[str, Any] | None = None,
) -> AlertRow:
    """Open an alert, or merge this occurrence into the open one with the same ``key``."""
    occ = AlertOccurrence(kind, key, message, now, severity, detail or {})
    row = session.scalar(
        select(AlertRow).where(AlertRow.key == occ.stored_key, AlertRow.acked_at.is_(None))
        .order_by(AlertRow.id).limit(1)
    )
    if row is None:
        state = AlertState.opened(occ)
        row = AlertRow(kind=state.kind, severity=state.severity, key=state.key, message=state.message,
                       detail=dict(state.detail), count=state.count, created=state.created,
                       last_seen=state.last_seen)
        session.add(row)
    else:
        state = _state(row).merged(occ)
        row.count, row.last_seen = state.count, state.last_seen
        row.message, row.detail = state.message, dict(state.detail)
    log.warning("alert %s (%s, seen %s times): %s", kind, occ.stored_key, state.count, message)
    return row


def _state(row: AlertRow) -> AlertState:
    return AlertState(kind=row.kind, severity=row.severity, key=row.key, message=row.message,
                      detail=row.detail or {}, count=row.count, created=row.created, last_seen=row.last_seen)
