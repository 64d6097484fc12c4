"""URL paths the API's modules share. Its own module so that a router (which needs the prefix)
and :mod:`central.entrypoints.api.routers` (which imports every router) do not import each other."""

from __future__ import annotations

from typing import Final

__all__ = ["API_PREFIX"]

API_PREFIX: Final = "/api/v1"
"""Every versioned route lives under this prefix (API.md)."""
