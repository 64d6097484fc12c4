"""Who acts: an authenticated API caller, or a plain user name. Pure values."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Principal", "Actor"]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token's user and role, and the token id (for audit)."""

    user: str
    role: str
    token_id: str


Actor = Principal | str
"""Who acted: the API principal, or a plain user name (CLI, background jobs)."""
