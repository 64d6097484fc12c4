"""purchase orders, alert lifecycle, alert thresholds, webhooks

Revision ID: 0008_purchase_orders_alerts
Revises: 0007_ledger_seal
Create Date: 2026-12-03

- ``purchase_orders``, ``purchase_order_lines`` (qty, price, due, received and invoiced qty) and
  ``purchase_order_receipts`` (which goods receipt record received how much of which line).
- ``alerts`` gains its lifecycle: ``status`` (open | acknowledged | resolved; alerts acknowledged
  before the upgrade become ``acknowledged``), ``assignee``, ``comment``, ``resolved_at/_by``,
  ``plant``, ``entity`` and ``clear_runs`` (the rule evaluator's hysteresis counter).
- ``edges.oldest_unacked_ts`` from the edge's status message.
- ``webhooks``, ``webhook_deliveries`` (the outbox) and ``webhook_attempts`` (the delivery log).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008_purchase_orders_alerts'
down_revision: str | None = '0007_ledger_seal'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'purchase_orders',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('supplier', sa.String(length=200), nullable=False),
        sa.Column('plant', sa.String(length=64), nullable=True),
        sa.Column('entity', sa.String(length=64), nullable=True),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('ref', sa.String(length=200), nullable=False),
        sa.Column('created', TS, nullable=False),
        sa.Column('created_by', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_purchase_orders')),
    )
    op.create_table(
        'purchase_order_lines',
        sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
        sa.Column('purchase_order', sa.String(length=64), nullable=False),
        sa.Column('line_no', sa.Integer(), nullable=False),
        sa.Column('item', sa.String(length=64), nullable=False),
        sa.Column('qty', sa.BigInteger(), nullable=False),
        sa.Column('unit_price', sa.BigInteger(), nullable=False),
        sa.Column('due', sa.Date(), nullable=False),
        sa.Column('received_qty', sa.BigInteger(), nullable=False),
        sa.Column('invoiced_qty', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['purchase_order'], ['purchase_orders.id'],
                                name=op.f('fk_purchase_order_lines_purchase_order_purchase_orders')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_purchase_order_lines')),
        sa.UniqueConstraint('purchase_order', 'line_no', name=op.f('uq_purchase_order_lines_purchase_order_line_no')),
    )
    op.create_index('ix_purchase_order_lines_item', 'purchase_order_lines', ['item'])
    op.create_index(op.f('ix_purchase_order_lines_purchase_order'), 'purchase_order_lines', ['purchase_order'])
    op.create_table(
        'purchase_order_receipts',
        sa.Column('record_id', BIG_ID, nullable=False),
        sa.Column('line_id', BIG_ID, nullable=False),
        sa.Column('qty', sa.BigInteger(), nullable=False),
        sa.Column('received_at', TS, nullable=False),
        sa.ForeignKeyConstraint(['record_id'], ['op_records.id'],
                                name=op.f('fk_purchase_order_receipts_record_id_op_records')),
        sa.ForeignKeyConstraint(['line_id'], ['purchase_order_lines.id'],
                                name=op.f('fk_purchase_order_receipts_line_id_purchase_order_lines')),
        sa.PrimaryKeyConstraint('record_id', name=op.f('pk_purchase_order_receipts')),
    )
    op.create_index(op.f('ix_purchase_order_receipts_line_id'), 'purchase_order_receipts', ['line_id'])

    with op.batch_alter_table('alerts') as batch:
        batch.add_column(sa.Column('status', sa.String(length=12), server_default='open', nullable=False))
        batch.add_column(sa.Column('assignee', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('comment', sa.Text(), nullable=True))
        batch.add_column(sa.Column('resolved_at', TS, nullable=True))
        batch.add_column(sa.Column('resolved_by', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('plant', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('entity', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('clear_runs', sa.Integer(), server_default='0', nullable=False))
        batch.create_index(batch.f('ix_alerts_status'), ['status'])
        batch.create_index(batch.f('ix_alerts_plant'), ['plant'])
        batch.create_index(batch.f('ix_alerts_entity'), ['entity'])
    op.execute("UPDATE alerts SET status = 'acknowledged' WHERE acked_at IS NOT NULL")

    with op.batch_alter_table('edges') as batch:
        batch.add_column(sa.Column('oldest_unacked_ts', TS, nullable=True))

    op.create_table(
        'webhooks',
        sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
        sa.Column('url', sa.String(length=2000), nullable=False),
        sa.Column('secret', sa.String(length=200), nullable=False),
        sa.Column('kinds', sa.JSON(), nullable=False),
        sa.Column('min_severity', sa.String(length=8), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created', TS, nullable=False),
        sa.Column('created_by', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhooks')),
    )
    op.create_table(
        'webhook_deliveries',
        sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
        sa.Column('webhook_id', BIG_ID, nullable=False),
        sa.Column('alert_id', BIG_ID, nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('event', sa.String(length=16), nullable=False),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(length=8), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_at', TS, nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('created', TS, nullable=False),
        sa.Column('done_at', TS, nullable=True),
        sa.ForeignKeyConstraint(['webhook_id'], ['webhooks.id'],
                                name=op.f('fk_webhook_deliveries_webhook_id_webhooks')),
        sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], name=op.f('fk_webhook_deliveries_alert_id_alerts')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_deliveries')),
    )
    op.create_index('ix_webhook_deliveries_status_next', 'webhook_deliveries', ['status', 'next_at'])
    op.create_index(op.f('ix_webhook_deliveries_webhook_id'), 'webhook_deliveries', ['webhook_id'])
    op.create_index(op.f('ix_webhook_deliveries_alert_id'), 'webhook_deliveries', ['alert_id'])
    op.create_table(
        'webhook_attempts',
        sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
        sa.Column('delivery_id', BIG_ID, nullable=False),
        sa.Column('at', TS, nullable=False),
        sa.Column('status_code', sa.Integer(), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('ok', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(['delivery_id'], ['webhook_deliveries.id'],
                                name=op.f('fk_webhook_attempts_delivery_id_webhook_deliveries')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_attempts')),
    )
    op.create_index(op.f('ix_webhook_attempts_delivery_id'), 'webhook_attempts', ['delivery_id'])


def downgrade() -> None:
    op.drop_table('webhook_attempts')
    op.drop_table('webhook_deliveries')
    op.drop_table('webhooks')
    with op.batch_alter_table('edges') as batch:
        batch.drop_column('oldest_unacked_ts')
    with op.batch_alter_table('alerts') as batch:
        batch.drop_index(batch.f('ix_alerts_entity'))
        batch.drop_index(batch.f('ix_alerts_plant'))
        batch.drop_index(batch.f('ix_alerts_status'))
        for col in ('clear_runs', 'entity', 'plant', 'resolved_by', 'resolved_at', 'comment', 'assignee', 'status'):
            batch.drop_column(col)
    op.drop_table('purchase_order_receipts')
    op.drop_table('purchase_order_lines')
    op.drop_table('purchase_orders')
