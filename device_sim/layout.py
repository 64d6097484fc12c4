"""What a simulated PLC shows: the per-machine view, its Modbus register map and OPC UA nodes.

Modbus block of one machine (register offsets from the machine's ``base``; 32/64-bit values
and floats follow the machine's ``word_order``, bytes inside a register are big-endian)::

    0-1   good counter        u16 at 0 (counter_bits = 16, register 1 stays 0) or u32
    2-3   scrap counter total same type as the good counter
    4     state code          u16  1 running, 2 idle, 3 down, 4 setup, 5 planned_stop
    5     downtime reason     u16  PLC code of [reasons.downtime], 0 while running
    6     last scrap reason   u16  PLC code of [reasons.scrap] of the last scrapped unit
    8-11  last change         u64  virtual Unix ms of the last change of this block
    12-13 last cycle time     f32  seconds
    14    last cycle time     u16  hundredths of a second (scale 0.01), saturates at 65535
    20+2i scrap counter of the i-th scrap reason (config order), same type as the good counter

Coils (and the same bits as discrete inputs) at ``base + 0`` running, ``base + 1`` fault
(state down). Holding and input registers hold the same values.

OPC UA (namespace ``opcua.namespace``; string NodeIds, browse names as the last part)::

    Objects/Plant/<line>/<machine>/Counters/Good | Scrap | Scrap_<REASON>   UInt16 or UInt32
    Objects/Plant/<line>/<machine>/Status/State | DowntimeReason | ScrapReason  UInt16
    Objects/Plant/<line>/<machine>/Status/Running (Boolean) | CycleTime (Double, seconds)

with NodeId ``s=Plant.<line>.<machine>.Counters.Good`` and so on (``Plant`` is ``opcua.root``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from device_sim.config import MODBUS_BLOCK_FIXED, STATE_CODES, ResolvedMachine, SimSettings
from device_sim.model import SimEvent

__all__ = [
    "OFF_GOOD", "OFF_SCRAP_TOTAL", "OFF_STATE", "OFF_DOWN_REASON", "OFF_SCRAP_REASON", "OFF_TIME",
    "OFF_CYCLE_F32", "OFF_CYCLE_CS", "OFF_SCRAP_BY_REASON", "COIL_RUNNING", "COIL_FAULT",
    "MachineView", "block_size", "counter_words", "u64_words", "f32_words", "machine_registers",
    "node_id", "COUNTER_LEAVES", "STATUS_LEAVES",
]

OFF_GOOD = 0
OFF_SCRAP_TOTAL = 2
OFF_STATE = 4
OFF_DOWN_REASON = 5
OFF_SCRAP_REASON = 6
OFF_TIME = 8
OFF_CYCLE_F32 = 12
OFF_CYCLE_CS = 14
OFF_SCRAP_BY_REASON = MODBUS_BLOCK_FIXED
COIL_RUNNING = 0
COIL_FAULT = 1

COUNTER_LEAVES = ("Good", "Scrap")
STATUS_LEAVES = ("State", "DowntimeReason", "ScrapReason", "Running", "CycleTime")


def block_size(n_scrap_reasons: int) -> int:
    return MODBUS_BLOCK_FIXED + 2 * n_scrap_reasons


def _split(value: int, words: int, word_order: str) -> list[int]:
    regs = [(value >> (16 * (words - 1 - i))) & 0xFFFF for i in range(words)]
    return regs if word_order == "big" else regs[::-1]


def counter_words(value: int, bits: int, word_order: str) -> list[int]:
    """A counter as it sits in its 2-register slot (u16: value then 0)."""
    if bits == 16:
        return [value & 0xFFFF, 0]
    return _split(value & 0xFFFFFFFF, 2, word_order)


def u64_words(value: int, word_order: str) -> list[int]:
    return _split(value & 0xFFFFFFFFFFFFFFFF, 4, word_order)


def f32_words(value: float, word_order: str) -> list[int]:
    return _split(int.from_bytes(struct.pack(">f", value), "big"), 2, word_order)


@dataclass(slots=True)
class MachineView:
    """The values one machine's PLC currently shows, updated event by event."""

    machine: ResolvedMachine
    good: int = 0
    scrap_total: int = 0
    scrap: dict[str, int] = field(default_factory=dict)
    state_code: int = 0
    down_reason: int = 0
    scrap_reason: int = 0
    cycle_ms: int = 0
    changed_ms: int = 0

    def apply(self, ev: SimEvent, downtime_codes: dict[str, int], scrap_codes: dict[str, int]) -> None:
        self.changed_ms = ev.t
        self.good = ev.good
        self.scrap_total = ev.scrap_total
        if ev.cycle_ms is not None:
            self.cycle_ms = ev.cycle_ms
        if ev.kind == "scrap" and ev.reason is not None:
            self.scrap[ev.reason] = ev.scrap_counter or 0
            self.scrap_reason = scrap_codes[ev.reason]
        elif ev.kind == "state" and ev.state is not None:
            self.state_code = STATE_CODES[ev.state]
            self.down_reason = downtime_codes[ev.reason] if ev.reason else 0
        if ev.scrap_counters is not None:
            self.scrap = dict(ev.scrap_counters)

    @property
    def running(self) -> bool:
        return self.state_code == STATE_CODES["running"]

    @property
    def faulted(self) -> bool:
        return self.state_code == STATE_CODES["down"]


def machine_registers(view: MachineView, scrap_reasons: list[str]) -> list[int]:
    """The machine's whole register block, ready to copy to ``base``."""
    spec = view.machine.spec
    bits, order = spec.counter_bits, spec.word_order
    regs = [0] * block_size(len(scrap_reasons))
    regs[OFF_GOOD:OFF_GOOD + 2] = counter_words(view.good, bits, order)
    regs[OFF_SCRAP_TOTAL:OFF_SCRAP_TOTAL + 2] = counter_words(view.scrap_total, bits, order)
    regs[OFF_STATE] = view.state_code
    regs[OFF_DOWN_REASON] = view.down_reason
    regs[OFF_SCRAP_REASON] = view.scrap_reason
    regs[OFF_TIME:OFF_TIME + 4] = u64_words(view.changed_ms, order)
    regs[OFF_CYCLE_F32:OFF_CYCLE_F32 + 2] = f32_words(view.cycle_ms / 1000.0, order)
    regs[OFF_CYCLE_CS] = min(65535, round(view.cycle_ms / 10))
    for i, name in enumerate(scrap_reasons):
        at = OFF_SCRAP_BY_REASON + 2 * i
        regs[at:at + 2] = counter_words(view.scrap.get(name, 0), bits, order)
    return regs


def node_id(settings: SimSettings, machine: ResolvedMachine, folder: str, leaf: str) -> str:
    """String identifier (without namespace) of one machine variable."""
    return f"{settings.opcua.root}.{machine.line}.{machine.id}.{folder}.{leaf}"
