"""The clock services read the time from (:mod:`central.adapters.clock`, the system clock).

Handlers take it from ``uow.clock``; services still called with a bare session take a ``clock``
parameter whose default (:func:`utc_now`) is set at the entry point only and hand ``now`` down.
A module of its own so costing modules below the unit of work can name the type without
importing the unit of work (which imports them).
"""

from __future__ import annotations

from central.adapters.clock import Clock, utc_now

__all__ = ["Clock", "utc_now"]
