"""Alerts and quarantine rows, written inside the caller's transaction.

An open alert with the same ``key`` is merged (``count`` + 1, ``last_seen``), so a fault that
repeats is one alert, not thousands; the same topic + payload quarantined again bumps
``times`` instead of adding a row.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from central.adapters.db.base import Base
from central.adapters.db.models_ingest import AlertRow, QuarantineRow
from shared.contract import MAX_BATCH_BYTES

__all__ = ["raise_alert", "quarantine_payload", "upsert_insert"]


def upsert_insert(session: Session, model: type[Base]) -> Any:
    """``INSERT`` with ``on_conflict_do_*`` for the session's dialect (SQLite or PostgreSQL)."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(model)
    if name == "sqlite":
        return sqlite.insert(model)
    raise NotImplementedError(f"upsert on {name}")  # pragma: no cover


def raise_alert(
    session: Session,
    kind: str,
    key: str,
    message: str,
    now: datetime,
    *,
    severity: str = "warning",
    detail: dict[str, Any] | None = None,
) -> AlertRow:
    """Open an alert, or merge into the open one with the same ``key``."""
    row = session.scalar(
        select(AlertRow).where(AlertRow.key == key, AlertRow.acked_at.is_(None)).order_by(AlertRow.id).limit(1)
    )
    if row is not None:
        row.count += 1
        row.last_seen = now
        row.message = message
        if detail:
            row.detail = {**row.detail, **detail}
        return row
    row = AlertRow(
        kind=kind, severity=severity, key=key[:200], message=message, detail=detail or {},
        count=1, created=now, last_seen=now,
    )
    session.add(row)
    return row


def quarantine_payload(
    session: Session, topic: str, payload: bytes, reason: str, now: datetime, code: str = "bad_header"
) -> str:
    """Store (or bump) a refused payload with its ``code`` (``shared.contract.QUARANTINE_CODES``)
    and one-sentence ``reason``; returns its digest. Oversized payloads are kept truncated to the
    contract limit (``size`` keeps the real length)."""
    digest = hashlib.sha256(topic.encode("utf-8", "replace") + b"\0" + payload).hexdigest()
    stmt: Insert = upsert_insert(session, QuarantineRow).values(
        digest=digest,
        topic=topic[:1000],
        code=code[:32],
        reason=reason[:2000],
        payload=bytes(payload[:MAX_BATCH_BYTES]),
        size=len(payload),
        received=now,
        last_received=now,
        times=1,
    )
    stmt = stmt.on_conflict_do_update(  # type: ignore[attr-defined]
        index_elements=["digest"],
        set_={"times": QuarantineRow.times + 1, "last_received": now, "reason": reason[:2000], "code": code[:32]},
    )
    session.execute(stmt)
    return digest
