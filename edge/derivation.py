"""Tag readings -> machine events: counter deltas, scrap with reasons, state changes.

Pure: no I/O, no clock of its own. The agent feeds readings in and writes what comes out
(the event bytes *and* the counter's new last value) to the outbox in one transaction, so
the in-memory marks here and the persisted ones never disagree for longer than a commit.

Counter rules (DESIGN.md, "Counters are first-class"), per reading of value ``v`` against
the persisted mark ``(prev, epoch)``:

===========================================  ==========================================
no mark yet                                  ``baseline`` event, qty 0
``v == prev``                                nothing (the epoch is updated silently)
``0 < v - prev <= sanity``                   count ``v - prev``
``v - prev > sanity``                        ``suspect``, qty ``v - prev``
``v < prev``, epoch changed (PLC restart)    ``reset``, qty ``v`` (+ ``suspect`` if v > sanity)
``v < prev``, same epoch, wrap <= sanity     ``rollover``, qty ``(max - prev) + v + 1``
``v < prev``, same epoch, wrap > sanity      ``suspect``, qty ``v`` (what a reset would count)
===========================================  ==========================================

Every event carries ``raw = {tag, value, prev}``; a ``suspect`` event is held by central
until a controller decides. Only GOOD readings count; others only update health, which
loses nothing because a counter is cumulative: the next good reading carries the units.

State: the ``(state, reason)`` pair from the state code and the optional reason tag; an
event when the pair changes (after ``debounce_ms`` of stability when set). An unknown
*state* code emits nothing (logged once, shown on status: we never invent a state); an
unknown *reason* code with a known state emits the state with reason ``UNMAPPED_<code>``
so the stop is visible and the reason can be mapped later. Running carries no reason.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from edge.config import CounterConfig, MachineConfig, ScrapConfig, StateConfig, normalize_code
from edge.encoding import Scalar, event_body
from protocols.base import Quality, TagReading

__all__ = ["Mark", "Delta", "Derived", "Deriver", "counter_delta", "counter_value", "STATE_MARK"]

log = logging.getLogger(__name__)

STATE_MARK = "state:"
UNMAPPED = "UNMAPPED_"


@dataclass(frozen=True, slots=True)
class Mark:
    """The persisted last value of a counter (int) or a machine's emitted state (text)."""

    value: int | str
    epoch: str


@dataclass(frozen=True, slots=True)
class Delta:
    qty: int
    flags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Derived:
    """What one reading produced: an event body (no seq yet) and/or a mark to persist."""

    body: bytes | None
    key: str
    mark: Mark


def counter_delta(prev: Mark | None, value: int, epoch: str, max_value: int, sanity: int) -> Delta | None:
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
    wrap = (max_value - last) + value + 1
    if wrap <= sanity:
        return Delta(wrap, ("rollover",))
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


@dataclass
class _Pending:
    pair: tuple[str, str | None]
    ts: datetime
    due: datetime


@dataclass
class _Machine:
    id: str
    state: StateConfig | None
    emitted: tuple[str, str | None] | None = None
    emitted_code: Scalar = None
    pending: _Pending | None = None
    last: dict[str, Scalar] = field(default_factory=dict)


def _mark_pair(mark: Mark | None) -> tuple[str, str | None] | None:
    if mark is None or not isinstance(mark.value, str) or "|" not in mark.value:
        return None
    state, _, reason = mark.value.partition("|")
    return state, reason or None


class Deriver:
    """Derives events from readings for the configured machines, starting from persisted marks."""

    def __init__(self, machines: list[MachineConfig], marks: dict[str, Mark] | None = None) -> None:
        self._marks: dict[str, Mark] = dict(marks or {})
        self._counters: dict[str, tuple[str, str, CounterConfig]] = {}
        self._state_tags: dict[str, _Machine] = {}
        self._reason_tags: dict[str, list[_Machine]] = {}
        self._codes: dict[str, Scalar] = {}
        self._machines: list[_Machine] = []
        self.problems: dict[str, str] = {}
        self._flagged: set[str] = set()
        self._waiting: dict[str, TagReading] = {}  # reason tag -> scrap reading held until it arrives
        for m in machines:
            if m.good is not None:
                self._counters[m.good.tag] = (m.id, "count", m.good)
            for s in m.scrap:
                self._counters[s.tag] = (m.id, "scrap", s)
            machine = _Machine(m.id, m.state)
            self._machines.append(machine)
            if m.state is not None:
                machine.emitted = _mark_pair(self._marks.get(STATE_MARK + m.id))
                self._state_tags[m.state.tag] = machine
                if m.state.reason_tag:
                    self._reason_tags.setdefault(m.state.reason_tag, []).append(machine)

    @property
    def marks(self) -> dict[str, Mark]:
        return dict(self._marks)

    def feed(self, reading: TagReading) -> list[Derived]:
        """Events (and marks) produced by one reading; an empty list for most readings."""
        tag = reading.tag
        if reading.quality is not Quality.GOOD:
            self._problem(tag, f"quality {reading.quality.value}: {reading.detail}".rstrip(": "))
            return []
        self._flagged.clear()
        out: list[Derived] = self.tick(reading.received)
        self._codes[tag] = reading.value
        if tag in self._counters:
            out += self._count(reading)
        held = self._waiting.pop(tag, None)
        if held is not None:
            out += self._count(held)
            if held.tag in self.problems and held.tag not in self._flagged:
                self._clear(held.tag)
        for machine in self._machines_of(tag):
            out += self._state(machine, reading)
        if tag in self.problems and tag not in self._flagged:
            self._clear(tag)
        return out

    def tick(self, now: datetime) -> list[Derived]:
        """State changes whose debounce time has passed by ``now``."""
        out: list[Derived] = []
        for machine in self._machines:
            pending = machine.pending
            if pending is not None and now >= pending.due:
                out += self._emit_state(machine, pending.pair, pending.ts, now)
        return out

    def flush(self, now: datetime) -> list[Derived]:
        """Emit every pending (debouncing) state change now: used at shutdown."""
        out: list[Derived] = []
        for machine in self._machines:
            if machine.pending is not None:
                out += self._emit_state(machine, machine.pending.pair, machine.pending.ts, now)
        return out

    def next_due(self) -> datetime | None:
        dues = [m.pending.due for m in self._machines if m.pending is not None]
        return min(dues) if dues else None

    # ------------------------------------------------------------------ counters

    def _count(self, reading: TagReading) -> list[Derived]:
        machine, kind, cfg = self._counters[reading.tag]
        value = counter_value(reading.value, cfg.max_value)
        if isinstance(value, str):
            self._problem(reading.tag, value)
            return []
        reason: str | None = None
        prev = self._marks.get(reading.tag)
        if isinstance(cfg, ScrapConfig):
            if cfg.reason_tag is not None:
                if cfg.reason_tag in self._codes:
                    code = normalize_code(self._codes[cfg.reason_tag])
                    reason = cfg.reason_map.get(code or "") or _unmapped(code)
                elif prev is not None:
                    # held until the reason tag's first value arrives (usually the same poll)
                    self._waiting[cfg.reason_tag] = reading
                    self._problem(reading.tag, f"waiting for reason tag {cfg.reason_tag!r}")
                    return []
                # a baseline counts nothing and needs no reason
            else:
                reason = cfg.reason
        mark = Mark(value, reading.epoch)
        delta = counter_delta(prev, value, reading.epoch, cfg.max_value, cfg.sanity)
        if delta is None:
            if prev == mark:
                return []
            self._marks[reading.tag] = mark
            return [Derived(None, reading.tag, mark)]
        self._marks[reading.tag] = mark
        if "suspect" in delta.flags:
            log.warning(
                "suspect counter jump on %s (machine %s): %s -> %s, delta %d held for review",
                reading.tag, machine, prev.value if prev else None, value, delta.qty,
            )
        body = event_body(
            machine=machine,
            kind=kind,
            ts=reading.source_ts or reading.received,
            rx=reading.received,
            tag=reading.tag,
            value=value,
            prev=prev.value if prev else None,
            qty=delta.qty,
            reason=reason,
            flags=delta.flags,
        )
        return [Derived(body, reading.tag, mark)]

    # ------------------------------------------------------------------ states

    def _machines_of(self, tag: str) -> list[_Machine]:
        found = [self._state_tags[tag]] if tag in self._state_tags else []
        if tag in self._reason_tags:
            found += [m for m in self._reason_tags[tag] if m not in found]
        return found

    def _state(self, machine: _Machine, reading: TagReading) -> list[Derived]:
        cfg = machine.state
        assert cfg is not None
        prev_value = machine.last.get(reading.tag)
        machine.last[reading.tag] = reading.value
        if cfg.tag not in self._codes:
            return []  # a reason before any state: nothing to say yet
        code = normalize_code(self._codes[cfg.tag])
        state = cfg.states.get(code or "")
        if state is None:
            self._problem(cfg.tag, f"unmapped state code {self._codes[cfg.tag]!r} (machine {machine.id})")
            return []
        reason: str | None = None
        if state != "running" and cfg.reason_tag is not None and cfg.reason_tag in self._codes:
            rcode = normalize_code(self._codes[cfg.reason_tag])
            if rcode is not None and rcode in cfg.reasons:
                reason = cfg.reasons[rcode]
            elif rcode is not None and rcode != "0":
                reason = _unmapped(rcode)  # a stop with a reason nobody mapped yet: visible
        pair = (state, reason)
        ts = reading.source_ts or reading.received
        if pair == machine.emitted:
            machine.pending = None
            return []
        if cfg.debounce_ms == 0:
            return self._emit_state(machine, pair, ts, reading.received, reading, prev_value)
        due = reading.received + timedelta(milliseconds=cfg.debounce_ms)
        first_ts = machine.pending.ts if machine.pending is not None else ts
        machine.pending = _Pending(pair, first_ts, due)
        return []

    def _emit_state(
        self,
        machine: _Machine,
        pair: tuple[str, str | None],
        ts: datetime,
        rx: datetime,
        reading: TagReading | None = None,
        prev_value: Scalar = None,
    ) -> list[Derived]:
        cfg = machine.state
        assert cfg is not None
        machine.pending = None
        machine.emitted = pair
        value = self._codes.get(cfg.tag) if reading is None else reading.value
        body = event_body(
            machine=machine.id,
            kind="state",
            ts=ts,
            rx=rx,
            tag=cfg.tag if reading is None else reading.tag,
            value=value,
            prev=machine.emitted_code if reading is None or reading.tag == cfg.tag else prev_value,
            state=pair[0],
            reason=pair[1],
        )
        machine.emitted_code = self._codes.get(cfg.tag)
        mark = Mark(f"{pair[0]}|{pair[1] or ''}", reading.epoch if reading else "")
        key = STATE_MARK + machine.id
        self._marks[key] = mark
        return [Derived(body, key, mark)]

    # ------------------------------------------------------------------ problems

    def _problem(self, tag: str, text: str) -> None:
        self._flagged.add(tag)
        if self.problems.get(tag) != text:
            log.warning("tag %s: %s", tag, text)
            self.problems[tag] = text

    def _clear(self, tag: str) -> None:
        text = self.problems.pop(tag)
        log.info("tag %s: recovered (was: %s)", tag, text)


def _unmapped(code: str | None) -> str:
    return (UNMAPPED + (code or "none"))[:64]
