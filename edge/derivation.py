"""Tag snapshots -> machine events: counter deltas, scrap with reasons, state changes.

Pure: no I/O, no clock of its own. The agent feeds the snapshots its sources deliver (the
readings of one poll or one publish response) and writes what comes out — the event bytes
*and* the counter's new mark — to the outbox in one transaction, so the in-memory marks here
and the persisted ones never disagree for longer than a commit. Counter arithmetic is in
:mod:`edge.counters`.

**Snapshots.** Values that arrived together are applied together: restart indicators first,
then reason and state tags, then counters. A counter and its reason tag, a state and its
reason, changed in one PLC write, derive one correctly attributed event whatever their order
in the config. A snapshot holding a tag twice (an OPC UA publish with queued changes) is cut
into moments in source time order, each tag at most once per moment.

**Scrap reasons.** A scrap count takes its reason tag's value when the reason changed with it
(same moment) or since the previous count of that counter. Otherwise the reason may still be
on its way (the PLC wrote it in a later update): the count is *held* at most ``reason_wait_ms``,
then goes out with the reason then known; a reason change meanwhile is its reason. A held
count is not an event yet and its counter mark does not move, in memory or on disk, so an
agent that dies during the wait counts those units again from the persisted mark after
restart — once. A count whose reason tag never had a value waits for it (flagged on status).

**State.** The ``(state, reason)`` pair from the state code and the optional reason tag; an
event when the pair changes (after ``debounce_ms`` of stability when set). An unknown *state*
code emits nothing (logged once, shown on status: we never invent a state); an unmapped
*reason* with a known state is visible (:func:`edge.config.reason_name`). Running carries no
reason.

**Restart indicators** (per source, optional): when one says the PLC restarted, the marks of
the source's counters are re-stamped (persisted with the indicator's mark, in one
transaction), so their next drop is a certain ``reset``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from edge.config import (
    UNMAPPED,
    CounterConfig,
    EdgeSettings,
    MachineConfig,
    ScrapConfig,
    StateConfig,
    normalize_code,
    reason_name,
)
from edge.counters import DEFAULT_MAX_RATE_PER_S, Delta, Mark, counter_delta, counter_value
from edge.encoding import Scalar, event_body
from edge.restarts import RestartWatch, restart_seen, restart_watches
from protocols.base import Quality, Snapshot, TagReading

__all__ = [
    "Mark", "Delta", "Derived", "Deriver", "RestartWatch", "counter_delta", "counter_value", "moments",
    "STATE_MARK", "RESTART_MARK",
]

log = logging.getLogger(__name__)

STATE_MARK = "state:"
RESTART_MARK = "restart:"


@dataclass(frozen=True, slots=True)
class Derived:
    """What a snapshot produced: an event body (no seq yet) and/or a mark to persist."""

    body: bytes | None
    key: str
    mark: Mark


def moments(snapshot: Snapshot) -> list[list[TagReading]]:
    """The snapshot as moments in which each tag appears at most once (usually one moment)."""
    if len({r.tag for r in snapshot}) == len(snapshot):
        return [list(snapshot)]
    ordered = sorted(snapshot, key=lambda r: r.source_ts or r.received)  # stable: arrival order within a time
    out: list[list[TagReading]] = [[]]
    for r in ordered:
        if any(x.tag == r.tag for x in out[-1]):
            out.append([])
        out[-1].append(r)
    return out


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


@dataclass
class _Scrap:
    """A scrap counter with a reason tag: which reason its last count used, and a held count."""

    cfg: ScrapConfig
    used: str | None = None  # reason code of the last count (or the first value seen)
    seen: bool = False  # the reason tag had a value
    fresh: bool = False  # the reason changed since the last count: it is this count's reason
    held: TagReading | None = None
    due: datetime | None = None  # None while the reason tag never had a value


def _mark_pair(mark: Mark | None) -> tuple[str, str | None] | None:
    if mark is None or not isinstance(mark.value, str) or "|" not in mark.value:
        return None
    state, _, reason = mark.value.partition("|")
    return state, reason or None


class Deriver:
    """Derives events from snapshots for the configured machines, starting from persisted marks."""

    def __init__(
        self,
        machines: list[MachineConfig],
        marks: dict[str, Mark] | None = None,
        restarts: Sequence[RestartWatch] = (),
    ) -> None:
        self._marks: dict[str, Mark] = dict(marks or {})
        self._counters: dict[str, tuple[str, str, CounterConfig]] = {}
        self._scraps: dict[str, _Scrap] = {}  # counter tag -> scrap with a reason tag
        self._scraps_by_reason: dict[str, list[_Scrap]] = {}
        self._state_tags: dict[str, _Machine] = {}
        self._reason_tags: dict[str, list[_Machine]] = {}
        self._restarts = {w.tag: w for w in restarts}
        self._restart_last: dict[str, str] = {
            w.tag: str(self._marks[RESTART_MARK + w.tag].value) for w in restarts if RESTART_MARK + w.tag in self._marks
        }
        self._codes: dict[str, Scalar] = {}
        self._machines: list[_Machine] = []
        self.problems: dict[str, str] = {}
        self._flagged: set[str] = set()
        #: config order of every tag: a snapshot's events come out in it, whatever the arrival order
        self._rank = {tag: i for i, tag in enumerate(dict.fromkeys(t for m in machines for t in m.tags()))}
        for m in machines:
            for cfg, kind in [(m.good, "count")] + [(s, "scrap") for s in m.scrap]:
                if cfg is None:
                    continue
                self._counters[cfg.tag] = (m.id, kind, cfg)
                if cfg.max_rate_per_s is None:
                    log.warning(
                        "counter %s (machine %s) has no max_rate_per_s: assuming %s units/s, so a drop "
                        "is a rollover only within that rate and faster counters' rollovers are held as "
                        "suspect; set it to the machine's top rate", cfg.tag, m.id, DEFAULT_MAX_RATE_PER_S,
                    )
                if isinstance(cfg, ScrapConfig) and cfg.reason_tag is not None:
                    scrap = _Scrap(cfg)
                    self._scraps[cfg.tag] = scrap
                    self._scraps_by_reason.setdefault(cfg.reason_tag, []).append(scrap)
            machine = _Machine(m.id, m.state)
            self._machines.append(machine)
            if m.state is not None:
                machine.emitted = _mark_pair(self._marks.get(STATE_MARK + m.id))
                self._state_tags[m.state.tag] = machine
                if m.state.reason_tag:
                    self._reason_tags.setdefault(m.state.reason_tag, []).append(machine)

    @classmethod
    def from_settings(cls, settings: EdgeSettings, marks: dict[str, Mark] | None = None) -> Deriver:
        return cls(settings.machines, marks, restart_watches(settings))

    @property
    def marks(self) -> dict[str, Mark]:
        return dict(self._marks)

    # ------------------------------------------------------------------ feeding

    def feed(self, snapshot: Snapshot) -> list[Derived]:
        """Events (and marks) produced by the readings that arrived together; often none."""
        if not snapshot:
            return []
        self._flagged.clear()
        out: list[Derived] = self.tick(max(r.received for r in snapshot))
        for moment in moments(snapshot):
            out += self._moment(moment)
        for r in snapshot:
            if r.tag in self.problems and r.tag not in self._flagged:
                self._clear(r.tag)
        return out

    def _moment(self, readings: list[TagReading]) -> list[Derived]:
        good: list[TagReading] = []
        for r in sorted(readings, key=lambda r: self._rank.get(r.tag, -1)):
            if r.quality is Quality.GOOD:
                good.append(r)
            else:
                self._problem(r.tag, f"quality {r.quality.value}: {r.detail}".rstrip(": "))
        counters = [r for r in good if r.tag in self._counters]
        others = [r for r in good if r.tag not in self._counters]
        out: list[Derived] = []
        for r in counters:  # a new count of a held one: the held one first, with the reason known before
            out += self._release(r.tag, timed_only=True)  # (one still waiting for a first reason merges)
        for r in others:
            if r.tag in self._restarts:
                out += self._restart(self._restarts[r.tag], r)
        prev = {r.tag: self._codes.get(r.tag) for r in others}
        for r in others:
            self._codes[r.tag] = r.value
        for r in others:
            out += self._reason_arrived(r)
        out += self._states(others, prev)
        for r in counters:
            self._codes[r.tag] = r.value
            out += self._count(r)
        return out

    def tick(self, now: datetime) -> list[Derived]:
        """Held scrap counts and debounced state changes whose time has come by ``now``."""
        out: list[Derived] = []
        for tag, scrap in self._scraps.items():
            if scrap.held is not None and scrap.due is not None and now >= scrap.due:
                out += self._release(tag)
        for machine in self._machines:
            pending = machine.pending
            if pending is not None and now >= pending.due:
                out += self._emit_state(machine, pending.pair, pending.ts, now)
        return out

    def flush(self, now: datetime) -> list[Derived]:
        """Emit every pending (debouncing) state change and held scrap count now."""
        out = self.release_held()
        for machine in self._machines:
            if machine.pending is not None:
                out += self._emit_state(machine, machine.pending.pair, machine.pending.ts, now)
        return out

    def release_held(self) -> list[Derived]:
        """Held scrap counts out now, with the reasons known (at shutdown). Counts still waiting for a
        reason tag's first value stay unpersisted: the restarted agent counts them from the mark."""
        out: list[Derived] = []
        for tag, scrap in self._scraps.items():
            if scrap.held is not None and scrap.due is not None:
                out += self._release(tag)
        return out

    def next_due(self) -> datetime | None:
        dues = [m.pending.due for m in self._machines if m.pending is not None]
        dues += [s.due for s in self._scraps.values() if s.held is not None and s.due is not None]
        return min(dues) if dues else None

    # ------------------------------------------------------------------ counters

    def _count(self, reading: TagReading) -> list[Derived]:
        cfg = self._counters[reading.tag][2]
        value = counter_value(reading.value, cfg.max_value)
        if isinstance(value, str):
            self._problem(reading.tag, value)
            return []
        prev = self._marks.get(reading.tag)
        scrap = self._scraps.get(reading.tag)
        if scrap is not None and prev is not None and value != prev.value:
            if scrap.cfg.reason_tag not in self._codes:
                scrap.held, scrap.due = reading, None  # its first reason value is usually in the next snapshot
                self._problem(reading.tag, f"waiting for reason tag {scrap.cfg.reason_tag!r}")
                return []
            if not scrap.fresh and scrap.cfg.reason_wait_ms > 0:
                scrap.held = reading
                scrap.due = reading.received + timedelta(milliseconds=scrap.cfg.reason_wait_ms)
                return []
        return self._emit_count(reading, value)

    def _emit_count(self, reading: TagReading, value: int) -> list[Derived]:
        machine, kind, cfg = self._counters[reading.tag]
        prev = self._marks.get(reading.tag)
        mark = Mark(value, reading.epoch, reading.received)
        since = reading.prev_seen or (prev.at if prev is not None else None)
        elapsed = None if since is None else (reading.received - since).total_seconds()
        rate = cfg.max_rate_per_s or DEFAULT_MAX_RATE_PER_S
        delta = counter_delta(prev, value, reading.epoch, cfg.max_value, cfg.sanity,
                              max_rate_per_s=rate, elapsed_s=elapsed)
        self._marks[reading.tag] = mark
        if delta is None:
            return [] if prev == mark else [Derived(None, reading.tag, mark)]
        if "suspect" in delta.flags:
            log.warning(
                "suspect counter jump on %s (machine %s): %s -> %s in %s s, delta %d held for review",
                reading.tag, machine, prev.value if prev else None, value,
                "?" if elapsed is None else f"{elapsed:.3f}", delta.qty,
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
            reason=self._scrap_reason(reading.tag, cfg, delta),
            flags=delta.flags,
        )
        return [Derived(body, reading.tag, mark)]

    def _scrap_reason(self, tag: str, cfg: CounterConfig, delta: Delta) -> str | None:
        if not isinstance(cfg, ScrapConfig):
            return None
        if cfg.reason_tag is None:
            return cfg.reason
        if cfg.reason_tag not in self._codes:  # the reason tag never had a value
            return None if "baseline" in delta.flags else UNMAPPED
        code = normalize_code(self._codes[cfg.reason_tag])
        scrap = self._scraps[tag]
        if "baseline" not in delta.flags:
            scrap.used, scrap.fresh = code, False
        return reason_name(code, cfg.reason_map) or UNMAPPED

    def _release(self, tag: str, *, timed_only: bool = False) -> list[Derived]:
        """A held scrap count out now, with the reason known now (``UNMAPPED`` if none ever came)."""
        scrap = self._scraps.get(tag)
        if scrap is None or scrap.held is None or (timed_only and scrap.due is None):
            return []
        held, scrap.held, scrap.due = scrap.held, None, None
        value = counter_value(held.value, scrap.cfg.max_value)
        assert isinstance(value, int), "only valid counter values are held"
        if tag in self.problems and tag not in self._flagged:
            self._clear(tag)
        return self._emit_count(held, value)

    def _reason_arrived(self, reading: TagReading) -> list[Derived]:
        """A scrap reason value: marks it fresh when it changed, and is the reason of a held count."""
        out: list[Derived] = []
        code = normalize_code(reading.value)
        for scrap in self._scraps_by_reason.get(reading.tag, []):
            first, scrap.seen = not scrap.seen, True
            if first and scrap.held is None:
                scrap.used = code  # the value standing when we start: used by earlier counts
            elif first or code != scrap.used:
                scrap.fresh = True
                if scrap.held is not None:
                    out += self._release(scrap.cfg.tag)
        return out

    # ------------------------------------------------------------------ restart indicators

    def _restart(self, watch: RestartWatch, reading: TagReading) -> list[Derived]:
        now_value, restarted = restart_seen(watch.kind, self._restart_last.get(watch.tag), reading.value)
        if now_value is None:
            self._problem(watch.tag, f"restart indicator value {reading.value!r} is not usable for {watch.kind}")
            return []
        known = watch.tag in self._restart_last
        self._restart_last[watch.tag] = now_value
        out: list[Derived] = []
        if restarted:
            log.warning("restart indicator %s (%s): the PLC restarted; a counter drop of its source is a reset",
                        watch.tag, watch.kind)
            for tag in watch.counters:
                out += self._release(tag)
                prev = self._marks.get(tag)
                if prev is not None:
                    self._marks[tag] = replace(prev, epoch=f"restarted@{reading.received.isoformat()}")
                    out.append(Derived(None, tag, self._marks[tag]))
        if restarted or not known or watch.kind != "uptime":  # uptime moves every read: stored on change of life
            mark = Mark(now_value, reading.epoch, reading.received)
            if self._marks.get(RESTART_MARK + watch.tag) != mark:
                self._marks[RESTART_MARK + watch.tag] = mark
                out.append(Derived(None, RESTART_MARK + watch.tag, mark))
        return out

    # ------------------------------------------------------------------ states

    def _states(self, readings: list[TagReading], prev: dict[str, Scalar]) -> list[Derived]:
        """One evaluation per machine whose state or reason tag is in the moment."""
        out: list[Derived] = []
        done: set[str] = set()
        by_tag = {r.tag: r for r in readings}
        for r in readings:
            for machine in self._machines_of(r.tag):
                if machine.id in done:
                    continue
                done.add(machine.id)
                assert machine.state is not None
                trigger = by_tag.get(machine.state.tag, r)
                out += self._state(machine, trigger, prev.get(trigger.tag))
        return out

    def _machines_of(self, tag: str) -> list[_Machine]:
        found = [self._state_tags[tag]] if tag in self._state_tags else []
        if tag in self._reason_tags:
            found += [m for m in self._reason_tags[tag] if m not in found]
        return found

    def _state(self, machine: _Machine, reading: TagReading, prev_value: Scalar) -> list[Derived]:
        cfg = machine.state
        assert cfg is not None
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
            if rcode != "0":  # 0: no reason given
                reason = reason_name(rcode, cfg.reasons)
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
        mark = Mark(f"{pair[0]}|{pair[1] or ''}", reading.epoch if reading else "", rx)
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
