"""Quarantine: payloads central refuses whole, kept (once per topic + payload) for an operator.

The same topic + payload quarantined again bumps ``times`` instead of adding a row, so an edge
that re-sends a refused batch forever fills no disk.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import Insert
from sqlalchemy.orm import Session

from central.adapters.db.dialect import upsert_insert
from central.adapters.db.models_ingest import QuarantineRow
from shared.contract import MAX_BATCH_BYTES

__all__ = ["quarantine_payload"]


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
