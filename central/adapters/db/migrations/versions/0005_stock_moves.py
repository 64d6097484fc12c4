"""stock moves: a quantity ledger per item, the running quantity on hand, event postings by record

Revision ID: 0005_stock_moves
Revises: 0004_operations
Create Date: 2026-11-26

Stock moves start with this revision: stock posted before it has no moves, so its quantity on
hand reads 0 and the inventory valuation shows the old ledger balance as a ``difference``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005_stock_moves'
down_revision: str | None = '0004_operations'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# 64-bit keys on PostgreSQL, INTEGER (the rowid) on SQLite; quantities as integer millionths.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table('stock_moves',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('item', sa.String(length=64), nullable=False),
    sa.Column('qty', sa.BigInteger(), nullable=False),
    sa.Column('work_order', sa.String(length=64), nullable=True),
    sa.Column('machine', sa.String(length=64), nullable=True),
    sa.Column('record_id', BIG_ID, nullable=True),
    sa.Column('entry_id', BIG_ID, nullable=True),
    sa.Column('reverses', BIG_ID, nullable=True),
    sa.Column('period', sa.String(length=64), nullable=False),
    sa.Column('posting_date', sa.Date(), nullable=False),
    sa.Column('late', sa.Boolean(), nullable=False),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.Column('user', sa.String(length=64), nullable=False),
    sa.Column('memo', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['journal_entries.id'], name=op.f('fk_stock_moves_entry_id_journal_entries')),
    sa.ForeignKeyConstraint(['record_id'], ['op_records.id'], name=op.f('fk_stock_moves_record_id_op_records')),
    sa.ForeignKeyConstraint(['reverses'], ['stock_moves.id'], name=op.f('fk_stock_moves_reverses_stock_moves')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_moves'))
    )
    with op.batch_alter_table('stock_moves', schema=None) as batch_op:
        batch_op.create_index('ix_stock_moves_item', ['item'], unique=False)
        batch_op.create_index('ix_stock_moves_record_id', ['record_id'], unique=False)
        batch_op.create_index('ix_stock_moves_work_order_item', ['work_order', 'item'], unique=False)
    with op.batch_alter_table('item_stock', schema=None) as batch_op:
        batch_op.add_column(sa.Column('qty', sa.BigInteger(), server_default='0', nullable=False))
    # lineage reads (a move's or an entry's events) look event postings up by record
    with op.batch_alter_table('event_postings', schema=None) as batch_op:
        batch_op.create_index('ix_event_postings_record_id', ['record_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('event_postings', schema=None) as batch_op:
        batch_op.drop_index('ix_event_postings_record_id')
    with op.batch_alter_table('item_stock', schema=None) as batch_op:
        batch_op.drop_column('qty')
    with op.batch_alter_table('stock_moves', schema=None) as batch_op:
        batch_op.drop_index('ix_stock_moves_work_order_item')
        batch_op.drop_index('ix_stock_moves_record_id')
        batch_op.drop_index('ix_stock_moves_item')
    op.drop_table('stock_moves')
