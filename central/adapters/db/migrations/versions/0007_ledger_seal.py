"""ledger seal: journal rows immutable (triggers), seal tables, what exists sealed

Revision ID: 0007_ledger_seal
Revises: 0006_event_bounds
Create Date: 2026-12-03

- ``journal_entries.reversed_by`` goes: it was the only column written after posting. The link is
  the reversal's own ``reverses`` (now unique: an entry is reversed at most once), read both ways.
- ``journal_entries`` and ``journal_lines`` refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL);
  so do the seal tables ``ledger_seals``, ``ledger_seal_entries`` and ``ledger_seal_lines``.
- API tokens that never expire (issued before ``auth.token_expiry_days`` existed, the bootstrap
  admin's among them) and are not revoked expire 90 days after the upgrade.
- Online, every entry that exists is sealed (one ``ledger.seal`` audit record per entity),
  stamped with the time of the upgrade. The sealing below is this revision's own frozen copy of
  what ``central.service_layer.governance.seal`` did when it was written (tables declared here,
  the audit chain appended here): a migration must not change when the service does. It imports
  only the pure hashing (``central.domain.seal_hash``, ``central.domain.audit_chain``), whose
  output is the stored format and so cannot change either. Offline (``--sql``) nothing is read:
  the first sealer run seals them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import context, op

from central.adapters.db.base import UtcDateTime
from central.domain.audit_chain import ChainRecord, normalize_json, record_hash
from central.domain.seal_hash import (
    ALGORITHM,
    ENTRY_COLUMNS,
    LINE_COLUMNS,
    SealedEntry,
    entry_hash,
    line_hash,
    seal_digest,
)

revision: str = '0007_ledger_seal'
down_revision: str | None = '0006_event_bounds'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TOKEN_GRACE_DAYS = 90
APPEND_ONLY_TABLES = ("journal_entries", "journal_lines", "ledger_seals", "ledger_seal_entries", "ledger_seal_lines")

_PG_FUNCTION = """CREATE OR REPLACE FUNCTION sfsync_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only (% refused)', TG_TABLE_NAME, TG_OP;
END
$$ LANGUAGE plpgsql"""


def _pg_triggers(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION sfsync_append_only()",
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION sfsync_append_only()",
    ]


def _sqlite_triggers(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only (UPDATE refused)'); END",
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only (DELETE refused)'); END",
    ]


def upgrade() -> None:
    dialect = op.get_context().dialect.name
    if dialect == 'sqlite':  # a plain column: SQLite drops it in place (no table rebuild)
        op.execute('ALTER TABLE journal_entries DROP COLUMN reversed_by')
    else:
        op.drop_column('journal_entries', 'reversed_by')
    op.create_index('ix_journal_entries_reverses', 'journal_entries', ['reverses'], unique=True)

    op.create_table('ledger_seals',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('entity', sa.String(length=64), nullable=True),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('period', sa.String(length=64), nullable=True),
    sa.Column('sealed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('entries', sa.Integer(), nullable=False),
    sa.Column('lines', sa.Integer(), nullable=False),
    sa.Column('first_entry', sa.BigInteger(), nullable=False),
    sa.Column('last_entry', sa.BigInteger(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_seals'))
    )
    op.create_index(op.f('ix_ledger_seals_sealed_at'), 'ledger_seals', ['sealed_at'])
    op.create_table('ledger_seal_entries',
    sa.Column('entry_id', BIG_ID, autoincrement=False, nullable=False),
    sa.Column('seal_id', sa.BigInteger(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('entry_id', name=op.f('pk_ledger_seal_entries'))
    )
    op.create_index(op.f('ix_ledger_seal_entries_seal_id'), 'ledger_seal_entries', ['seal_id'])
    op.create_table('ledger_seal_lines',
    sa.Column('line_id', BIG_ID, autoincrement=False, nullable=False),
    sa.Column('entry_id', sa.BigInteger(), nullable=False),
    sa.Column('seal_id', sa.BigInteger(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('line_id', name=op.f('pk_ledger_seal_lines'))
    )
    op.create_index(op.f('ix_ledger_seal_lines_seal_id'), 'ledger_seal_lines', ['seal_id'])

    if dialect == 'postgresql':
        op.execute(_PG_FUNCTION)
        for table in APPEND_ONLY_TABLES:
            for ddl in _pg_triggers(table):
                op.execute(ddl)
    elif dialect == 'sqlite':
        for table in APPEND_ONLY_TABLES:
            for ddl in _sqlite_triggers(table):
                op.execute(ddl)

    _expire_old_tokens(dialect)
    if not context.is_offline_mode():
        _seal_what_exists()


def _expire_old_tokens(dialect: str) -> None:
    if context.is_offline_mode():
        if dialect == 'postgresql':
            op.execute("UPDATE api_tokens SET expires = now() + interval '90 days' "
                       "WHERE expires IS NULL AND revoked_at IS NULL")
        elif dialect == 'sqlite':  # naive UTC text with microseconds, as UtcDateTime stores it
            op.execute("UPDATE api_tokens SET expires = strftime('%Y-%m-%d %H:%M:%f', 'now', '+90 days') || '000' "
                       "WHERE expires IS NULL AND revoked_at IS NULL")
        return
    tokens = sa.table('api_tokens', sa.column('expires', UtcDateTime()), sa.column('revoked_at', UtcDateTime()))
    op.get_bind().execute(sa.update(tokens).where(tokens.c.expires.is_(None), tokens.c.revoked_at.is_(None))
                          .values(expires=datetime.now(UTC) + timedelta(days=TOKEN_GRACE_DAYS)))


# --- sealing what exists: frozen at this revision --------------------------------------------

_SEALER = "system:ledger-sealer"
_SEAL_ACTION = "ledger.seal"
_SEAL_LOCK = 0x5F5_5EA1  # the sealer's PostgreSQL advisory lock key
_BATCH = 10_000
_IN_CHUNK = 500
_HEAD_ID = 1

# The journal as stored: every column untyped, so values are hashed as the driver returns them.
_ENTRIES = sa.table("journal_entries", *(sa.column(c) for c in ENTRY_COLUMNS))
_LINES = sa.table("journal_lines", *(sa.column(c) for c in LINE_COLUMNS))
_SEALS = sa.table("ledger_seals", sa.column("id"), sa.column("entity"), sa.column("reason"), sa.column("period"),
                  sa.column("sealed_at", UtcDateTime()), sa.column("entries"), sa.column("lines"),
                  sa.column("first_entry"), sa.column("last_entry"), sa.column("digest"))
_SEAL_ENTRIES = sa.table("ledger_seal_entries", sa.column("entry_id"), sa.column("seal_id"), sa.column("hash"))
_SEAL_LINES = sa.table("ledger_seal_lines", sa.column("line_id"), sa.column("entry_id"), sa.column("seal_id"),
                       sa.column("hash"))
_AUDIT = sa.table("audit_log", sa.column("seq"), sa.column("at", UtcDateTime()), sa.column("actor"),
                  sa.column("role"), sa.column("token_id"), sa.column("action"), sa.column("target"),
                  sa.column("detail", sa.JSON()), sa.column("request_digest"), sa.column("prev_hash"),
                  sa.column("hash"))
_HEAD = sa.table("audit_head", sa.column("id"), sa.column("seq"), sa.column("hash"))


def _seal_what_exists() -> None:
    """Seal every journal entry, one seal per entity per batch of entries (in id order), and
    append one ``ledger.seal`` record per seal to the audit chain."""
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_SEAL_LOCK)))
    now = datetime.now(UTC)
    records: list[dict[str, Any]] = []
    last = 0
    while True:
        rows = [tuple(r) for r in conn.execute(
            sa.select(*_ENTRIES.c).where(_ENTRIES.c.id > last).order_by(_ENTRIES.c.id).limit(_BATCH))]
        if not rows:
            break
        last = int(rows[-1][0])
        lines = _lines_of(conn, [int(r[0]) for r in rows])
        by_entity: dict[str | None, list[SealedEntry]] = defaultdict(list)
        for r in rows:
            entry_id = int(r[0])
            sealed_lines = tuple((int(x[0]), line_hash(x)) for x in lines.get(entry_id, ()))
            by_entity[r[1]].append(SealedEntry(entry_id, entry_hash(r), sealed_lines))
        records += [_seal_one(conn, entity, members, now) for entity, members in by_entity.items()]
        if len(rows) < _BATCH:
            break
    if records:
        _append_to_chain(conn, records)


def _lines_of(conn: sa.Connection, entry_ids: list[int]) -> dict[int, list[tuple[Any, ...]]]:
    out: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for i in range(0, len(entry_ids), _IN_CHUNK):
        stmt = sa.select(*_LINES.c).where(_LINES.c.entry_id.in_(entry_ids[i:i + _IN_CHUNK])).order_by(
            _LINES.c.entry_id, _LINES.c.id)
        for row in conn.execute(stmt):
            out[int(row[1])].append(tuple(row))
    return out


def _seal_one(conn: sa.Connection, entity: str | None, members: list[SealedEntry], now: datetime) -> dict[str, Any]:
    """Store one seal and its members; returns its audit record (not yet appended)."""
    digest = seal_digest(members)
    n_lines = sum(len(m.lines) for m in members)
    first, last = members[0].entry_id, members[-1].entry_id
    seal_id = int(conn.execute(sa.insert(_SEALS).values(
        entity=entity, reason="migration", period=None, sealed_at=now, entries=len(members), lines=n_lines,
        first_entry=first, last_entry=last, digest=digest).returning(_SEALS.c.id)).scalar_one())
    conn.execute(sa.insert(_SEAL_ENTRIES), [{"entry_id": m.entry_id, "seal_id": seal_id, "hash": m.hash}
                                            for m in members])
    line_rows = [{"line_id": line_id, "entry_id": m.entry_id, "seal_id": seal_id, "hash": h}
                 for m in members for line_id, h in m.lines]
    if line_rows:
        conn.execute(sa.insert(_SEAL_LINES), line_rows)
    detail = {"seal": seal_id, "entity": entity, "entries": len(members), "lines": n_lines, "first_entry": first,
              "last_entry": last, "digest": digest, "reason": "migration", "period": None, "algorithm": ALGORITHM}
    return {"at": now, "target": f"ledger_seal/{seal_id}", "detail": normalize_json(detail)}


def _append_to_chain(conn: sa.Connection, records: list[dict[str, Any]]) -> None:
    head = conn.execute(sa.select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == _HEAD_ID).with_for_update()).one()
    seq, prev = int(head[0]), str(head[1])
    rows: list[dict[str, Any]] = []
    for r in records:
        seq += 1
        rec = ChainRecord(seq, r["at"], _SEALER, None, None, _SEAL_ACTION, r["target"], r["detail"], None, prev)
        digest = record_hash(rec)
        rows.append({"seq": seq, "at": r["at"], "actor": _SEALER, "role": None, "token_id": None,
                     "action": _SEAL_ACTION, "target": r["target"], "detail": r["detail"], "request_digest": None,
                     "prev_hash": prev, "hash": digest})
        prev = digest
    conn.execute(sa.insert(_AUDIT), rows)
    conn.execute(sa.update(_HEAD).where(_HEAD.c.id == _HEAD_ID).values(seq=seq, hash=prev))


def downgrade() -> None:
    dialect = op.get_context().dialect.name
    for table in APPEND_ONLY_TABLES:
        if dialect == 'postgresql':
            op.execute(f'DROP TRIGGER IF EXISTS {table}_append_only ON {table}')
            op.execute(f'DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}')
        elif dialect == 'sqlite':
            op.execute(f'DROP TRIGGER IF EXISTS {table}_no_update')
            op.execute(f'DROP TRIGGER IF EXISTS {table}_no_delete')
    if dialect == 'postgresql':
        op.execute('DROP FUNCTION IF EXISTS sfsync_append_only()')
    op.drop_index(op.f('ix_ledger_seal_lines_seal_id'), table_name='ledger_seal_lines')
    op.drop_table('ledger_seal_lines')
    op.drop_index(op.f('ix_ledger_seal_entries_seal_id'), table_name='ledger_seal_entries')
    op.drop_table('ledger_seal_entries')
    op.drop_index(op.f('ix_ledger_seals_sealed_at'), table_name='ledger_seals')
    op.drop_table('ledger_seals')
    op.drop_index('ix_journal_entries_reverses', table_name='journal_entries')
    op.add_column('journal_entries', sa.Column('reversed_by', sa.BigInteger(), nullable=True))
    op.execute('UPDATE journal_entries SET reversed_by = (SELECT r.id FROM journal_entries AS r '
               'WHERE r.reverses = journal_entries.id)')
