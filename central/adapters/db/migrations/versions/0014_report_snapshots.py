"""ledger balance snapshots (issue 16: reports whose cost follows the window)

Revision ID: 0014_report_snapshots
Revises: 0012_selling_prices
Create Date: 2026-12-03

``ledger_day_balances`` (journal lines summed per day, period, entity, account, role and tags) and
``ledger_balances`` (every line summed per entity, account and role; and per order on WIP lines,
per item on stock lines), kept by the journal writer from now on (``costing/snapshots.py``) and
filled here from the lines already posted, so an existing database upgrades with its snapshots.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014_report_snapshots'
down_revision: str | None = '0012_selling_prices'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TAGS = "COALESCE(l.work_order, ''), COALESCE(l.item, ''), COALESCE(l.work_center, ''), COALESCE(l.reason, '')"
_STOCK = "('raw_materials', 'finished_goods')"
_BACKFILL = (
    "INSERT INTO ledger_day_balances (day, period, entity, role, account, work_order, item, work_center, reason, "
    f"debit, credit) SELECT e.entry_date, e.period, COALESCE(e.entity, ''), l.role, l.account, {_TAGS}, "
    "SUM(l.debit), SUM(l.credit) FROM journal_lines l JOIN journal_entries e ON e.id = l.entry_id "
    f"GROUP BY e.entry_date, e.period, COALESCE(e.entity, ''), l.role, l.account, {_TAGS}",
    "INSERT INTO ledger_balances (level, entity, role, account, work_order, item, debit, credit) "
    "SELECT 'account', entity, role, account, '', '', SUM(debit), SUM(credit) "
    "FROM ledger_day_balances GROUP BY entity, role, account",
    "INSERT INTO ledger_balances (level, entity, role, account, work_order, item, debit, credit) "
    "SELECT 'detail', entity, role, account, CASE WHEN role = 'wip' THEN work_order ELSE '' END, "
    "CASE WHEN role = 'wip' THEN '' ELSE item END, SUM(debit), SUM(credit) FROM ledger_day_balances "
    f"WHERE role = 'wip' OR role IN {_STOCK} GROUP BY entity, role, account, "
    "CASE WHEN role = 'wip' THEN work_order ELSE '' END, CASE WHEN role = 'wip' THEN '' ELSE item END",
)
"""Both snapshots from the journal (integer cents summed in SQL); the same statements as
``costing/snapshots.py`` REBUILD_SQL at the time of writing (a migration keeps its own copy)."""


def upgrade() -> None:
    op.create_table('ledger_day_balances',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('period', sa.String(length=64), nullable=False),
    sa.Column('entity', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=40), nullable=False),
    sa.Column('account', sa.String(length=32), nullable=False),
    sa.Column('work_order', sa.String(length=64), nullable=False),
    sa.Column('item', sa.String(length=64), nullable=False),
    sa.Column('work_center', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.String(length=64), nullable=False),
    sa.Column('debit', sa.BigInteger(), nullable=False),
    sa.Column('credit', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_day_balances')),
    )
    with op.batch_alter_table('ledger_day_balances', schema=None) as batch_op:
        batch_op.create_index('ix_ledger_day_balances_key', ['day', 'period', 'entity', 'role', 'account', 'work_order',
                                                             'item', 'work_center', 'reason'], unique=False)
        batch_op.create_index('ix_ledger_day_balances_period', ['period'], unique=False)
        batch_op.create_index('ix_ledger_day_balances_work_order', ['work_order'], unique=False)
    op.create_table('ledger_balances',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('level', sa.String(length=8), nullable=False),
    sa.Column('entity', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=40), nullable=False),
    sa.Column('account', sa.String(length=32), nullable=False),
    sa.Column('work_order', sa.String(length=64), nullable=False),
    sa.Column('item', sa.String(length=64), nullable=False),
    sa.Column('debit', sa.BigInteger(), nullable=False),
    sa.Column('credit', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_balances')),
    )
    with op.batch_alter_table('ledger_balances', schema=None) as batch_op:
        batch_op.create_index('ix_ledger_balances_key', ['level', 'role', 'entity', 'account', 'work_order', 'item'],
                              unique=False)
    # dispatches overlapping a report window: a seek on (machine, end), not every dispatch since the start
    with op.batch_alter_table('dispatches', schema=None) as batch_op:
        batch_op.create_index('ix_dispatches_machine_end', ['machine', 'end'], unique=False)
    for sql in _BACKFILL:  # the snapshots of the lines already posted
        op.execute(sql)


def downgrade() -> None:
    with op.batch_alter_table('dispatches', schema=None) as batch_op:
        batch_op.drop_index('ix_dispatches_machine_end')
    with op.batch_alter_table('ledger_balances', schema=None) as batch_op:
        batch_op.drop_index('ix_ledger_balances_key')
    op.drop_table('ledger_balances')
    with op.batch_alter_table('ledger_day_balances', schema=None) as batch_op:
        batch_op.drop_index('ix_ledger_day_balances_key')
        batch_op.drop_index('ix_ledger_day_balances_work_order')
        batch_op.drop_index('ix_ledger_day_balances_period')
    op.drop_table('ledger_day_balances')
