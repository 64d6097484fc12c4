"""console: sign-in sessions

Revision ID: 0009_console
Revises: 0008_purchase_orders_alerts
Create Date: 2026-12-03

``console_sessions``: one row per signed-in browser, keyed by the SHA-256 of the session id (the
cookie's value is never stored), with the API token it was exchanged for (a revoked or expired
token ends the session), the CSRF secret of its forms and its expiry.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009_console'
down_revision: str | None = '0008_purchase_orders_alerts'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'console_sessions',
        sa.Column('id_hash', sa.String(length=64), nullable=False),
        sa.Column('token_id', sa.String(length=32), nullable=False),
        sa.Column('csrf_secret', sa.String(length=64), nullable=False),
        sa.Column('created', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['token_id'], ['api_tokens.id'], name=op.f('fk_console_sessions_token_id_api_tokens'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id_hash', name=op.f('pk_console_sessions')),
    )
    op.create_index('ix_console_sessions_token_id', 'console_sessions', ['token_id'])
    op.create_index('ix_console_sessions_expires', 'console_sessions', ['expires'])


def downgrade() -> None:
    op.drop_index('ix_console_sessions_expires', table_name='console_sessions')
    op.drop_index('ix_console_sessions_token_id', table_name='console_sessions')
    op.drop_table('console_sessions')
