"""operations: quality exceptions, maintenance requests

Revision ID: 0004_operations
Revises: 0003_governance
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004_operations'
down_revision: str | None = '0003_governance'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# 64-bit keys on PostgreSQL, INTEGER (the rowid) on SQLite; rates and minutes as integer millionths.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table('maintenance_requests',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('machine', sa.String(length=64), nullable=False),
    sa.Column('work_center', sa.String(length=64), nullable=True),
    sa.Column('work_order', sa.String(length=64), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=64), nullable=True),
    sa.Column('category', sa.String(length=16), nullable=False),
    sa.Column('stop_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('stop_end', sa.DateTime(timezone=True), nullable=False),
    sa.Column('minutes', sa.BigInteger(), nullable=False),
    sa.Column('threshold_minutes', sa.BigInteger(), nullable=False),
    sa.Column('start_event', BIG_ID, nullable=False),
    sa.Column('end_event', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['start_event'], ['events.id'], name=op.f('fk_maintenance_requests_start_event_events')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_maintenance_requests')),
    sa.UniqueConstraint('machine', 'start_event', name='uq_maintenance_requests_machine_start_event')
    )
    op.create_table('quality_exceptions',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('machine', sa.String(length=64), nullable=False),
    sa.Column('work_center', sa.String(length=64), nullable=True),
    sa.Column('work_order', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('opened_event', BIG_ID, nullable=False),
    sa.Column('rate', sa.BigInteger(), nullable=False),
    sa.Column('peak_rate', sa.BigInteger(), nullable=False),
    sa.Column('scrap_qty', sa.BigInteger(), nullable=False),
    sa.Column('window_units', sa.BigInteger(), nullable=False),
    sa.Column('threshold', sa.BigInteger(), nullable=False),
    sa.Column('clear_rate', sa.BigInteger(), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('cleared_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cleared_event', sa.BigInteger(), nullable=True),
    sa.Column('cleared_rate', sa.BigInteger(), nullable=True),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['opened_event'], ['events.id'], name=op.f('fk_quality_exceptions_opened_event_events')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quality_exceptions'))
    )
    with op.batch_alter_table('quality_exceptions', schema=None) as batch_op:
        batch_op.create_index('ix_quality_exceptions_machine_status', ['machine', 'status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('quality_exceptions', schema=None) as batch_op:
        batch_op.drop_index('ix_quality_exceptions_machine_status')

    op.drop_table('quality_exceptions')
    op.drop_table('maintenance_requests')
