"""Alerts raised by costing (negative inventory, late events, held events), in the ingest's
``alerts`` table: open alerts with the same key merge (count, last seen)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.adapters.db.models_ingest import AlertRow

log = logging.getLogger(__name__)

__all__ = ["raise_alert"]


def raise_alert(
    session: Session, kind: str, key: str, message: str, detail: dict[str, Any], severity: str = "warning"
) -> None:
    """Open an alert, or bump the open one with the same key."""
    now = datetime.now(UTC)
    row = session.scalars(
        select(AlertRow).where(AlertRow.key == key, AlertRow.acked_at.is_(None)).limit(1)
    ).first()
    if row is None:
        session.add(AlertRow(kind=kind, severity=severity, key=key, message=message, detail=detail, count=1,
                             created=now, last_seen=now))
    else:
        row.count += 1
        row.last_seen = now
        row.detail = detail
    log.warning("alert %s: %s", kind, message)
