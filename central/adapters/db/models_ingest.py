"""Tables of the ingest: registered edges and machines, stream cursors, the event store,
gaps, rejected events, quarantined payloads and alerts.

Every event the edge ever sent for a stream has exactly one ``events`` row, whatever became
of it (``accepted``, ``pending`` behind a gap, ``rejected``), under the unique key
``(edge, stream, seq)``; a stream's cursor (``streams.acked_through``) is the highest seq
below which every seq has a row that is not pending.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from central.adapters.db.base import Base, BigId, UtcDateTime

__all__ = [
    "EventStatus",
    "EdgeRow",
    "MachineRow",
    "StreamRow",
    "EventRow",
    "GapRow",
    "RejectedEventRow",
    "QuarantineRow",
    "AlertRow",
]

ID = String(64)


class EventStatus:
    ACCEPTED = "accepted"
    PENDING = "pending"
    REJECTED = "rejected"


class EdgeRow(Base):
    """A registered edge box; batches from edges not listed here are quarantined (when
    ``ingest.require_registration``)."""

    __tablename__ = "edges"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    plant: Mapped[str] = mapped_column(ID)
    registered: Mapped[datetime] = mapped_column(UtcDateTime)
    online: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    status_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: the edge's oldest event central has not acked, from its status message (migration 0008)
    oldest_unacked_ts: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class MachineRow(Base):
    """A known machine. The master-data loader upserts these; ingest only needs the id (and the
    edge, when set, to refuse a machine reported by the wrong box)."""

    __tablename__ = "machines"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    plant: Mapped[str | None] = mapped_column(ID, nullable=True)
    edge: Mapped[str | None] = mapped_column(ID, nullable=True)
    work_center: Mapped[str | None] = mapped_column(ID, nullable=True)
    #: one event's qty above this is held as suspect (``qty_over_limit``); NULL: the default
    max_event_qty: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class StreamRow(Base):
    """Cursor of one edge stream; locked (``FOR UPDATE``) by every transaction that ingests it."""

    __tablename__ = "streams"

    stream: Mapped[str] = mapped_column(ID, primary_key=True)
    edge: Mapped[str] = mapped_column(ID, index=True)
    plant: Mapped[str] = mapped_column(ID)
    acked_through: Mapped[int] = mapped_column(BigInteger, default=0)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    online: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    status_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    batches: Mapped[int] = mapped_column(BigInteger, default=0)
    accepted: Mapped[int] = mapped_column(BigInteger, default=0)
    duplicates: Mapped[int] = mapped_column(BigInteger, default=0)
    rejected: Mapped[int] = mapped_column(BigInteger, default=0)
    skipped: Mapped[int] = mapped_column(BigInteger, default=0)


class EventRow(Base):
    """One event of one stream. ``posting_ts`` is ``ts``, or central's receive time for an event
    stamped too far ahead (flag ``clock_skew``). Columns are NULL only for rejected events whose
    body did not validate (the body is then in ``rejected_events``)."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("edge", "stream", "seq"),
        Index("ix_events_machine_ts", "machine", "ts"),
        Index("ix_events_ts", "ts"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    plant: Mapped[str] = mapped_column(ID)
    edge: Mapped[str] = mapped_column(ID)
    stream: Mapped[str] = mapped_column(ID)
    seq: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(10))
    machine: Mapped[str | None] = mapped_column(ID, nullable=True)
    kind: Mapped[str | None] = mapped_column(String(8), nullable=True)
    ts: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    rx: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    posting_ts: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    received: Mapped[datetime] = mapped_column(UtcDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    qty: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    raw: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class GapRow(Base):
    """A run of seqs missing when a later seq arrived. Closed when the cursor passes it:
    ``resolution`` = ``filled`` or ``accepted`` (by a controller, with a reason)."""

    __tablename__ = "gaps"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    stream: Mapped[str] = mapped_column(ID, index=True)
    edge: Mapped[str] = mapped_column(ID)
    from_seq: Mapped[int] = mapped_column(BigInteger)
    through_seq: Mapped[int] = mapped_column(BigInteger)
    opened: Mapped[datetime] = mapped_column(UtcDateTime)
    closed: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    resolution: Mapped[str | None] = mapped_column(String(16), nullable=True)
    accepted_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    alerted: Mapped[bool] = mapped_column(Boolean, default=False)


class RejectedEventRow(Base):
    """An event refused at ingest (bad field, unknown machine, posting failed); its seq counts
    as delivered, so the stream moves on. ``replay`` re-validates ``body``."""

    __tablename__ = "rejected_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), unique=True)
    edge: Mapped[str] = mapped_column(ID)
    stream: Mapped[str] = mapped_column(ID, index=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    field: Mapped[str] = mapped_column(String(200))
    #: stable reason code (``shared.contract.REJECTION_CODES``); ``reason`` is one sentence
    code: Mapped[str] = mapped_column(String(32), server_default="invalid_value")
    reason: Mapped[str] = mapped_column(Text)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="open")
    received: Mapped[datetime] = mapped_column(UtcDateTime)
    replayed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    replayed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class QuarantineRow(Base):
    """A payload refused whole (unreadable, topic mismatch, unregistered edge). The same
    topic + payload received again bumps ``times`` instead of adding a row."""

    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    topic: Mapped[str] = mapped_column(Text)
    #: stable reason code (``shared.contract.QUARANTINE_CODES``); ``reason`` is one sentence
    code: Mapped[str] = mapped_column(String(32), server_default="bad_header")
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    received: Mapped[datetime] = mapped_column(UtcDateTime)
    last_received: Mapped[datetime] = mapped_column(UtcDateTime)
    times: Mapped[int] = mapped_column(Integer, default=1)


class AlertRow(Base):
    """Something a person should look at. Open alerts with the same ``key`` are merged
    (``count``, ``last_seen``) so a repeating fault is one alert, not thousands."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_key_acked", "key", "acked_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(8))
    key: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    count: Mapped[int] = mapped_column(Integer, default=1)
    created: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    acked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    acked_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # the lifecycle (issue 14, migration 0008): open -> acknowledged -> resolved
    status: Mapped[str] = mapped_column(String(12), default="open", server_default="open", index=True)
    assignee: Mapped[str | None] = mapped_column(String(64), nullable=True)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    plant: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    entity: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    clear_runs: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
