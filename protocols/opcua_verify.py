"""The verification read: a safety net under the OPC UA subscription (pure, no I/O).

A subscription can stop delivering data changes without any error: measured with asyncua
2.1, a subscription deleted on the server (another session may do that) leaves the client
without a single notification, status change or error, and the keep-alive watchdog stays
happy because the session is fine. Units counted by the PLC would then never reach the edge.

So the OPC UA source reads every subscribed node once every ``verify_interval_s`` (one Read
request) and compares each value with the last reading delivered for its tag:

1. **begin** (the read's answer): tags whose read value or status differs from the last
   delivered reading, and that the subscription has not already overtaken, are candidates;
2. **settle** (``grace_s`` later; the subscription's in-flight notifications arrive
   meanwhile): a candidate the subscription still has not caught up with is a *missed
   change*. Its read reading (with the read's SourceTimestamp, so event time stays right)
   is returned for delivery and recorded as delivered; the missed changes of one read reach
   the sink together, as one snapshot (they were read at one instant);
3. :data:`RESUBSCRIBE_AFTER` verifications in a row with a missed change ask for the
   subscription to be re-created; if the next streak follows without a clean verification
   in between, for a reconnect (new session).

The subscription stays the primary path (it carries every state transition; a read only
sees the latest value). After a read delivered a tag's value with source time ``T``, a
late notification for that tag that is older than ``T`` (or the same reading again) is
*stale* and dropped, so a counter never steps back and a state never flips back.
"""

from __future__ import annotations

import dataclasses
import enum
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from protocols.base import TagReading
from protocols.supervision import utcnow

__all__ = [
    "RESUBSCRIBE_AFTER",
    "Action",
    "Settled",
    "DeliveryTracker",
    "Verifier",
    "same_reading",
    "caught_up",
    "is_stale",
]

#: consecutive verifications with a missed change before the subscription is re-created
RESUBSCRIBE_AFTER = 3


class Action(enum.Enum):
    NONE = "none"
    RESUBSCRIBE = "resubscribe"
    RECONNECT = "reconnect"


@dataclass(frozen=True, slots=True)
class Settled:
    """The outcome of one verification: readings to deliver (in order) and what to do next."""

    missed: list[TagReading]
    action: Action = Action.NONE
    streak: int = 0


def same_reading(a: TagReading, b: TagReading) -> bool:
    """Same value (and value type: ``1`` is not ``True``), quality and detail."""
    return (
        a.quality is b.quality and a.detail == b.detail and type(a.value) is type(b.value) and a.value == b.value
    )


def caught_up(last: TagReading | None, read: TagReading) -> bool:
    """Whether the last delivered reading already tells what ``read`` tells (or something newer)."""
    if last is None:
        return False
    if same_reading(last, read):
        return True
    return last.source_ts is not None and read.source_ts is not None and last.source_ts > read.source_ts


def is_stale(notification: TagReading, delivered_by_read: TagReading) -> bool:
    """A notification that arrives after the read delivered the same or a newer reading."""
    if same_reading(notification, delivered_by_read):
        return True
    n, r = notification.source_ts, delivered_by_read.source_ts
    return n is not None and r is not None and n < r


class DeliveryTracker:
    """The last reading delivered per tag on one connection, and which came from a read."""

    def __init__(self) -> None:
        self._last: dict[str, TagReading] = {}
        self._by_read: set[str] = set()

    def last(self, tag: str) -> TagReading | None:
        return self._last.get(tag)

    def notification(self, reading: TagReading) -> bool:
        """Record a subscription reading; ``False`` when it is stale (do not deliver it)."""
        if reading.tag in self._by_read:
            if is_stale(reading, self._last[reading.tag]):
                return False
            self._by_read.discard(reading.tag)
        self._last[reading.tag] = reading
        return True

    def verified(self, reading: TagReading) -> None:
        """Record a reading the verification read delivered."""
        self._last[reading.tag] = reading
        self._by_read.add(reading.tag)


class Verifier:
    """When to read, which differences are missed changes, when to re-subscribe (one connection)."""

    def __init__(
        self,
        interval_s: float,
        grace_s: float,
        tracker: DeliveryTracker,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval_s <= 0 or grace_s <= 0:
            raise ValueError("interval_s and grace_s must be > 0")
        self.interval_s = interval_s
        self.grace_s = grace_s
        self.tracker = tracker
        self._clock = clock
        self._next_read = clock() + interval_s
        self._pending: list[TagReading] | None = None
        self._settle_at = 0.0
        self.streak = 0  # verifications in a row with a missed change
        self._resubscribed = False  # re-created since the last clean verification

    def wait_s(self) -> float:
        """Seconds until :meth:`begin` or :meth:`settle` is due (0 when due now)."""
        due = self._next_read if self._pending is None else self._settle_at
        return max(0.0, due - self._clock())

    def read_due(self) -> bool:
        return self._pending is None and self._clock() >= self._next_read

    def settle_due(self) -> bool:
        return self._pending is not None and self._clock() >= self._settle_at

    def begin(self, readings: Iterable[TagReading]) -> None:
        """The read's answer: remember what differs; settle after the grace period (now if nothing)."""
        now = self._clock()
        self._pending = [r for r in readings if not caught_up(self.tracker.last(r.tag), r)]
        self._settle_at = now + self.grace_s if self._pending else now
        self._next_read = now + self.interval_s

    def settle(self) -> Settled:
        """Missed changes (recorded as delivered, in source time order) and the next action."""
        pending, self._pending = self._pending or [], None
        self._next_read = max(self._next_read, self._clock())
        missed = [r for r in pending if not caught_up(self.tracker.last(r.tag), r)]
        now = utcnow()
        missed = [dataclasses.replace(r, received=now) for r in missed]
        missed.sort(key=lambda r: r.source_ts or r.received)  # stable: tag order within one time
        for r in missed:
            self.tracker.verified(r)
        if not missed:
            self.streak = 0
            self._resubscribed = False
            return Settled([])
        self.streak += 1
        if self.streak < RESUBSCRIBE_AFTER:
            return Settled(missed, Action.NONE, self.streak)
        streak, self.streak = self.streak, 0
        if self._resubscribed:
            return Settled(missed, Action.RECONNECT, streak)
        self._resubscribed = True
        return Settled(missed, Action.RESUBSCRIBE, streak)
