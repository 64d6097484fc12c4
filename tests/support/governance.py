"""Helpers for governance tests: tampering with the audit log behind the service's back."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from central.adapters.db.engine import make_engine

LEDGER_TABLES = ("journal_entries", "journal_lines", "ledger_seals", "ledger_seal_entries", "ledger_seal_lines")
"""Tables made append-only by migration 0007_ledger_seal."""


def tamper(url: str, *statements: str, params: dict[str, Any] | None = None) -> None:
    """Run raw SQL as a database owner would: drop the append-only triggers first, then edit."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
                for table in LEDGER_TABLES:
                    conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            else:
                conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_log_no_update")
                conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_log_no_delete")
                for table in LEDGER_TABLES:
                    conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_update")
                    conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_delete")
            for sql in statements:
                conn.execute(sa.text(sql), params or {})
    finally:
        engine.dispose()
