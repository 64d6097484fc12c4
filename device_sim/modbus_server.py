"""Modbus TCP adapter: publishes machine views into registers served by pymodbus 3.16.

pymodbus' own datastores are built for static simulations; we hand its ``ModbusTcpServer``
a small datastore of our own (:class:`RegisterStore`, the duck type the request handler
calls: ``async_getValues``/``async_setValues``/``device_ids``). That keeps updates a list
slice (cheap for 200 machines) and gives the faults a hook: a read can be delayed or answered
with an exception code. The PLC is read-only: writes get ``ILLEGAL_FUNCTION``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

__all__ = ["RegisterStore", "ModbusSimServer", "Disturbance"]

log = logging.getLogger(__name__)

_REGISTER_FUNCS = (3, 4)
_BIT_FUNCS = (1, 2)


@dataclass(slots=True)
class Disturbance:
    """A fault on reads of ``device_id`` touching ``[lo, hi)`` (None: every device/address)."""

    device_id: int | None
    lo: int
    hi: int
    until: float | None  # time.monotonic() deadline, None = until cleared
    code: int | None = None  # exception code, or None for a delay
    delay_s: float = 0.0

    def hits(self, device_id: int, address: int, count: int, now: float) -> bool:
        if self.until is not None and now >= self.until:
            return False
        if self.device_id is not None and self.device_id != device_id:
            return False
        return address < self.hi and self.lo < address + count


class RegisterStore:
    """Registers and bits per device id; the same values serve holding/input and coil/discrete."""

    def __init__(self, sizes: dict[int, int]) -> None:
        self.registers: dict[int, list[int]] = {d: [0] * n for d, n in sizes.items()}
        self.bits: dict[int, list[bool]] = {d: [False] * n for d, n in sizes.items()}
        self.disturbances: list[Disturbance] = []
        self.reads = 0
        self.exceptions_sent = 0

    def device_ids(self) -> list[int]:
        return list(self.registers)

    def write_registers(self, device_id: int, address: int, values: list[int]) -> None:
        self.registers[device_id][address:address + len(values)] = values

    def write_bits(self, device_id: int, address: int, values: list[bool]) -> None:
        self.bits[device_id][address:address + len(values)] = values

    async def async_getValues(
        self, device_id: int, func_code: int, address: int, count: int = 1
    ) -> list[int] | list[bool] | ExcCodes:
        if device_id not in self.registers:
            raise NoSuchIdException(f"no device {device_id}")
        self.reads += 1
        now = time.monotonic()
        self.disturbances = [d for d in self.disturbances if d.until is None or now < d.until]
        for d in list(self.disturbances):
            if d.hits(device_id, address, count, now):
                if d.code is not None:
                    self.exceptions_sent += 1
                    return ExcCodes(d.code)
                await asyncio.sleep(d.delay_s)
        if func_code in _REGISTER_FUNCS:
            regs = self.registers[device_id]
            if address + count > len(regs):
                return ExcCodes.ILLEGAL_ADDRESS
            return regs[address:address + count]
        if func_code in _BIT_FUNCS:
            bits = self.bits[device_id]
            if address + count > len(bits):
                return ExcCodes.ILLEGAL_ADDRESS
            return bits[address:address + count]
        return ExcCodes.ILLEGAL_FUNCTION

    async def async_setValues(
        self, device_id: int, func_code: int, address: int, values: list[int] | list[bool]
    ) -> ExcCodes | None:
        if device_id not in self.registers:
            raise NoSuchIdException(f"no device {device_id}")
        return ExcCodes.ILLEGAL_FUNCTION


class ModbusSimServer:
    """One pymodbus TCP server over a :class:`RegisterStore`; stoppable and restartable."""

    def __init__(self, host: str, port: int, store: RegisterStore) -> None:
        self.host = host
        self.port = port
        self.store = store
        self._server: ModbusTcpServer | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        if self._server is not None:
            return
        placeholder = SimDevice(id=1, simdata=[SimData(address=0, values=[0], datatype=DataType.REGISTERS)])
        server = ModbusTcpServer(placeholder, address=(self.host, self.port))
        server.context = self.store  # type: ignore[assignment]  # duck-typed datastore, see module doc
        await server.serve_forever(background=True)
        sockets = getattr(server.transport, "sockets", None)
        if sockets:
            self.port = sockets[0].getsockname()[1]
        self._server = server
        log.info("Modbus TCP server listening on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        await server.shutdown()  # type: ignore[no-untyped-call]
        log.info("Modbus TCP server on port %s stopped", self.port)

    def drop_connections(self) -> int:
        """Close every client connection; the listener keeps accepting new ones."""
        if self._server is None:
            return 0
        conns = list(self._server.active_connections.values())
        for conn in conns:
            conn.close()
        log.info("Modbus: dropped %s client connection(s)", len(conns))
        return len(conns)
