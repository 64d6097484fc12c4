"""Helpers for governance tests: tampering with the audit log behind the service's back."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from central.db.engine import make_engine


def tamper(url: str, *statements: str, params: dict[str, Any] | None = None) -> None:
    """Run raw SQL as a database owner would: drop the append-only triggers first, then edit."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
            else:
                conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_log_no_update")
                conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_log_no_delete")
            for sql in statements:
                conn.execute(sa.text(sql), params or {})
    finally:
        engine.dispose()
