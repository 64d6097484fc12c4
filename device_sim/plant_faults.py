"""Plays :class:`device_sim.faults.Fault` values on a running :class:`device_sim.plant.SimPlant`.

Model faults go through the machine models (and so into the truth log with exact counters);
adapter faults change only what the servers show. Timed faults (``for_s``) end on a wall-clock
timer; ``clear`` ends them all at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from device_sim.config import ResolvedMachine
from device_sim.faults import Fault
from device_sim.layout import MachineView, block_size
from device_sim.modbus_server import Disturbance, ModbusSimServer, RegisterStore
from device_sim.model import MachineModel, SimEvent
from device_sim.opcua_server import OpcUaSimServer
from device_sim.truth import TruthLog, iso_ms

__all__ = ["FaultRunner", "FaultTarget"]


class FaultTarget(Protocol):
    """What playing a fault needs of the running plant (:class:`device_sim.plant.SimPlant`).

    A protocol rather than the class, so the plant can import this module without the two
    importing each other."""

    machines: list[ResolvedMachine]
    by_id: dict[str, ResolvedMachine]
    models: list[MachineModel]
    truth: TruthLog
    reasons: list[str]
    views: dict[int, MachineView]
    store: RegisterStore
    opcua: OpcUaSimServer | None
    modbus: ModbusSimServer | None
    processed_ms: int

    def write_modbus(self, index: int) -> None: ...

log = logging.getLogger(__name__)


class FaultRunner:
    """The plant's fault state: frozen and bad-quality machines, timers, restart tasks."""

    def __init__(self, plant: FaultTarget) -> None:
        self.plant = plant
        self.frozen_opcua: set[int] = set()
        self.frozen_modbus: set[int] = set()
        self.bad_quality: set[int] = set()
        self.stopped: set[str] = set()
        self.applied: list[str] = []
        self._timers: list[asyncio.TimerHandle] = []
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ queries

    def opcua_visible(self, index: int) -> bool:
        return index not in self.frozen_opcua and index not in self.bad_quality

    def modbus_visible(self, index: int) -> bool:
        return index not in self.frozen_modbus

    def targets(self, fault: Fault) -> list[int]:
        if fault.machine is None:
            return [m.index for m in self.plant.machines]
        return [self.plant.by_id[fault.machine].index]

    def record(self, fault: Fault, t: int) -> dict[str, Any]:
        rec: dict[str, Any] = {"t": iso_ms(t), "kind": "fault", "fault": fault.kind}
        if fault.machine is not None:
            rec["machine"] = fault.machine
        if fault.protocol is not None:
            rec["protocol"] = fault.protocol
        return rec

    async def idle(self) -> None:
        """Wait for background fault work (server restarts) to finish."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def cancel_timers(self) -> None:
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        for task in self._tasks:
            task.cancel()

    # ------------------------------------------------------------------ model faults

    def model_fault(self, fault: Fault, t: int) -> list[SimEvent]:
        out: list[SimEvent] = []
        for index in self.targets(fault):
            model = self.plant.models[index]
            if fault.kind == "counter_reset":
                out += model.reset_counters(t)
            elif fault.kind == "rollover":
                out += model.preset_good(t, fault.margin)
        self.applied.append(fault.describe())
        log.info("fault %s at %s", fault.describe(), iso_ms(t))
        return out

    # ------------------------------------------------------------------ adapter faults

    async def adapter_fault(self, fault: Fault, record: bool) -> None:
        plant = self.plant
        if record:
            plant.truth.write_records([self.record(fault, plant.processed_ms)])
        self.applied.append(fault.describe())
        log.info("fault %s (for %s s)", fault.describe(), fault.for_s)
        protocols = fault.protocols()
        indexes = self.targets(fault)
        kind = fault.kind
        if kind == "freeze":
            if "opcua" in protocols:
                self.frozen_opcua.update(indexes)
            if "modbus" in protocols:
                self.frozen_modbus.update(indexes)
            self._later(fault.for_s, lambda: self._unfreeze(indexes, protocols))
        elif kind == "bad_quality" and plant.opcua is not None:
            self.bad_quality.update(indexes)
            for i in indexes:
                await plant.opcua.write(plant.views[i], plant.opcua.leaves, bad=True)
            self._later(fault.for_s, lambda: self._good_quality(indexes))
        elif kind in ("modbus_exception", "slow"):
            self._disturb(fault, indexes)
        elif kind == "drop_connections":
            for server in self._servers(protocols):
                server.drop_connections()
        elif kind == "server_stop":
            await self._stop(protocols)
            self._later(fault.for_s, lambda: self._start(protocols))
        elif kind == "server_start":
            await self._start(protocols)
        elif kind == "server_restart":
            await self._stop(protocols)
            self._spawn(self._restart_after(protocols, fault.for_s or 0.0))
        elif kind == "clear":
            await self.clear()

    async def clear(self) -> None:
        self.plant.store.disturbances.clear()
        await self._unfreeze(sorted(self.frozen_opcua | self.frozen_modbus), ("opcua", "modbus"))
        await self._good_quality(sorted(self.bad_quality))
        await self._start(tuple(self.stopped))

    def _disturb(self, fault: Fault, indexes: list[int]) -> None:
        until = time.monotonic() + fault.for_s if fault.for_s else None
        code = fault.code if fault.kind == "modbus_exception" else None
        spans: list[tuple[int | None, int, int]]
        if fault.machine is None:
            spans = [(None, 0, 1 << 16)]
        else:
            m = self.plant.machines[indexes[0]]
            if m.device_id is None or m.base is None:
                raise ValueError(f"machine {m.id!r} is not served over Modbus")
            spans = [(m.device_id, m.base, m.base + block_size(len(self.plant.reasons)))]
        for device_id, lo, hi in spans:
            self.plant.store.disturbances.append(
                Disturbance(device_id, lo, hi, until, code=code, delay_s=fault.delay_s)
            )

    async def _unfreeze(self, indexes: list[int], protocols: tuple[str, ...]) -> None:
        plant = self.plant
        for i in indexes:
            if "opcua" in protocols and i in self.frozen_opcua:
                self.frozen_opcua.discard(i)
                if plant.opcua is not None and self.opcua_visible(i):
                    plant.opcua.mark_all(i)
                    await plant.opcua.flush(plant.views[i])
            if "modbus" in protocols and i in self.frozen_modbus:
                self.frozen_modbus.discard(i)
                plant.write_modbus(i)

    async def _good_quality(self, indexes: list[int]) -> None:
        plant = self.plant
        for i in indexes:
            self.bad_quality.discard(i)
            if plant.opcua is not None and self.opcua_visible(i):
                plant.opcua.mark_all(i)
                await plant.opcua.flush(plant.views[i])

    def _servers(self, protocols: tuple[str, ...]) -> list[Any]:
        plant = self.plant
        out: list[Any] = []
        if "opcua" in protocols and plant.opcua is not None:
            out.append(plant.opcua)
        if "modbus" in protocols and plant.modbus is not None:
            out.append(plant.modbus)
        return out

    async def _stop(self, protocols: tuple[str, ...]) -> None:
        for name in protocols:
            server = self._servers((name,))
            if server:
                await server[0].stop()
                self.stopped.add(name)

    async def _start(self, protocols: tuple[str, ...]) -> None:
        plant = self.plant
        for name in protocols:
            if name not in self.stopped:
                continue
            self.stopped.discard(name)
            if name == "opcua" and plant.opcua is not None:
                await plant.opcua.start(plant.views)
            elif name == "modbus" and plant.modbus is not None:
                await plant.modbus.start()

    async def _restart_after(self, protocols: tuple[str, ...], delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        await self._start(protocols)

    def _later(self, delay_s: float | None, action: Callable[[], Coroutine[Any, Any, None]]) -> None:
        if delay_s is None:
            return
        loop = asyncio.get_running_loop()
        self._timers.append(loop.call_later(delay_s, lambda: self._spawn(action())))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("fault action failed: %r", task.exception())
