"""Keyset paging over an ORM select: the one implementation behind every ``after``/``next`` listing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

__all__ = ["keyset_page"]


def keyset_page(
    session: Session, stmt: Select[Any], key: InstrumentedAttribute[int], limit: int, after: int | None,
    *, descending: bool = False,
) -> tuple[list[Any], int | None]:
    """At most ``limit`` rows of ``stmt`` past ``after`` in ``key`` order (descending: below it),
    and the cursor of the next page: the last row's ``key`` when more rows follow, else None."""
    if after is not None:
        stmt = stmt.where(key < after if descending else key > after)
    rows = list(session.scalars(stmt.order_by(key.desc() if descending else key).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, getattr(rows[-1], key.key) if more and rows else None
