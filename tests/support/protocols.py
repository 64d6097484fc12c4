"""Real PLC-side servers for the protocol adapter tests, and a sink that awaits readings.

- :class:`OpcUaServerProcess`: an asyncua server in a subprocess (its start blocks an event
  loop for ~2 s, and a subprocess is a real "server restart"): ``start()``, ``stop()``,
  ``restart(shift=..., pad=...)`` where ``shift`` registers extra namespaces first so the test
  namespace's index changes, and ``pad`` creates numbered nodes (``Objects/Spare/Pad<i>``)
  first so every numeric node id of the ``Objects/Plant/Line1/Press7`` tree changes. Run this
  module as a script to get the server itself.
- :func:`modbus_server`: an in-process pymodbus 3.16 TCP server (``async with``).
- :class:`ReadingCollector`: a sink that records readings and lets a test await the first
  reading matching a condition, with a timeout (no sleeps as synchronisation).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from protocols.base import TagReading, TagSource

NS_URI = "urn:sfsync:test:plc"
TEST_USER = "operator"
TEST_PASSWORD = "s3cret"


# ------------------------------------------------------------------ sink


class ReadingCollector:
    """A sink: stores every snapshot and reading, and wakes waiters whose predicate matches."""

    def __init__(self) -> None:
        self.readings: list[TagReading] = []
        self.snapshots: list[list[TagReading]] = []
        self._waiters: list[tuple[Callable[[TagReading], bool], asyncio.Future[TagReading]]] = []

    async def __call__(self, snapshot: Sequence[TagReading]) -> None:
        self.snapshots.append(list(snapshot))
        for reading in snapshot:
            self.readings.append(reading)
            for pred, fut in list(self._waiters):
                if not fut.done() and pred(reading):
                    fut.set_result(reading)

    def snapshot_of(self, reading: TagReading) -> list[TagReading]:
        """The snapshot ``reading`` arrived in."""
        return next(s for s in self.snapshots if any(r is reading for r in s))

    async def wait_for(
        self, pred: Callable[[TagReading], bool], timeout: float = 20.0, *, since: int = 0
    ) -> TagReading:
        """The first reading (at index ``since`` or later) matching ``pred``; TimeoutError otherwise."""
        for r in self.readings[since:]:
            if pred(r):
                return r
        fut: asyncio.Future[TagReading] = asyncio.get_running_loop().create_future()
        entry = (pred, fut)
        self._waiters.append(entry)
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            seen = [(r.tag, r.value, r.quality.value, r.detail) for r in self.readings[since:]][-15:]
            raise TimeoutError(f"no matching reading within {timeout}s; last seen: {seen}") from None
        finally:
            self._waiters.remove(entry)

    def of(self, tag: str) -> list[TagReading]:
        return [r for r in self.readings if r.tag == tag]


# ------------------------------------------------------------------ OPC UA server (subprocess)


@contextlib.asynccontextmanager
async def running(source: TagSource) -> AsyncIterator[ReadingCollector]:
    """Run ``source`` into a fresh collector for the ``async with`` body; fail if run() ended by itself."""
    sink = ReadingCollector()
    task = asyncio.create_task(source.run(sink))
    try:
        yield sink
        if task.done():
            task.result()
            pytest.fail("run() returned by itself")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class OpcUaServerProcess:
    """Controls the asyncua test server running in a subprocess on a fixed port."""

    def __init__(self, port: int, *, users: bool = False, secure: tuple[Path, Path] | None = None) -> None:
        self.port = port
        self.users = users
        self.secure = secure  # (certificate, private key): only Basic256Sha256 SignAndEncrypt is offered
        self.endpoint = f"opc.tcp://127.0.0.1:{port}/sfsync/"
        self._proc: subprocess.Popen[str] | None = None

    def start(self, shift: int = 0, timeout: float = 60.0, *, pad: int = 0) -> None:
        """Start the server; return when it accepts connections (it prints READY)."""
        assert self._proc is None, "already running"
        cmd = [sys.executable, "-m", "support.protocols", "opcua", "--port", str(self.port), "--shift", str(shift)]
        cmd += ["--pad", str(pad)]
        if self.users:
            cmd.append("--users")
        if self.secure:
            cmd += ["--cert", str(self.secure[0]), "--key", str(self.secure[1])]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(_TESTS_DIR), str(_TESTS_DIR.parent)])}
        proc = subprocess.Popen(
            cmd, cwd=_TESTS_DIR, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self._proc = proc
        ready = threading.Event()

        def watch() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.strip() == "READY":
                    ready.set()

        threading.Thread(target=watch, daemon=True).start()
        if not ready.wait(timeout):
            self.stop()
            raise RuntimeError(f"OPC UA test server on port {self.port} did not start within {timeout}s")

    def stop(self) -> None:
        """Kill the server (a crash, as far as clients can tell) and wait for it to exit."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.kill()
        proc.wait(timeout=30)
        if proc.stdin is not None:
            proc.stdin.close()

    def restart(self, shift: int = 0, *, pad: int = 0) -> None:
        self.stop()
        self.start(shift=shift, pad=pad)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None


_TESTS_DIR = Path(__file__).resolve().parent.parent


def make_certificate(directory: Path, name: str, uri: str, *, server: bool) -> tuple[Path, Path]:
    """A self-signed OPC UA application certificate and key (PEM) for ``uri``."""
    from asyncua.crypto.cert_gen import (
        dump_private_key_as_pem,
        generate_private_key,
        generate_self_signed_app_certificate,
    )
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import ExtendedKeyUsageOID

    key = generate_private_key()
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    cert = generate_self_signed_app_certificate(
        key, name, {}, [x509.UniformResourceIdentifier(uri), x509.DNSName("localhost")], [usage]
    )
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key.pem"
    cert_path.write_bytes(cert.public_bytes(Encoding.PEM))
    key_path.write_bytes(dump_private_key_as_pem(key))
    return cert_path, key_path


async def _serve_opcua(port: int, shift: int, users: bool, cert: str | None, key: str | None, pad: int = 0) -> None:
    from asyncua import Server, ua
    from asyncua.crypto.permission_rules import User, UserRole

    class PasswordUsers:
        def get_user(self, iserver: Any, username: str | None = None, password: str | None = None,
                     certificate: Any = None) -> User | None:
            if username == TEST_USER and password == TEST_PASSWORD:
                return User(role=UserRole.User)
            return None

    server = Server(user_manager=PasswordUsers() if users else None)  # type: ignore[arg-type]
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/sfsync/")
    if users:
        server.set_identity_tokens([ua.UserNameIdentityToken])
    if cert and key:
        await server.load_certificate(cert)
        await server.load_private_key(key)
        server.set_security_policy([ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt])
    for i in range(shift):
        await server.register_namespace(f"urn:sfsync:test:filler:{i}")
    idx = await server.register_namespace(NS_URI)
    line = await server.nodes.objects.add_object(ua.NodeId("Line", idx), ua.QualifiedName("Line", idx))

    async def var(name: str, value: Any, vtype: Any, status: int | None = None) -> Any:
        node = await line.add_variable(
            ua.NodeId(f"Line.{name}", idx), ua.QualifiedName(name, idx), ua.Variant(value, vtype)
        )
        await node.set_writable()
        if status is not None:
            await node.write_value(ua.DataValue(ua.Variant(value, vtype), StatusCode=ua.StatusCode(status)))
        return node

    await var("Counter", 0, ua.VariantType.UInt32)
    await var("State", 0, ua.VariantType.Int16)
    await var("Temp", 20.5, ua.VariantType.Double)
    await var("Flag", False, ua.VariantType.Boolean)
    await var("Name", "press", ua.VariantType.String)
    await var("NotANumber", math.nan, ua.VariantType.Double)
    await var("Sensor", 1.5, ua.VariantType.Double, ua.StatusCodes.BadSensorFailure)
    await var("Shaky", 2.5, ua.VariantType.Double, ua.StatusCodes.UncertainLastUsableValue)
    tick = await var("Tick", 0, ua.VariantType.UInt32)

    # a tree with numeric node ids numbered at start-up (as many servers do), for browse paths:
    # Objects/Plant/Line1/Press7/{Counters/{Good,Scrap}, Status/State}; Good counts with Tick.
    # ``pad`` numbered nodes made first (Objects/Spare/Pad0..) give all of them other ids.
    if pad:
        spare = await server.nodes.objects.add_folder(idx, "Spare")
        for i in range(pad):
            await spare.add_variable(idx, f"Pad{i}", ua.Variant(i, ua.VariantType.UInt32))
    plant = await server.nodes.objects.add_folder(idx, "Plant")
    press = await (await plant.add_folder(idx, "Line1")).add_object(idx, "Press7")
    counters, status = await press.add_folder(idx, "Counters"), await press.add_folder(idx, "Status")
    good = await counters.add_variable(idx, "Good", ua.Variant(0, ua.VariantType.UInt32))
    for parent, name, vtype in ((counters, "Scrap", ua.VariantType.UInt32), (status, "State", ua.VariantType.Int16)):
        await (await parent.add_variable(idx, name, ua.Variant(0, vtype))).set_writable()

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # the parent closes our stdin (or dies): stop
    threading.Thread(target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(stop.set)), daemon=True).start()
    async with server:
        print("READY", flush=True)
        n = 0
        while not stop.is_set():
            n += 1
            await tick.write_value(ua.Variant(n, ua.VariantType.UInt32))
            await good.write_value(ua.Variant(n, ua.VariantType.UInt32))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.1)


# ------------------------------------------------------------------ Modbus server (in process)


@contextlib.asynccontextmanager
async def modbus_server(port: int, registers: Sequence[int], *, device_id: int = 1) -> AsyncIterator[Any]:
    """A pymodbus TCP server with ``registers`` at holding/input addresses 0.. on ``device_id``.

    Shared register space (holding = input); coils/discrete inputs address single bits
    (``use_bit_addressing``): coil ``16 * r + b`` is bit ``b`` of register ``r``. Addresses
    past ``registers`` answer with exception 2 (illegal data address).
    """
    from pymodbus.server import ModbusTcpServer
    from pymodbus.simulator import DataType, SimData, SimDevice

    device = SimDevice(
        id=device_id,
        simdata=[SimData(address=0, values=list(registers), datatype=DataType.REGISTERS)],
        use_bit_addressing=True,
    )
    server = ModbusTcpServer(device, address=("127.0.0.1", port))
    await server.serve_forever(background=True)
    try:
        yield server
    finally:
        await server.shutdown()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="test PLC servers")
    sub = parser.add_subparsers(dest="kind", required=True)
    op = sub.add_parser("opcua")
    op.add_argument("--port", type=int, required=True)
    op.add_argument("--shift", type=int, default=0)
    op.add_argument("--pad", type=int, default=0)
    op.add_argument("--users", action="store_true")
    op.add_argument("--cert")
    op.add_argument("--key")
    args = parser.parse_args(argv)
    asyncio.run(_serve_opcua(args.port, args.shift, args.users, args.cert, args.key, args.pad))


if __name__ == "__main__":
    main()
