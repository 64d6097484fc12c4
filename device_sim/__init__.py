"""device_sim: simulated PLCs (OPC UA + Modbus TCP) driven by a seeded machine model.

In a test or benchmark (in-process)::

    from device_sim import SimPlant, load_settings, edge_mapping

    settings = load_settings("sim.toml")          # or SimSettings.model_validate({...})
    async with SimPlant(settings, "truth.jsonl") as plant:
        plant.opcua_endpoint, plant.modbus_port    # where to read (ports 0 = free ports)
        await plant.inject({"kind": "counter_reset", "machine": "M01"})
        await plant.run_until(end)                 # produce until a virtual time, then stop
        # or: await plant.stop_production()        # stop producing now, keep serving
        plant.counters()                           # what every PLC shows now

As a subprocess: ``sfsync sim --config sim.toml --truth truth.jsonl --ready-file ready.json``
prints ``SFSYNC-SIM READY {json}`` once listening, stops cleanly on SIGTERM/SIGINT, and takes
faults on the optional HTTP control port (``POST /faults``) or SIGUSR1 (reset all counters).

``edge_mapping(settings, opcua_endpoint=..., modbus_port=...)`` gives the matching edge
``sources``/``machines`` (``edge_mapping_toml`` as TOML). Formats: ``device_sim.truth``
(truth log), ``device_sim.layout`` (register map, node ids), ``device_sim.faults``.
Heavy imports (asyncua, pymodbus) happen on first use, so ``sfsync --help`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["SimPlant", "SimSettings", "load_settings", "Fault", "edge_mapping", "edge_mapping_toml", "read_truth"]

_WHERE = {
    "SimPlant": "device_sim.plant",
    "SimSettings": "device_sim.config",
    "load_settings": "device_sim.config",
    "Fault": "device_sim.faults",
    "edge_mapping": "device_sim.edge_mapping",
    "edge_mapping_toml": "device_sim.edge_mapping",
    "read_truth": "device_sim.truth",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'device_sim' has no attribute {name!r}")
