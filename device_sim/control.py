"""A tiny HTTP control port for a plant running as a subprocess (``[control] port = N``).

``GET /status``            virtual time, producing, endpoints, OPC UA write failures, every machine's counters
``POST /faults``           body: one fault as JSON (``{"kind": "counter_reset", "machine": "M01"}``)
``POST /production/stop``  stop producing, keep serving; answers the end time

Loopback by default; there is no authentication, so never bind it to a public interface.
Answers are JSON; a bad request gets 400 with ``{"error": reason}``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from pydantic import ValidationError

from device_sim.faults import Fault
from device_sim.opcua_server import OpcUaSimServer
from device_sim.plant_faults import FaultRunner
from device_sim.truth import iso_ms

__all__ = ["ControlServer", "ControlledPlant"]


class ControlledPlant(Protocol):
    """What the control port reads and drives (:class:`device_sim.plant.SimPlant`); a protocol,
    so the plant can import this module without the two importing each other."""

    producing: bool
    processed_ms: int
    faults: FaultRunner
    opcua: OpcUaSimServer | None

    @property
    def virtual_now_ms(self) -> int: ...

    @property
    def opcua_endpoint(self) -> str | None: ...

    @property
    def modbus_port(self) -> int | None: ...

    def counters(self) -> dict[str, dict[str, Any]]: ...

    async def inject(self, fault: Fault | Mapping[str, Any]) -> int: ...

    async def stop_production(self) -> int: ...

log = logging.getLogger(__name__)

_MAX_BODY = 64 * 1024


class ControlServer:
    def __init__(self, plant: ControlledPlant, host: str, port: int) -> None:
        self.plant = plant
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("control port on %s", self.url)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, body = await self._respond(reader)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError) as exc:
            status, body = 400, {"error": f"bad request: {exc}"}
        payload = json.dumps(body).encode()
        head = (
            f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
        )
        try:
            writer.write(head.encode() + payload)
            await writer.drain()
        except ConnectionError as exc:
            log.warning("control client went away: %s", exc)
        finally:
            writer.close()

    async def _respond(self, reader: asyncio.StreamReader) -> tuple[int, dict[str, Any]]:
        request = (await reader.readline()).decode("latin-1").split()
        if len(request) < 2:
            raise ValueError("no request line")
        method, path = request[0], request[1]
        length = 0
        while True:
            line = (await reader.readline()).decode("latin-1").strip()
            if not line:
                break
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value.strip())
        if length > _MAX_BODY:
            return 413, {"error": "body too large"}
        body = await reader.readexactly(length) if length else b""
        plant = self.plant
        if method == "GET" and path == "/status":
            return 200, {
                "virtual_time": iso_ms(plant.virtual_now_ms), "processed": iso_ms(plant.processed_ms),
                "producing": plant.producing, "opcua_endpoint": plant.opcua_endpoint,
                "modbus_port": plant.modbus_port, "faults_applied": plant.faults.applied,
                "opcua_write_failures": plant.opcua.write_failures if plant.opcua is not None else 0,
                "machines": plant.counters(),
            }
        if method == "POST" and path == "/faults":
            try:
                fault = Fault.model_validate_json(body)
            except ValidationError as exc:
                return 400, {"error": str(exc.errors()[0]["msg"]), "loc": [str(p) for p in exc.errors()[0]["loc"]]}
            try:
                t = await plant.inject(fault)
            except ValueError as exc:
                return 400, {"error": str(exc)}
            return 200, {"applied": fault.describe(), "t": iso_ms(t)}
        if method == "POST" and path == "/production/stop":
            return 200, {"end": iso_ms(await plant.stop_production())}
        return 404, {"error": f"no such endpoint: {method} {path}"}
