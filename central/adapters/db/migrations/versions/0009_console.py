"""console: sessions, selling prices

Revision ID: 0009_console
Revises: 0008_purchase_orders_alerts
Create Date: 2026-12-03

Placeholder: filled in by the work that owns it; until then it changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = '0009_console'
down_revision: str | None = '0008_purchase_orders_alerts'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
