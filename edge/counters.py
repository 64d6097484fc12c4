"""Counter arithmetic (pure): what one reading of a cumulative PLC counter stands for.

Rules (DESIGN.md, "Counters are first-class"), for a reading of value ``v`` against the
persisted mark ``(prev, epoch, at)``:

==============================================================  ==============================
no mark yet                                                     ``baseline``, qty 0
``v == prev``                                                   nothing (the epoch moves silently)
``0 < v - prev <= sanity``                                      count ``v - prev``
``v - prev > sanity``                                           ``suspect``, qty ``v - prev``
``v < prev``, the source restarted (epoch changed, restart tag)  ``reset``, qty ``v`` (+ ``suspect``
                                                                if ``v > sanity``)
``v < prev``, wrap step ``(max - prev) + v + 1 <= possible``    ``rollover``, qty = wrap step
``v < prev``, else ``v <= possible``                            ``reset``, qty ``v``
``v < prev``, otherwise (or the elapsed time is unknown)        ``suspect``, qty ``v``
==============================================================  ==============================

``possible`` is the most units the counter can have made unseen: ``floor(max_rate_per_s x
elapsed) + 1`` (a change shows at least one unit), capped by ``sanity``. ``elapsed`` runs from
when the counter was last seen holding ``prev`` (the previous poll, one sampling interval before
an OPC UA change, else the mark's time) to this reading. A rollover needs the whole wrap step
inside that budget; a reset needs only the new value, which is what the PLC counted since it
reset. No unit is ever invented: what polling cannot see (units made between the last read and
a reset) is never guessed, and a drop that fits neither reading is ``suspect`` (held by central
until a controller decides).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from protocols.base import Scalar

__all__ = ["DEFAULT_MAX_RATE_PER_S", "Mark", "Delta", "counter_delta", "counter_value", "units_possible"]

#: assumed when a counter has no ``max_rate_per_s`` (logged): low, so that a doubtful drop is held
#: for review (``suspect``) rather than counted as a rollover that may invent units
DEFAULT_MAX_RATE_PER_S = 1.0


@dataclass(frozen=True, slots=True)
class Mark:
    """The persisted last value of a counter (int) or a machine's emitted state (text).

    ``at`` is when that value was read (edge clock); it does not take part in equality: a mark
    whose value and epoch are unchanged needs no write.
    """

    value: int | str
    epoch: str
    at: datetime | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Delta:
    qty: int
    flags: tuple[str, ...] = ()


def units_possible(max_rate_per_s: float, elapsed_s: float) -> int:
    """The most units a counter making at most ``max_rate_per_s`` can show after ``elapsed_s``."""
    return math.floor(max_rate_per_s * max(elapsed_s, 0.0)) + 1


def counter_delta(
    prev: Mark | None,
    value: int,
    epoch: str,
    max_value: int,
    sanity: int,
    *,
    max_rate_per_s: float = DEFAULT_MAX_RATE_PER_S,
    elapsed_s: float | None = None,
) -> Delta | None:
    """The delta a counter reading stands for; None when nothing was counted."""
    if prev is None or not isinstance(prev.value, int):
        return Delta(0, ("baseline",))
    last = prev.value
    if value == last:
        return None
    if value > last:
        delta = value - last
        return Delta(delta) if delta <= sanity else Delta(delta, ("suspect",))
    if epoch != prev.epoch:
        return Delta(value, ("reset",)) if value <= sanity else Delta(value, ("reset", "suspect"))
    if elapsed_s is None:
        return Delta(value, ("suspect",))
    possible = min(units_possible(max_rate_per_s, elapsed_s), sanity)
    wrap = (max_value - last) + value + 1
    if wrap <= possible:
        return Delta(wrap, ("rollover",))
    if value <= possible:
        return Delta(value, ("reset",))
    return Delta(value, ("suspect",))


def counter_value(value: Scalar, max_value: int) -> int | str:
    """The reading as a counter value, or the reason it cannot be one."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return f"not a number: {value!r}"
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            return f"not an integral number: {value!r}"
        value = int(value)
    if value < 0:
        return f"negative counter value {value}"
    if value > max_value:
        return f"value {value} exceeds the configured counter max {max_value}"
    return value
