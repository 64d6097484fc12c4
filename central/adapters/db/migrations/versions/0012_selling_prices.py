"""selling prices (margin report)

Revision ID: 0012_selling_prices
Revises: 0011_recommendations
Create Date: 2026-12-03

``selling_prices``: the master-data section of the same name (product, valid_from, price per good
unit as integer millionths, the optional currency the file named), with the master-data version
that wrote it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012_selling_prices'
down_revision: str | None = '0011_recommendations'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('selling_prices',
    sa.Column('product', sa.String(length=64), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('price', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('product', 'valid_from', name=op.f('pk_selling_prices'))
    )


def downgrade() -> None:
    op.drop_table('selling_prices')
