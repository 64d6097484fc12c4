"""decision support: recommendations and baselines

Revision ID: 0011_recommendations
Revises: 0010_scale
Create Date: 2026-12-03

Placeholder: filled in by the work that owns it; until then it changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = '0011_recommendations'
down_revision: str | None = '0010_scale'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
