"""decision support: recommendations and baselines

Revision ID: 0011_recommendations
Revises: 0010_scale
Create Date: 2026-12-03

- ``anomaly_points``: observations of scrap rate, cycle time, labour and material per unit per
  machine, item (and component), with their place in the baseline;
- ``anomaly_cursors``: each running order's figures at its last observation;
- ``recommendations``: the detectors' suggestions and the person's decision.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011_recommendations'
down_revision: str | None = '0010_scale'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'anomaly_points',
        sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
        sa.Column('metric', sa.String(length=32), nullable=False),
        sa.Column('machine', sa.String(length=64), nullable=False),
        sa.Column('item', sa.String(length=64), nullable=False),
        sa.Column('component', sa.String(length=64), nullable=False),
        sa.Column('work_order', sa.String(length=64), nullable=False),
        sa.Column('at', TS, nullable=False),
        sa.Column('shift', sa.Integer(), nullable=False),
        sa.Column('value', sa.BigInteger(), nullable=False),
        sa.Column('units', sa.BigInteger(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('recommendation_id', BIG_ID, nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_anomaly_points')),
    )
    op.create_index('ix_anomaly_points_series', 'anomaly_points', ['metric', 'machine', 'item', 'component', 'id'])
    op.create_index(op.f('ix_anomaly_points_recommendation_id'), 'anomaly_points', ['recommendation_id'])
    op.create_table(
        'anomaly_cursors',
        sa.Column('work_order', sa.String(length=64), nullable=False),
        sa.Column('at', TS, nullable=False),
        sa.Column('figures', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('work_order', name=op.f('pk_anomaly_cursors')),
    )
    op.create_table(
        'recommendations',
        sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('metric', sa.String(length=32), nullable=False),
        sa.Column('key', sa.String(length=200), nullable=False),
        sa.Column('machine', sa.String(length=64), nullable=True),
        sa.Column('item', sa.String(length=64), nullable=True),
        sa.Column('component', sa.String(length=64), nullable=True),
        sa.Column('work_order', sa.String(length=64), nullable=True),
        sa.Column('plant', sa.String(length=64), nullable=True),
        sa.Column('message', sa.Text(), nullable=False),
        sa.Column('value', sa.String(length=40), nullable=False),
        sa.Column('threshold', sa.String(length=40), nullable=False),
        sa.Column('baseline', sa.JSON(), nullable=False),
        sa.Column('evidence', sa.JSON(), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('created', TS, nullable=False),
        sa.Column('last_seen', TS, nullable=False),
        sa.Column('decided_at', TS, nullable=True),
        sa.Column('decided_by', sa.String(length=64), nullable=True),
        sa.Column('reason', sa.String(length=32), nullable=True),
        sa.Column('comment', sa.Text(), nullable=True),
        sa.Column('alert_id', BIG_ID, nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_recommendations')),
    )
    op.create_index('ix_recommendations_status_id', 'recommendations', ['status', 'id'])
    op.create_index(op.f('ix_recommendations_key'), 'recommendations', ['key'])


def downgrade() -> None:
    op.drop_table('recommendations')
    op.drop_table('anomaly_cursors')
    op.drop_index(op.f('ix_anomaly_points_recommendation_id'), table_name='anomaly_points')
    op.drop_index('ix_anomaly_points_series', table_name='anomaly_points')
    op.drop_table('anomaly_points')
