"""purchase orders, alert lifecycle, alert thresholds, webhooks

Revision ID: 0008_purchase_orders_alerts
Revises: 0007_ledger_seal
Create Date: 2026-12-03

Placeholder: filled in by the work that owns it; until then it changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = '0008_purchase_orders_alerts'
down_revision: str | None = '0007_ledger_seal'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
