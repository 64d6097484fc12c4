"""journal lines by work order (console order drill-down)

Revision ID: 0015_journal_lines_work_order
Revises: 0014_report_snapshots
Create Date: 2026-12-04

``journal_lines (work_order)``: an order's journal entries (``GET /journal?work_order=``, the
console's order page) are the entries holding a line of the order; the only index with
``work_order`` starts with ``role``, so the read scanned every journal line ever posted, a cost
that grew with the history instead of the order (issue 15, "every page's p95 under 300 ms").
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0015_journal_lines_work_order'
down_revision: str | None = '0014_report_snapshots'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_journal_lines_work_order", "journal_lines", ["work_order"])


def downgrade() -> None:
    op.drop_index("ix_journal_lines_work_order", table_name="journal_lines")
