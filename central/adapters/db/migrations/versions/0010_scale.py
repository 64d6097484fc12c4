"""scale: indexes and report snapshots

Revision ID: 0010_scale
Revises: 0009_console
Create Date: 2026-12-03

Placeholder: filled in by the work that owns it; until then it changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = '0010_scale'
down_revision: str | None = '0009_console'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
