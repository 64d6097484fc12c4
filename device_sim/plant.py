"""The running plant: virtual clock, machine models, truth log, servers and faults, in one loop.

The loop wakes when the next model event is due in wall time (or when poked), advances every
due model to "now" on the virtual clock, writes the truth lines of the batch (one write,
flushed), then publishes: OPC UA variables event by event (each state change is written on
its own, so a subscriber sees every interval), Modbus registers once per batch. Scripted
faults are merged in at their exact virtual time, so they are as deterministic as the seed.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from device_sim.config import ResolvedMachine, SimSettings, ms, utc_ms
from device_sim.control import ControlServer
from device_sim.faults import Fault
from device_sim.layout import COIL_RUNNING, MachineView, block_size, machine_registers
from device_sim.modbus_server import ModbusSimServer, RegisterStore
from device_sim.model import MachineModel, SimEvent
from device_sim.opcua_server import OpcUaSimServer
from device_sim.plant_faults import FaultRunner
from device_sim.truth import TruthLog, event_record, iso_ms

__all__ = ["SimPlant", "VirtualClock", "LagStats"]

log = logging.getLogger(__name__)


class VirtualClock:
    """Virtual Unix ms = ``start_ms`` + wall seconds since creation x 1000 x ``speed``."""

    def __init__(self, start_ms: int, speed: float) -> None:
        self.start_ms = start_ms
        self.speed = speed
        self._wall0 = time.monotonic()

    def now_ms(self) -> int:
        return self.start_ms + int((time.monotonic() - self._wall0) * 1000.0 * self.speed)

    def wall_seconds_until(self, t_ms: int) -> float:
        return (t_ms - self.now_ms()) / 1000.0 / self.speed


class LagStats:
    """How far behind the wall clock events were played (wall seconds)."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self.max = 0.0
        self.events = 0

    def add(self, lag_s: float, events: int) -> None:
        self.events += events
        self.max = max(self.max, lag_s)
        if len(self.samples) < 1_000_000:
            self.samples.append(lag_s)

    def quantile(self, q: float) -> float:
        if not self.samples:
            return 0.0
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class SimPlant:
    """``async with SimPlant(settings, truth_path) as plant:`` — see ``device_sim`` docstring."""

    def __init__(self, settings: SimSettings, truth_path: str | Path | None = None) -> None:
        self.settings = settings
        self.machines: list[ResolvedMachine] = settings.resolve()
        self.by_id = {m.id: m for m in self.machines}
        path = Path(truth_path) if truth_path is not None else settings.truth.path
        self.truth = TruthLog(path, fsync=settings.truth.fsync)
        self.reasons = settings.scrap_reason_names
        self.views = {m.index: MachineView(m) for m in self.machines}
        self.models: list[MachineModel] = []
        self.clock: VirtualClock | None = None
        self.lag = LagStats()
        self.processed_ms = 0
        self.end_ms: int | None = None
        self.producing = False
        self._heap: list[tuple[int, int]] = []
        self._next: dict[int, int | None] = {}
        self._scripted: list[tuple[int, int, Fault]] = []
        self._injections: list[tuple[Fault, asyncio.Future[int]]] = []
        self._wake = asyncio.Event()
        self._ended = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.opcua = OpcUaSimServer(settings, self.machines) if any(m.opcua for m in self.machines) else None
        sizes: dict[int, int] = {}
        for m in self.machines:
            if m.modbus and m.device_id is not None and m.base is not None:
                sizes[m.device_id] = max(sizes.get(m.device_id, 0), m.base + block_size(len(self.reasons)))
        self.store = RegisterStore(sizes)
        self.modbus = ModbusSimServer(settings.modbus.host, settings.modbus.port, self.store) if sizes else None
        self.faults = FaultRunner(self)
        self.control: ControlServer | None = None

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> SimPlant:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        cfg = self.settings
        start_ms = cfg.clock.start_ms()
        if start_ms is None:
            start_ms = int(time.time() * 1000)
        self.processed_ms = start_ms
        if cfg.clock.run_for_s is not None:
            self.end_ms = start_ms + ms(cfg.clock.run_for_s)
        self.models = [
            MachineModel(m.index, m.id, m.spec, self.reasons, start_ms, cfg.seed) for m in self.machines
        ]
        for model in self.models:  # every model's start and first state lines come out at start_ms
            self._next[model.index] = start_ms
            heapq.heappush(self._heap, (start_ms, model.index))
        self._scripted = sorted((start_ms + ms(f.at_s or 0), i, f) for i, f in enumerate(cfg.faults))
        self.producing = True
        await self._advance(start_ms)  # initial state and counters, before anyone can read
        if self.modbus is not None:
            await self.modbus.start()
        if self.opcua is not None:
            await self.opcua.start(self.views)
        if cfg.control.port is not None:
            self.control = ControlServer(self, cfg.control.host, cfg.control.port)
            await self.control.start()
        # the clock starts once the servers listen, so their slow start-up is not a lag
        self.clock = VirtualClock(start_ms, cfg.clock.speed)
        self._task = asyncio.create_task(self._run(), name="sim-plant")

    async def close(self) -> None:
        """Stop production (writing the ``end`` line), stop the servers, close the truth log."""
        if self._task is not None and not self._task.done() and self.producing:
            await self.stop_production()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self.faults.cancel_timers()
        if self.control is not None:
            await self.control.stop()
        if self.opcua is not None:
            await self.opcua.stop()
        if self.modbus is not None:
            await self.modbus.stop()
        self.truth.close()

    # ------------------------------------------------------------------ public API

    @property
    def opcua_endpoint(self) -> str | None:
        return self.opcua.endpoint if self.opcua is not None else None

    @property
    def modbus_port(self) -> int | None:
        return self.modbus.port if self.modbus is not None else None

    @property
    def virtual_now_ms(self) -> int:
        assert self.clock is not None, "plant not started"
        return self.clock.now_ms()

    async def inject(self, fault: Fault | Mapping[str, Any]) -> int:
        """Play a fault now; returns the virtual ms it was applied at (model faults: in the truth log)."""
        f = fault if isinstance(fault, Fault) else Fault.model_validate(fault)
        if f.machine is not None and f.machine not in self.by_id:
            raise ValueError(f"unknown machine {f.machine!r}")
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._injections.append((f, fut))
        self._wake.set()
        return await fut

    async def stop_production(self) -> int:
        """Stop producing now (virtual time), keep serving the last values; returns the end ms."""
        if self.producing:
            assert self.clock is not None
            self.end_ms = max(self.processed_ms, self.clock.now_ms())
            self._wake.set()
            await self.wait_ended()
        assert self.end_ms is not None
        return self.end_ms

    async def run_until(self, t: datetime | int) -> int:
        """Produce until virtual time ``t`` (aware datetime or Unix ms), then stop producing."""
        t_ms = utc_ms(t) if isinstance(t, datetime) else t
        if t_ms < self.processed_ms:
            raise ValueError(f"{iso_ms(t_ms)} is already in the past of the plant ({iso_ms(self.processed_ms)})")
        self.end_ms = t_ms if self.end_ms is None else min(self.end_ms, t_ms)
        self._wake.set()
        await self.wait_ended()
        return self.end_ms

    async def wait_ended(self) -> None:
        """Wait until production has ended (``run_for_s``, ``run_until`` or ``stop_production``)."""
        waiter = asyncio.ensure_future(self._ended.wait())
        assert self._task is not None, "plant not started"
        done, _ = await asyncio.wait({waiter, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:
            waiter.cancel()
            self._task.result()  # raises the loop's failure
            raise RuntimeError("the plant loop stopped before production ended")

    def counters(self) -> dict[str, dict[str, Any]]:
        """What every PLC shows now: good, scrap_total, scrap per reason, state code."""
        return {
            v.machine.id: {"good": v.good, "scrap_total": v.scrap_total, "scrap": dict(v.scrap),
                           "state": v.state_code, "reason": v.down_reason}
            for v in self.views.values()
        }

    def poke(self) -> None:
        self._wake.set()

    # ------------------------------------------------------------------ loop

    async def _run(self) -> None:
        assert self.clock is not None
        try:
            while True:
                if self.producing:
                    target = self.clock.now_ms()
                    if self.end_ms is not None:
                        target = min(target, self.end_ms)
                    if target > self.processed_ms:
                        await self._advance(target)
                    if self.end_ms is not None and self.processed_ms >= self.end_ms:
                        self._finish()
                while self._injections:
                    f, fut = self._injections.pop(0)
                    try:
                        await self._apply(f, self.processed_ms)
                    except Exception as exc:  # noqa: BLE001 - surfaced to the caller of inject()
                        fut.set_exception(exc)
                    else:
                        fut.set_result(self.processed_ms)
                await self._sleep()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("simulated plant loop failed")
            raise

    async def _sleep(self) -> None:
        assert self.clock is not None
        delay = 1.0
        if self.producing:
            due = [t for t in (self._heap[0][0] if self._heap else None, self.end_ms,
                               self._scripted[0][0] if self._scripted else None) if t is not None]
            if due:
                delay = min(delay, max(0.0005, self.clock.wall_seconds_until(min(due))))
        if self._wake.is_set():
            self._wake.clear()
            return
        try:
            await asyncio.wait_for(self._wake.wait(), delay)
        except TimeoutError:
            return
        self._wake.clear()

    def _finish(self) -> None:
        self.producing = False
        self.truth.write_records([{"t": iso_ms(self.processed_ms), "kind": "end"}])
        self._ended.set()
        log.info("production ended at %s", iso_ms(self.processed_ms))

    def _schedule(self, model: MachineModel) -> None:
        nxt = model.next_event_ms()
        self._next[model.index] = nxt
        if nxt is not None:
            heapq.heappush(self._heap, (nxt, model.index))

    def _advance_models(self, until: int) -> list[SimEvent]:
        out: list[SimEvent] = []
        while self._heap and self._heap[0][0] <= until:
            t, index = heapq.heappop(self._heap)
            if self._next.get(index) != t:
                continue  # stale entry
            model = self.models[index]
            out += model.advance(until)
            self._schedule(model)
        out.sort(key=lambda e: (e.t, e.index, e.seq))
        return out

    async def _advance(self, target: int) -> None:
        records: list[dict[str, Any]] = []
        events: list[SimEvent] = []
        later: list[Fault] = []
        while self._scripted and self._scripted[0][0] <= target:
            t, _, fault = self._scripted.pop(0)
            batch = self._advance_models(t)
            if fault.is_model_fault:
                batch += self.faults.model_fault(fault, t)
                for ev in batch:
                    self._schedule(self.models[ev.index])
            else:
                later.append(fault)
            events += batch
            records += [event_record(e) for e in batch]
            if not fault.is_model_fault:
                records.append(self.faults.record(fault, t))
        batch = self._advance_models(target)
        events += batch
        records += [event_record(e) for e in batch]
        if events and self.clock is not None:
            self.lag.add(max(0.0, (self.clock.now_ms() - events[0].t) / 1000.0 / self.clock.speed), len(events))
        self.processed_ms = max(self.processed_ms, target)
        self.truth.write_records(records)
        await self.publish(events)
        for fault in later:
            await self.faults.adapter_fault(fault, record=False)

    async def _apply(self, fault: Fault, t: int) -> None:
        if fault.is_model_fault:
            events = self.faults.model_fault(fault, t)
            for ev in events:
                self._schedule(self.models[ev.index])
            self.truth.write_events(events)
            await self.publish(events)
        else:
            await self.faults.adapter_fault(fault, record=True)

    # ------------------------------------------------------------------ publishing

    async def publish(self, events: list[SimEvent]) -> None:
        """Apply events to the views and push them to the servers (skipping frozen machines)."""
        reasons = self.settings.reasons
        touched: set[int] = set()
        opcua = self.opcua
        for ev in events:
            view = self.views[ev.index]
            visible = opcua is not None and view.machine.opcua and self.faults.opcua_visible(ev.index)
            if ev.kind == "state" and visible and opcua is not None:
                await opcua.flush(view)  # counts before the change carry their own time
            view.apply(ev, reasons.downtime, reasons.scrap)
            touched.add(ev.index)
            if opcua is not None and view.machine.opcua:
                opcua.mark(ev)
                if ev.kind == "state" and visible:
                    await opcua.flush(view)
        if opcua is not None:
            for index in opcua.dirty_indexes():
                if self.faults.opcua_visible(index):
                    await opcua.flush(self.views[index])
        for index in touched:
            self.write_modbus(index)

    def write_modbus(self, index: int) -> None:
        m = self.views[index].machine
        if not m.modbus or m.device_id is None or m.base is None or not self.faults.modbus_visible(index):
            return
        view = self.views[index]
        self.store.write_registers(m.device_id, m.base, machine_registers(view, self.reasons))
        self.store.write_bits(m.device_id, m.base + COIL_RUNNING, [view.running, view.faulted])
