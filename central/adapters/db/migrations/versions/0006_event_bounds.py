"""event bounds: a machine's own sanity bound on one event's quantity

Revision ID: 0006_event_bounds
Revises: 0005_stock_moves
Create Date: 2026-12-03

``machines.max_event_qty``: an event whose qty exceeds it is held in the suspect queue with
reason ``qty_over_limit`` (API.md); NULL means the default (1,000,000).
``event_postings.hold_reason``: why a held event is in the suspect queue (``edge_suspect`` or
``qty_over_limit``). ``rejected_events.code`` and ``quarantine.code``: the stable reason code
(``shared.contract.REJECTION_CODES`` / ``QUARANTINE_CODES``) next to the one-sentence reason.
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
    with op.batch_alter_table('event_postings') as batch:
        batch.add_column(sa.Column('hold_reason', sa.String(32), nullable=True))
    with op.batch_alter_table('rejected_events') as batch:
        batch.add_column(sa.Column('code', sa.String(32), nullable=False, server_default='invalid_value'))
    with op.batch_alter_table('quarantine') as batch:
        batch.add_column(sa.Column('code', sa.String(32), nullable=False, server_default='bad_header'))


def downgrade() -> None:
    with op.batch_alter_table('quarantine') as batch:
        batch.drop_column('code')
    with op.batch_alter_table('rejected_events') as batch:
        batch.drop_column('code')
    with op.batch_alter_table('event_postings') as batch:
        batch.drop_column('hold_reason')
    with op.batch_alter_table('machines') as batch:
        batch.drop_column('max_event_qty')
