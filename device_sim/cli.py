"""``sfsync sim``: run the simulated plant until SIGTERM/SIGINT (see docs/sim.md)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

__all__ = ["register", "READY_PREFIX"]

log = logging.getLogger(__name__)

READY_PREFIX = "SFSYNC-SIM READY "


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this package's commands to ``sfsync``."""
    p = sub.add_parser(
        "sim",
        help="simulated PLCs (OPC UA + Modbus TCP) with a truth log of what really happened",
        description=(
            "Run a simulated plant: every machine of sim.toml served over OPC UA and/or Modbus TCP, driven by a "
            "seeded machine model on a virtual clock. Once listening it prints one line "
            f"'{READY_PREFIX}{{json}}' (endpoints, ports, control URL) and writes the same JSON to --ready-file. "
            "SIGTERM/SIGINT: stop producing, flush the truth log, exit 0. SIGUSR1: counter_reset on every "
            "machine. SIGUSR2: stop producing, keep serving."
        ),
    )
    p.add_argument("--config", type=Path, required=True, help="sim.toml (see docs/sim.md for every key)")
    p.add_argument("--truth", type=Path, default=None, help="truth log, JSON lines (overrides truth.path)")
    p.add_argument("--ready-file", type=Path, default=None, help="write the ready JSON here once listening")
    p.add_argument("--seed", type=int, default=None, help="override seed")
    p.add_argument("--speed", type=float, default=None, help="override clock.speed (virtual seconds per second)")
    p.add_argument("--edge-config", type=Path, default=None,
                   help="write matching edge [[sources]]/[[machines]] TOML here once the ports are known")
    p.add_argument("--exit-when-done", action="store_true",
                   help="exit once production ends (clock.run_for_s) instead of serving until a signal")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from device_sim.config import check_ports, load_settings

    env: dict[str, str] = dict(os.environ)
    if args.seed is not None:
        env["SFSYNC_SIM_SEED"] = str(args.seed)
    if args.speed is not None:
        env["SFSYNC_SIM_CLOCK__SPEED"] = repr(args.speed)
    settings = load_settings(args.config, environ=env)
    check_ports(settings, str(args.config))
    return asyncio.run(_serve(settings, args))


async def _serve(settings: Any, args: argparse.Namespace) -> int:
    from device_sim.edge_mapping import edge_mapping, edge_mapping_toml
    from device_sim.faults import Fault
    from device_sim.plant import SimPlant

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    plant = SimPlant(settings, args.truth)
    pending: set[asyncio.Task[Any]] = set()

    def spawn(coro: Any) -> None:
        task = loop.create_task(coro)
        pending.add(task)
        task.add_done_callback(pending.discard)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, lambda: spawn(plant.inject(Fault(kind="counter_reset"))))
    loop.add_signal_handler(signal.SIGUSR2, lambda: spawn(plant.stop_production()))
    await plant.start()
    try:
        ready = {
            "opcua_endpoint": plant.opcua_endpoint,
            "opcua_namespace": settings.opcua.namespace,
            "modbus_host": settings.modbus.host if plant.modbus is not None else None,
            "modbus_port": plant.modbus_port,
            "control_url": plant.control.url if plant.control is not None else None,
            "truth": str(plant.truth.path) if plant.truth.path else None,
            "machines": [m.id for m in plant.machines],
            "pid": os.getpid(),
        }
        if args.edge_config is not None:
            mapping = edge_mapping(settings, opcua_endpoint=plant.opcua_endpoint, modbus_port=plant.modbus_port)
            _atomic_write(args.edge_config, edge_mapping_toml(mapping))
        if args.ready_file is not None:
            _atomic_write(args.ready_file, json.dumps(ready) + "\n")
        print(READY_PREFIX + json.dumps(ready), flush=True)
        waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(stop.wait())]
        if args.exit_when_done:
            waits.append(asyncio.ensure_future(plant.wait_ended()))
        done, rest = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for fut in rest:
            fut.cancel()
        for fut in done:
            fut.result()
    finally:
        await plant.close()
    print(f"sfsync sim: stopped; truth log {plant.truth.path} ({plant.truth.lines} lines)", file=sys.stderr)
    return 0


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
