"""selling prices (margin report)

Revision ID: 0012_selling_prices
Revises: 0011_recommendations
Create Date: 2026-12-03

Placeholder: filled in by the work that owns it; until then it changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = '0012_selling_prices'
down_revision: str | None = '0011_recommendations'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
