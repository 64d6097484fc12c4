"""The system clock: the one place central reads the wall time, so a test can fix it.

Handlers take it from ``uow.clock``; services still called with a bare session take a ``clock``
parameter whose default (:func:`utc_now`) is set at the entry point only and hand ``now`` down.
``central.service_layer.clock`` is the service layer's name for the same two objects.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["Clock", "utc_now"]

Clock = Callable[[], datetime]
"""Returns the current instant, time-zone aware (UTC)."""


def utc_now() -> datetime:
    """The production clock."""
    return datetime.now(UTC)
