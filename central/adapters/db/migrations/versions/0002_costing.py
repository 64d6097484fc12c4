"""costing: master data, periods, work orders, dispatches, event postings, records, journal

Revision ID: 0002_costing
Revises: 0001_ingest
Create Date: 2026-11-25 14:56:59.870071
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0002_costing'
down_revision: str | None = '0001_ingest'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# 64-bit keys on PostgreSQL, INTEGER (the rowid) on SQLite.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table('item_stock',
    sa.Column('item', sa.String(length=64), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('item', name=op.f('pk_item_stock'))
    )
    op.create_table('master_records',
    sa.Column('section', sa.String(length=32), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('section', 'key', name=op.f('pk_master_records'))
    )
    op.create_table('master_versions',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.Column('user', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('summary', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_master_versions'))
    )
    op.create_table('op_records',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('subkind', sa.String(length=32), nullable=True),
    sa.Column('work_order', sa.String(length=64), nullable=True),
    sa.Column('machine', sa.String(length=64), nullable=True),
    sa.Column('item', sa.String(length=64), nullable=True),
    sa.Column('work_center', sa.String(length=64), nullable=True),
    sa.Column('period', sa.String(length=64), nullable=True),
    sa.Column('posting_date', sa.Date(), nullable=True),
    sa.Column('qty', sa.BigInteger(), nullable=True),
    sa.Column('price', sa.BigInteger(), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=True),
    sa.Column('ref', sa.String(length=200), nullable=True),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.Column('user', sa.String(length=64), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('reversed_by', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_op_records'))
    )
    with op.batch_alter_table('op_records', schema=None) as batch_op:
        batch_op.create_index('ix_op_records_kind_period', ['kind', 'period'], unique=False)
        batch_op.create_index(batch_op.f('ix_op_records_work_order'), ['work_order'], unique=False)

    op.create_table('periods',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('entity', sa.String(length=64), nullable=True),
    sa.Column('start', sa.Date(), nullable=False),
    sa.Column('end', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_by', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_periods'))
    )
    op.create_table('work_orders',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('item', sa.String(length=64), nullable=False),
    sa.Column('qty', sa.BigInteger(), nullable=False),
    sa.Column('due', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('machine', sa.String(length=64), nullable=True),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('released_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('stopped_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_by', sa.String(length=64), nullable=True),
    sa.Column('accruals', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_work_orders'))
    )
    with op.batch_alter_table('work_orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_work_orders_status'), ['status'], unique=False)

    op.create_table('dispatches',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('work_order', sa.String(length=64), nullable=False),
    sa.Column('machine', sa.String(length=64), nullable=False),
    sa.Column('start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('end', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['work_order'], ['work_orders.id'], name=op.f('fk_dispatches_work_order_work_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dispatches'))
    )
    with op.batch_alter_table('dispatches', schema=None) as batch_op:
        batch_op.create_index('ix_dispatches_machine_start', ['machine', 'start'], unique=False)
        batch_op.create_index(batch_op.f('ix_dispatches_work_order'), ['work_order'], unique=False)

    op.create_table('event_postings',
    sa.Column('event_id', BIG_ID, nullable=False),
    sa.Column('machine', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('ts', sa.DateTime(timezone=True), nullable=False),
    sa.Column('qty', sa.BigInteger(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=True),
    sa.Column('reason', sa.String(length=64), nullable=True),
    sa.Column('work_order', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('record_id', BIG_ID, nullable=True),
    sa.Column('late', sa.Boolean(), nullable=False),
    sa.Column('decided_by', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_event_postings_event_id_events')),
    sa.ForeignKeyConstraint(['record_id'], ['op_records.id'], name=op.f('fk_event_postings_record_id_op_records')),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_event_postings'))
    )
    with op.batch_alter_table('event_postings', schema=None) as batch_op:
        batch_op.create_index('ix_event_postings_machine_ts', ['machine', 'ts'], unique=False)
        batch_op.create_index('ix_event_postings_status', ['status'], unique=False)
        batch_op.create_index('ix_event_postings_work_order', ['work_order'], unique=False)

    op.create_table('journal_entries',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('entity', sa.String(length=64), nullable=True),
    sa.Column('period', sa.String(length=64), nullable=False),
    sa.Column('entry_date', sa.Date(), nullable=False),
    sa.Column('kind', sa.String(length=48), nullable=False),
    sa.Column('memo', sa.Text(), nullable=False),
    sa.Column('rule_version', sa.Integer(), nullable=True),
    sa.Column('late', sa.Boolean(), nullable=False),
    sa.Column('original_date', sa.Date(), nullable=True),
    sa.Column('reverses', BIG_ID, nullable=True),
    sa.Column('reversed_by', sa.BigInteger(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('record_id', BIG_ID, nullable=True),
    sa.Column('work_order', sa.String(length=64), nullable=True),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.Column('user', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['record_id'], ['op_records.id'], name=op.f('fk_journal_entries_record_id_op_records')),
    sa.ForeignKeyConstraint(['reverses'], ['journal_entries.id'], name=op.f('fk_journal_entries_reverses_journal_entries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_journal_entries'))
    )
    with op.batch_alter_table('journal_entries', schema=None) as batch_op:
        batch_op.create_index('ix_journal_entries_entity_period', ['entity', 'period'], unique=False)
        batch_op.create_index(batch_op.f('ix_journal_entries_record_id'), ['record_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_journal_entries_work_order'), ['work_order'], unique=False)

    op.create_table('record_events',
    sa.Column('record_id', BIG_ID, nullable=False),
    sa.Column('event_id', BIG_ID, nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_record_events_event_id_events')),
    sa.ForeignKeyConstraint(['record_id'], ['op_records.id'], name=op.f('fk_record_events_record_id_op_records')),
    sa.PrimaryKeyConstraint('record_id', 'event_id', name=op.f('pk_record_events'))
    )
    with op.batch_alter_table('record_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_record_events_event_id'), ['event_id'], unique=False)

    op.create_table('journal_lines',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('entry_id', BIG_ID, nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('account', sa.String(length=32), nullable=False),
    sa.Column('role', sa.String(length=40), nullable=False),
    sa.Column('debit', sa.BigInteger(), nullable=False),
    sa.Column('credit', sa.BigInteger(), nullable=False),
    sa.Column('work_order', sa.String(length=64), nullable=True),
    sa.Column('item', sa.String(length=64), nullable=True),
    sa.Column('work_center', sa.String(length=64), nullable=True),
    sa.Column('reason', sa.String(length=64), nullable=True),
    sa.Column('memo', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['journal_entries.id'], name=op.f('fk_journal_lines_entry_id_journal_entries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_journal_lines'))
    )
    with op.batch_alter_table('journal_lines', schema=None) as batch_op:
        batch_op.create_index('ix_journal_lines_account', ['account'], unique=False)
        batch_op.create_index(batch_op.f('ix_journal_lines_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index('ix_journal_lines_role_work_order', ['role', 'work_order'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('journal_lines', schema=None) as batch_op:
        batch_op.drop_index('ix_journal_lines_role_work_order')
        batch_op.drop_index(batch_op.f('ix_journal_lines_entry_id'))
        batch_op.drop_index('ix_journal_lines_account')

    op.drop_table('journal_lines')
    with op.batch_alter_table('record_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_record_events_event_id'))

    op.drop_table('record_events')
    with op.batch_alter_table('journal_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_journal_entries_work_order'))
        batch_op.drop_index(batch_op.f('ix_journal_entries_record_id'))
        batch_op.drop_index('ix_journal_entries_entity_period')

    op.drop_table('journal_entries')
    with op.batch_alter_table('event_postings', schema=None) as batch_op:
        batch_op.drop_index('ix_event_postings_work_order')
        batch_op.drop_index('ix_event_postings_status')
        batch_op.drop_index('ix_event_postings_machine_ts')

    op.drop_table('event_postings')
    with op.batch_alter_table('dispatches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dispatches_work_order'))
        batch_op.drop_index('ix_dispatches_machine_start')

    op.drop_table('dispatches')
    with op.batch_alter_table('work_orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_work_orders_status'))

    op.drop_table('work_orders')
    op.drop_table('periods')
    with op.batch_alter_table('op_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_op_records_work_order'))
        batch_op.drop_index('ix_op_records_kind_period')

    op.drop_table('op_records')
    op.drop_table('master_versions')
    op.drop_table('master_records')
    op.drop_table('item_stock')
