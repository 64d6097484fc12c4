"""The machine model: pure and deterministic — virtual time (integer ms) in, events out.

A :class:`MachineModel` owns one machine's state, counters and random generator (seeded from
the plant seed and the machine id, so adding a machine never changes another one's history).
``advance(until_ms)`` plays everything that happens up to and including ``until_ms`` and
returns it as :class:`SimEvent` values in time order; calling it in small or large steps
gives the same events. No I/O, no wall clock: the servers and the truth log are adapters.

Random mode: in ``running`` a unit completes every ``cycle_s`` (± uniform ``cycle_jitter_s``);
each unit is scrap with probability ``scrap_rate`` (reason drawn by ``scrap_weights``, equal
weights by default). After an exponential running time of mean ``mtbf_s`` a random stop
(``stops``, drawn by weight; duration uniform in ``[min_s, max_s]``) begins; at its end the
machine runs again. Scheduled stops (breaks, changeovers) start on the clock and pre-empt
whatever happens then; the unfinished cycle is lost. Scripted mode plays ``script`` exactly.

Counters wrap at ``2**counter_bits - 1`` like a PLC's: after the max comes 0.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from device_sim.config import MachineSettings, ScriptStep, StateName, ms

__all__ = ["SimEvent", "MachineModel", "Counters"]

_Action = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class SimEvent:
    """Something that happened at virtual time ``t`` (Unix ms) on machine ``index``.

    ``kind``: ``count`` (a good unit), ``scrap`` (a scrapped unit, ``reason``), ``state``
    (``state``, ``reason``), ``fault`` (``fault`` name: counters changed without units),
    ``start`` (initial counters). Counter fields hold the values *after* the event;
    ``scrap_counters`` (every per-reason scrap counter) is set on ``start`` and ``fault``.
    """

    t: int
    index: int
    seq: int
    kind: str
    machine: str
    qty: int = 0
    reason: str | None = None
    state: str | None = None
    fault: str | None = None
    good: int = 0
    scrap_total: int = 0
    scrap_counter: int | None = None
    scrap_counters: tuple[tuple[str, int], ...] | None = None
    cycle_ms: int | None = None


@dataclass(slots=True)
class Counters:
    good: int
    scrap_total: int
    scrap: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Stop:
    start: int
    end: int
    state: StateName
    reason: str | None


class MachineModel:
    """One machine's deterministic history; see the module docstring."""

    def __init__(
        self,
        index: int,
        machine_id: str,
        spec: MachineSettings,
        scrap_reasons: list[str],
        start_ms: int,
        seed: int,
    ) -> None:
        self.index = index
        self.id = machine_id
        self.spec = spec
        self.reasons = list(scrap_reasons)
        self.counter_max = (1 << spec.counter_bits) - 1
        self._rng = random.Random(f"sfsync-sim:{seed}:{machine_id}")
        self._seq = 0
        self._out: list[SimEvent] = []
        start = spec.counter_start
        self.counters = Counters(start, start, {r: start for r in self.reasons})
        self.now = start_ms
        self.start_ms = start_ms
        self.state: StateName = "running"
        self.reason: str | None = None
        self._announced = False  # the first state is always written
        self.last_cycle_ms = ms(spec.cycle_s)
        self._cycle_start = start_ms
        self._next_unit: int | None = None
        self._next_failure: int | None = None
        self._stop_end: int | None = None
        self._in_scheduled = False
        self._sched_k = [0] * len(spec.schedule)
        weights = spec.scrap_weights or {r: 1.0 for r in self.reasons}
        self._scrap_names = list(weights)
        self._scrap_cum = _cumulative(list(weights.values()))
        self._stop_cum = _cumulative([s.weight for s in spec.stops])
        # scripted mode
        self._script: list[ScriptStep] | None = spec.script
        self._step = -1
        self._step_end: int | None = None
        self._step_units = 0
        self._emit("start", start_ms)
        if self._script is not None:
            self._enter_step(0, start_ms)
        else:
            self._set_state("running", None, start_ms)
            self._begin_running(start_ms)

    # ------------------------------------------------------------------ public

    def advance(self, until_ms: int) -> list[SimEvent]:
        """Play every event with ``t <= until_ms``; returns them in order."""
        while True:
            t, action = self._next_action()
            if t is None or t > until_ms:
                break
            self.now = t
            action(t)
        self.now = max(self.now, until_ms)
        out, self._out = self._out, []
        return out

    def next_event_ms(self) -> int | None:
        """Virtual time of the next thing that will happen (None: nothing ever will)."""
        return self._next_action()[0]

    def reset_counters(self, t: int) -> list[SimEvent]:
        """PLC restart: every counter of this machine to 0 (no units made)."""
        self.counters = Counters(0, 0, dict.fromkeys(self.reasons, 0))
        self._emit("fault", t, fault="counter_reset")
        out, self._out = self._out, []
        return out

    def preset_good(self, t: int, margin: int) -> list[SimEvent]:
        """Preset the good counter to ``max - margin`` (it wraps ``margin + 1`` units later)."""
        self.counters.good = max(0, self.counter_max - margin)
        self._emit("fault", t, fault="rollover")
        out, self._out = self._out, []
        return out

    # ------------------------------------------------------------------ scheduling

    def _next_action(self) -> tuple[int | None, _Action]:
        best: int | None = None
        action: _Action = _noop
        for t, fn in (
            (self._next_unit, self._unit),
            (self._stop_end, self._end_stop),
            (self._step_end, self._end_step),
            (self._next_scheduled(), self._start_scheduled),
            (self._next_failure, self._fail),
        ):
            if t is not None and (best is None or t < best):
                best, action = t, fn
        return best, action

    def _next_scheduled(self) -> int | None:
        if self._script is not None or not self.spec.schedule:
            return None
        starts = [s.start for s in self._pending_stops()]
        return min(starts) if starts else None

    def _pending_stops(self) -> list[_Stop]:
        out = []
        for i, sched in enumerate(self.spec.schedule):
            k = self._sched_k[i]
            if k > 0 and sched.every_s is None:
                continue
            start = self.start_ms + ms(sched.first_at_s) + k * ms(sched.every_s or 0)
            out.append(_Stop(start, start + ms(sched.duration_s), sched.state, sched.reason))
        return out

    # ------------------------------------------------------------------ actions

    def _unit(self, t: int) -> None:
        self.last_cycle_ms = t - self._cycle_start
        if self._script is not None:
            self._scripted_unit(t)
        elif self.spec.scrap_rate > 0 and self._rng.random() < self.spec.scrap_rate:
            self._scrap(t, self._scrap_names[_pick(self._rng, self._scrap_cum)])
        else:
            self._good(t)
        self._cycle_start = t
        self._next_unit = t + self._cycle()

    def _scripted_unit(self, t: int) -> None:
        assert self._script is not None
        self._step_units += 1
        step = self._script[self._step] if 0 <= self._step < len(self._script) else None
        if step is not None and step.scrap_every and self._step_units % step.scrap_every == 0:
            names = step.scrap_reasons or self.reasons[:1]
            self._scrap(t, names[(self._step_units // step.scrap_every - 1) % len(names)])
        else:
            self._good(t)

    def _good(self, t: int) -> None:
        self.counters.good = self._wrap(self.counters.good + 1)
        self._emit("count", t, qty=1)

    def _scrap(self, t: int, reason: str) -> None:
        c = self.counters
        c.scrap_total = self._wrap(c.scrap_total + 1)
        c.scrap[reason] = self._wrap(c.scrap[reason] + 1)
        self._emit("scrap", t, qty=1, reason=reason, scrap_counter=c.scrap[reason])

    def _fail(self, t: int) -> None:
        stop = self.spec.stops[_pick(self._rng, self._stop_cum)]
        duration = self._rng.randint(ms(stop.min_s), ms(stop.max_s))
        self._stop_end = t + duration
        self._in_scheduled = False
        self._halt()
        self._set_state(stop.state, stop.reason, t)

    def _end_stop(self, t: int) -> None:
        self._stop_end = None
        self._in_scheduled = False
        self._set_state("running", None, t)
        self._begin_running(t)

    def _start_scheduled(self, t: int) -> None:
        due = [(i, s) for i, s in enumerate(self._pending_stops()) if s.start == t]
        for i, _ in due:
            self._sched_k[i] += 1
        stop = due[0][1]
        end = max(s.end for _, s in due)
        if self._in_scheduled and self._stop_end is not None:
            end = max(end, self._stop_end)
        self._stop_end = end
        self._in_scheduled = True
        self._halt()
        self._set_state(stop.state, stop.reason, t)

    def _begin_running(self, t: int) -> None:
        self._cycle_start = t
        self._next_unit = t + self._cycle()
        if self.spec.mtbf_s is not None:
            mean = ms(self.spec.mtbf_s)
            self._next_failure = t + max(1, round(self._rng.expovariate(1.0 / mean)))

    def _halt(self) -> None:
        self._next_unit = None
        self._next_failure = None

    # ------------------------------------------------------------------ script

    def _enter_step(self, i: int, t: int) -> None:
        assert self._script is not None
        if i >= len(self._script):
            if self.spec.script_repeat:
                i = 0
            else:
                self._step, self._step_end = len(self._script), None
                self._halt()
                self._set_state(self.spec.script_then, None, t)
                if self.spec.script_then == "running":
                    self._begin_running(t)
                    self._next_failure = None
                return
        step = self._script[i]
        self._step, self._step_end, self._step_units = i, t + ms(step.for_s), 0
        self._halt()
        self._set_state(step.state, step.reason, t)
        if step.state == "running":
            self._cycle_start = t
            self._next_unit = t + self._cycle()

    def _end_step(self, t: int) -> None:
        self._enter_step(self._step + 1, t)

    # ------------------------------------------------------------------ helpers

    def _cycle(self) -> int:
        if self._script is not None and 0 <= self._step < len(self._script):
            step_cycle = self._script[self._step].cycle_s
            if step_cycle is not None:
                return ms(step_cycle)
        base = ms(self.spec.cycle_s)
        jitter = ms(self.spec.cycle_jitter_s)
        if jitter:
            base += self._rng.randint(-jitter, jitter)
        return max(1, base)

    def _wrap(self, value: int) -> int:
        return value if value <= self.counter_max else value - self.counter_max - 1

    def _set_state(self, state: StateName, reason: str | None, t: int) -> None:
        if self._announced and state == self.state and reason == self.reason:
            return
        self._announced = True
        self.state, self.reason = state, reason
        self._emit("state", t, state=state, reason=reason)

    def _emit(self, kind: str, t: int, **fields: object) -> None:
        self._seq += 1
        c = self.counters
        self._out.append(
            SimEvent(
                t=t, index=self.index, seq=self._seq, kind=kind, machine=self.id,
                good=c.good, scrap_total=c.scrap_total,
                cycle_ms=self.last_cycle_ms if kind in ("count", "scrap") else None,
                scrap_counters=tuple(c.scrap.items()) if kind in ("start", "fault") else None,
                **fields,  # type: ignore[arg-type]
            )
        )


def _noop(t: int) -> None:
    return None


def _cumulative(weights: list[float]) -> list[float]:
    out, acc = [], 0.0
    for w in weights:
        acc += w
        out.append(acc)
    return out


def _pick(rng: random.Random, cumulative: list[float]) -> int:
    x = rng.random() * cumulative[-1]
    for i, c in enumerate(cumulative):
        if x < c:
            return i
    return len(cumulative) - 1
