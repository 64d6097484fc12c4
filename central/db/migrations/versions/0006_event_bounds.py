"""event bounds: a machine's own sanity bound on one event's quantity

Revision ID: 0006_event_bounds
Revises: 0005_stock_moves
Create Date: 2026-12-03

``machines.max_event_qty``: an event whose qty exceeds it is held in the suspect queue with
reason ``qty_over_limit`` (API.md); NULL means the default (1,000,000).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006_event_bounds'
down_revision: str | None = '0005_stock_moves'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('machines') as batch:
        batch.add_column(sa.Column('max_event_qty', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('machines') as batch:
        batch.drop_column('max_event_qty')
