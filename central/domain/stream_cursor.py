"""The exactly-once arithmetic of one event stream, without a database.

An edge numbers the events of a stream 1, 2, 3, ... and re-sends until central acks; batches
may arrive again, out of order, or with holes. Central keeps, per stream, a cursor: every seq
up to ``acked_through`` is settled (stored and, unless refused, accepted and posted in seq
order); seqs above it that have arrived are *held* (stored, waiting behind a gap). This module
decides, for one batch, what each seq is::

    seq <= acked_through, stored before      duplicate (dropped, counted)
    seq <= acked_through, never stored       late: arrived after its gap was accepted (rejected)
    seq  > acked_through, held already       duplicate
    seq  > acked_through, new                fresh: accepted when it continues the sequence,
                                             pending when it waits behind a gap,
                                             rejected when it does not validate

and what follows: the new ``acked_through`` (a refused event still closes its place in the
sequence, so one bad event never blocks a stream), the held events a batch releases by
filling their gap, the gaps it opens (every run of missing seqs above everything stored
before), and the new ``last_seq``. A controller's *accept-gap* gives up on missing seqs:
:meth:`StreamCursor.accept_gap`.

Value objects only (frozen dataclasses over ints); ``central.service_layer.ingest.store``
loads the state, asks, and writes what was decided. The seq arithmetic is thereby testable
without a database (``tests/unit/test_domain_stream_cursor.py``, property-based).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

__all__ = ["Arrival", "CursorStep", "GapAcceptance", "GapFate", "SeqStatus", "StreamCursor"]

SeqStatus = Literal["accepted", "pending", "rejected"]
"""How a stored seq is stored: the values of the event status column."""
GapFate = Literal["accepted", "filled", "trimmed", "open"]
"""What an accepted gap does to an open gap row (see :meth:`GapAcceptance.fate`)."""


@dataclass(frozen=True)
class Arrival:
    """A batch's seqs sorted against the cursor, before validation is known."""

    #: seqs already stored (at or below the cursor, or held), dropped
    duplicates: int
    #: seqs at or below the cursor that were never stored: their gap was accepted before they came
    late: tuple[int, ...]
    #: new seqs above the cursor, ascending: they are stored now
    fresh: tuple[int, ...]


@dataclass(frozen=True)
class CursorStep:
    """What one batch does to the stream, and the cursor after it (:attr:`after`)."""

    before: StreamCursor
    after: StreamCursor
    duplicates: int
    late: tuple[int, ...]
    fresh: tuple[int, ...]
    #: fresh seqs stored as accepted (continue the sequence, validated), ascending
    accepted: tuple[int, ...]
    #: fresh seqs stored as pending (behind a gap, validated), ascending
    pending: tuple[int, ...]
    #: late and fresh seqs stored as rejected (did not validate, or late), ascending
    rejected: tuple[int, ...]
    #: held pending seqs the batch releases (their gap filled), ascending
    released: tuple[int, ...]
    #: runs ``(first, last)`` of missing seqs the batch opens, ascending
    gaps: tuple[tuple[int, int], ...]

    @property
    def acked_through(self) -> int:
        return self.after.acked_through

    @property
    def advanced(self) -> bool:
        """True when held events existed and the cursor moved: released events and filled gaps
        are looked for only then."""
        return bool(self.before.held) and self.after.acked_through > self.before.acked_through

    @property
    def to_post(self) -> tuple[int, ...]:
        """Every seq that becomes accepted now, in the order the posting seam gets them."""
        return tuple(sorted((*self.released, *self.accepted)))

    def status(self, seq: int) -> SeqStatus:
        """How a late or fresh ``seq`` of this batch is stored."""
        if seq in self._rejected:
            return "rejected"
        return "accepted" if seq <= self.after.acked_through else "pending"

    @cached_property
    def _rejected(self) -> frozenset[int]:
        return frozenset(self.rejected)


@dataclass(frozen=True)
class GapAcceptance:
    """A controller gave up on the missing seqs up to ``through``."""

    through: int
    #: missing seqs given up (never stored) between the old cursor and ``through``
    skipped: int
    #: held pending seqs released, ascending (posted in this order)
    released: tuple[int, ...]
    after: StreamCursor

    def fate(self, from_seq: int, through_seq: int) -> tuple[GapFate, int]:
        """What happens to the open gap ``from_seq..through_seq``, and its first seq after.

        Below the new cursor it closes, ``accepted`` when it reached into the accepted range,
        ``filled`` when it lay entirely above ``through`` (the released events filled it);
        straddling the new cursor it is ``trimmed`` to start after it; above, it stays open.
        """
        cursor = self.after.acked_through
        if through_seq <= cursor:
            return ("accepted" if from_seq <= self.through else "filled"), from_seq
        if from_seq <= cursor:
            return "trimmed", cursor + 1
        return "open", from_seq


@dataclass(frozen=True)
class StreamCursor:
    """A stream's exactly-once state: the settled prefix and what is held above it."""

    acked_through: int = 0
    #: the highest seq ever stored (at least ``acked_through`` once anything arrived)
    last_seq: int = 0
    #: every seq stored above ``acked_through`` (pending or rejected)
    held: frozenset[int] = field(default_factory=frozenset)
    #: the held seqs waiting to be accepted (validated, behind a gap)
    pending: frozenset[int] = field(default_factory=frozenset)
    #: seqs ever given up by an accepted gap; only then can a seq below the cursor be late
    skipped: int = 0

    def late_candidates(self, seqs: Sequence[int]) -> tuple[int, int] | None:
        """The seq range ``(lo, hi)`` whose stored seqs :meth:`arrive` must be told, or None.

        Only after an accepted gap can a seq at or below the cursor be one never stored; the
        adapter then reads which seqs of this range exist.
        """
        old = sorted(s for s in seqs if s <= self.acked_through)
        if not old or not self.skipped:
            return None
        return old[0], old[-1]

    def arrive(self, seqs: Iterable[int], stored_below: Collection[int] = ()) -> Arrival:
        """Sort a batch's seqs into duplicates, late and fresh ones; ``stored_below`` holds the
        seqs of :meth:`late_candidates` that are stored."""
        ordered = sorted(seqs)
        split = bisect_right(ordered, self.acked_through)
        old, above = ordered[:split], ordered[split:]
        late = tuple(s for s in old if s not in stored_below) if self.skipped else ()
        fresh = tuple(s for s in above if s not in self.held) if self.held else tuple(above)
        return Arrival(duplicates=len(old) - len(late) + len(above) - len(fresh), late=late, fresh=fresh)

    def decide(self, arrival: Arrival, refused: Collection[int] = ()) -> CursorStep:
        """Apply an arrival; ``refused`` are the fresh seqs that did not validate.

        Runs once per batch of up to thousands of seqs on the ingest's hot path, hence the
        bisections over the ascending ``fresh`` instead of set comprehensions."""
        fresh = arrival.fresh
        cursor = self.acked_through
        if fresh and fresh[0] == cursor + 1 and fresh[-1] - fresh[0] + 1 == len(fresh):
            cursor = fresh[-1]  # the common case: the batch continues the sequence without a hole
        else:
            present = frozenset(fresh)
            while cursor + 1 in present or cursor + 1 in self.held:
                cursor += 1
        while cursor + 1 in self.held:
            cursor += 1
        gaps: list[tuple[int, int]] = []
        prev = max(self.last_seq, self.acked_through)
        for s in fresh:
            if s > prev + 1:
                gaps.append((prev + 1, s - 1))
            if s > prev:
                prev = s
        split = bisect_right(fresh, cursor)
        if refused:
            rejected = tuple(sorted((*arrival.late, *(s for s in fresh if s in refused))))
            accepted = tuple(s for s in fresh[:split] if s not in refused)
            pending = tuple(s for s in fresh[split:] if s not in refused)
        else:
            rejected, accepted, pending = arrival.late, fresh[:split], fresh[split:]
        after = StreamCursor(
            acked_through=cursor,
            last_seq=max(self.last_seq, fresh[-1] if fresh else 0),
            held=frozenset((*(s for s in self.held if s > cursor), *fresh[split:])),
            pending=frozenset((*(s for s in self.pending if s > cursor), *pending)),
            skipped=self.skipped,
        )
        return CursorStep(
            before=self, after=after, duplicates=arrival.duplicates, late=arrival.late, fresh=fresh,
            accepted=accepted, pending=pending, rejected=rejected,
            released=tuple(sorted(s for s in self.pending if s <= cursor)), gaps=tuple(gaps),
        )

    def receive(self, seqs: Iterable[int], stored_below: Collection[int] = (),
                refused: Collection[int] = ()) -> CursorStep:
        """:meth:`arrive` and :meth:`decide` in one call (when validation does not depend on
        which seqs are fresh)."""
        return self.decide(self.arrive(seqs, stored_below), refused)

    def accept_gap(self, through: int) -> GapAcceptance:
        """Give up on the missing seqs up to ``through`` (above the cursor, at most ``last_seq``:
        the caller refuses anything else): the cursor moves to ``through`` and on over the held
        seqs that follow; the pending ones up to there are released."""
        if not self.acked_through < through <= self.last_seq:
            raise ValueError(f"through {through} is not in ({self.acked_through}, {self.last_seq}]")
        skipped = sum(1 for s in range(self.acked_through + 1, through + 1) if s not in self.held)
        cursor = through
        while cursor + 1 in self.held:
            cursor += 1
        after = StreamCursor(
            acked_through=cursor,
            last_seq=self.last_seq,
            held=frozenset(s for s in self.held if s > cursor),
            pending=frozenset(s for s in self.pending if s > cursor),
            skipped=self.skipped + skipped,
        )
        released = tuple(sorted(s for s in self.pending if s <= cursor))
        return GapAcceptance(through=through, skipped=skipped, released=released, after=after)
