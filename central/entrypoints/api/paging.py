"""Page sizes of the keyset-paged lists: the client's ``limit`` capped by ``api.page_limit_max``."""

from __future__ import annotations

from fastapi import Request

from central.entrypoints.api.deps import get_container

__all__ = ["page_size"]


def page_size(request: Request, limit: int | None) -> int:
    """``limit``, or 100 when absent, never above the configured maximum."""
    cap = get_container(request).settings.api.page_limit_max
    return min(limit or min(100, cap), cap)
