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
- Online, every entry that exists is sealed (one ``ledger.seal`` audit record per entity). The
  seal code is the service's (``central.service_layer.governance.seal``), reading the journal through
  its own column list. Offline (``--sql``) nothing is read: the first sealer run seals them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import context, op

from central.adapters.db.base import UtcDateTime

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


def _seal_what_exists() -> None:
    from sqlalchemy.orm import Session

    from central.service_layer.governance.audit import flush_audit
    from central.service_layer.governance.seal import SEALER, seal_pending

    session = Session(bind=op.get_bind())
    try:
        seal_pending(session, SEALER, "migration")
        flush_audit(session)
        session.flush()
    finally:
        session.close()


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
