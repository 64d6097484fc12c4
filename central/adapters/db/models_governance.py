"""Tables of governance: the hash-chained audit log, its chain head, approval requests, and the
seals of the ledger.

``audit_log`` is append-only (database triggers refuse UPDATE and DELETE, see migration
``0003_governance``) and every record carries the hash of the one before it. ``audit_head`` is a
single row holding the last sequence number and hash: writers lock it (``SELECT ... FOR UPDATE``
on PostgreSQL; SQLite has one writer at a time) so two appends can never fork the chain, and the
verifier compares the end of the chain with it so that a deleted tail is noticed too.

``ledger_seals`` and its member tables record which journal entries and lines each seal covers and
their hashes when sealed (one row per entry and per line: an entry is in exactly one seal, the
primary key says so); the seal's digest itself lives in the audit chain (``ledger.seal`` records),
see :mod:`central.service_layer.governance.seal`. All three are append-only (migration ``0007_ledger_seal``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text, event, insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.schema import Table

from central.adapters.db.base import Base, BigId, UtcDateTime

__all__ = ["AuditRow", "AuditHeadRow", "ApprovalRow", "LedgerSealRow", "LedgerSealEntryRow", "LedgerSealLineRow",
           "GENESIS_HASH", "HEAD_ID"]

GENESIS_HASH = "0" * 64
"""``prev_hash`` of the first record of the chain."""

HEAD_ID = 1
"""Primary key of the one row of ``audit_head``."""


class AuditRow(Base):
    """One audited action. ``seq`` is the position in the chain (1, 2, 3, ... without gaps)."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
                                     autoincrement=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    role: Mapped[str | None] = mapped_column(String(16), nullable=True)
    token_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(300))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    request_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_audit_log_actor_seq", "actor", "seq"),
        Index("ix_audit_log_action_seq", "action", "seq"),
        Index("ix_audit_log_target", "target"),
    )


class AuditHeadRow(Base):
    """The chain head: the last record's ``seq`` and ``hash`` (0 and the genesis hash when empty)."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


@event.listens_for(AuditHeadRow.__table__, "after_create")
def _seed_head(target: Table, connection: Connection, **_kw: Any) -> None:
    """``metadata.create_all`` (unit tests, tools) gets the head row the migration inserts."""
    connection.execute(insert(target).values(id=HEAD_ID, seq=0, hash=GENESIS_HASH))


class ApprovalRow(Base):
    """A change waiting for (or given) a second person's decision.

    ``status``: ``pending`` -> ``approved`` (applied in the approving transaction; ``result`` holds
    what the applier returned) or ``rejected``. ``required_role`` is the role the approver needs.
    """

    __tablename__ = "approvals"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(Text)
    target: Mapped[str | None] = mapped_column(String(300), nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    payload_digest: Mapped[str] = mapped_column(String(64))
    required_role: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_role: Mapped[str | None] = mapped_column(String(16), nullable=True)
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decided_role: Mapped[str | None] = mapped_column(String(16), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    __table_args__ = (
        Index("ix_approvals_status_id", "status", "id"),
        Index("ix_approvals_kind_status", "kind", "status"),
        Index("ix_approvals_payload_digest", "payload_digest"),
    )


class LedgerSealRow(Base):
    """One seal: the journal entries of one entity sealed together, and their digest.

    The authoritative copy of the digest is the ``ledger.seal`` audit record (target
    ``ledger_seal/<id>``); this row lets the sealer find where to look from without reading JSON.
    """

    __tablename__ = "ledger_seals"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entity: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str] = mapped_column(String(16))
    period: Mapped[str | None] = mapped_column(String(64), nullable=True)
    sealed_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    entries: Mapped[int] = mapped_column(Integer)
    lines: Mapped[int] = mapped_column(Integer)
    first_entry: Mapped[int] = mapped_column(BigInteger)
    last_entry: Mapped[int] = mapped_column(BigInteger)
    digest: Mapped[str] = mapped_column(String(64))


class LedgerSealEntryRow(Base):
    """A journal entry's membership of a seal and its hash when sealed (the key: in one seal only)."""

    __tablename__ = "ledger_seal_entries"

    entry_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
                                          autoincrement=False)
    seal_id: Mapped[int] = mapped_column(BigInteger, index=True)
    hash: Mapped[str] = mapped_column(String(64))


class LedgerSealLineRow(Base):
    """A journal line's hash when its entry was sealed."""

    __tablename__ = "ledger_seal_lines"

    line_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
                                         autoincrement=False)
    entry_id: Mapped[int] = mapped_column(BigInteger)
    seal_id: Mapped[int] = mapped_column(BigInteger, index=True)
    hash: Mapped[str] = mapped_column(String(64))
