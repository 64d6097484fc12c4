"""Console sign-in sessions: only the SHA-256 of the session id is stored, beside the API token it
was exchanged for, so every central process sees the same sessions and a revoked token ends them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from central.adapters.db.base import Base, UtcDateTime

__all__ = ["ConsoleSessionRow"]


class ConsoleSessionRow(Base):
    __tablename__ = "console_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_id: Mapped[str] = mapped_column(String(32), ForeignKey("api_tokens.id", ondelete="CASCADE"), index=True)
    csrf_secret: Mapped[str] = mapped_column(String(64))
    created: Mapped[datetime] = mapped_column(UtcDateTime)
    expires: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
