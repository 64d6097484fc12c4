"""scale: indexes and report snapshots

Revision ID: 0010_scale
Revises: 0009_console
Create Date: 2026-12-03

- ``event_postings (machine, kind, ts)``: the maintenance check reads a machine's most recent
  state events and the scrap-rate check its most recent units on every batch; through
  ``(machine, ts)`` alone the state read walked every count since the last state change, a cost
  that grew with history (issue 16, "Postings as fast as ingest").
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0010_scale'
down_revision: str | None = '0009_console'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_event_postings_machine_kind_ts", "event_postings", ["machine", "kind", "ts"])


def downgrade() -> None:
    op.drop_index("ix_event_postings_machine_kind_ts", table_name="event_postings")
