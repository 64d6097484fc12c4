"""The demo's configuration files, generated for each run on free ports under the data directory.

The plant is the one in ``central/demo_master.yaml``: PRESS-1 and PRESS-2 speak OPC UA, CNC-1
and CNC-2 Modbus TCP, all on edge ``edge-1`` of plant ``P1``. The edge's tag mapping is not
written by hand: the simulator derives it from its own config (``device_sim``), so the two can
never disagree about a node id or a register address.
"""

from __future__ import annotations

import importlib.resources
import logging
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from sfsync.demo_toml import dumps as toml_dumps

log = logging.getLogger(__name__)

__all__ = [
    "DemoPorts", "DemoPaths", "PLANT", "EDGE", "MACHINES", "master_data_path", "write_configs", "dispatch_plan",
    "manual_components",
]

PLANT = "P1"
EDGE = "edge-1"
#: machine id -> protocol, as the issue and the demo master data place them.
MACHINES: dict[str, str] = {"PRESS-1": "opcua", "PRESS-2": "opcua", "CNC-1": "modbus", "CNC-2": "modbus"}


@dataclass(frozen=True)
class DemoPorts:
    broker: int
    proxy: int
    api: int
    edge_status: int
    opcua: int
    modbus: int


@dataclass(frozen=True)
class DemoPaths:
    """Where each part keeps its data and logs inside the demo data directory."""

    root: Path

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def config(self) -> Path:
        return self.root / "config"

    @property
    def broker(self) -> Path:
        return self.root / "broker"

    @property
    def central_db(self) -> Path:
        return self.root / "central" / "central.db"

    @property
    def outbox(self) -> Path:
        return self.root / "edge" / "outbox.db"

    @property
    def truth(self) -> Path:
        return self.root / "sim" / "truth.jsonl"

    def make(self) -> None:
        for d in (self.logs, self.config, self.broker, self.central_db.parent, self.outbox.parent, self.truth.parent):
            d.mkdir(parents=True, exist_ok=True)


def master_data_path() -> Path:
    """``central/demo_master.yaml`` as installed with the package."""
    ref = importlib.resources.files("central").joinpath("demo_master.yaml")
    path = Path(str(ref))
    if not path.is_file():
        raise FileNotFoundError(f"demo master data not found at {path}")
    return path


def sim_config(
    ports: DemoPorts, paths: DemoPaths, speed: float, seed: int, run_for_s: float | None = None
) -> dict[str, Any]:
    """Four machines with short cycles and frequent stops, so a minute shows everything.

    ``run_for_s`` (tests) stops production after that much virtual time; the PLCs keep serving
    their last values, so the edge can read every unit the truth log records.
    """

    def machine(mid: str, protocol: str, cycle: float) -> dict[str, Any]:
        return {
            "id": mid,
            "protocols": [protocol],
            "cycle_s": cycle,
            "cycle_jitter_s": round(cycle * 0.2, 3),
            "scrap_rate": 0.06,
            "scrap_weights": {"BURR": 3.0, "CRACK": 1.0, "DIMENSION": 1.0},
            "mtbf_s": 25.0,
            "stops": [
                {"state": "down", "reason": "EQ_FAIL", "weight": 2.0, "min_s": 4.0, "max_s": 10.0},
                {"state": "idle", "reason": "MAT_SHORT", "weight": 1.0, "min_s": 3.0, "max_s": 8.0},
            ],
        }

    cycles = {"PRESS-1": 1.0, "PRESS-2": 1.3, "CNC-1": 2.0, "CNC-2": 2.5}
    return {
        "seed": seed,
        "clock": {"speed": speed, "run_for_s": run_for_s},
        "opcua": {"host": "127.0.0.1", "port": ports.opcua},
        "modbus": {"host": "127.0.0.1", "port": ports.modbus},
        "truth": {"path": str(paths.truth)},
        "machines": [machine(mid, proto, cycles[mid]) for mid, proto in MACHINES.items()],
    }


def edge_mapping(sim_config_path: Path) -> dict[str, Any]:
    """``{"sources": [...], "machines": [...]}`` for edge.toml, derived by the simulator."""
    from device_sim.config import load_settings
    from device_sim.edge_mapping import edge_mapping as derive

    mapping: dict[str, Any] = derive(load_settings(sim_config_path))
    return mapping


def central_config(ports: DemoPorts, paths: DemoPaths, master_data: bool = True) -> dict[str, Any]:
    """Without master data (tests of the event path only) central stores events of unknown machines."""
    return {
        "ingest": {"require_known_machine": master_data},
        "database": {"url": f"sqlite:///{paths.central_db}"},
        "mqtt": {"host": "127.0.0.1", "port": ports.broker, "client_id": "sfsync-central-demo"},
        "api": {"host": "127.0.0.1", "port": ports.api},
        "auth": {"bootstrap_admin": True},
    }


def edge_config(ports: DemoPorts, paths: DemoPaths, mapping: dict[str, Any]) -> dict[str, Any]:
    """The edge reaches the broker through the demo's fault proxy (``ports.proxy``)."""
    return {
        "plant": PLANT,
        "edge": EDGE,
        "outbox": {"path": str(paths.outbox)},
        "mqtt": {
            "host": "127.0.0.1",
            "port": ports.proxy,
            "keepalive": 10,
            "reconnect_min_s": 0.5,
            "reconnect_max_s": 2.0,
            "resend_timeout_s": 10.0,
        },
        "status": {"host": "127.0.0.1", "port": ports.edge_status},
        **mapping,
    }


def write_configs(
    ports: DemoPorts,
    paths: DemoPaths,
    speed: float,
    seed: int,
    run_for_s: float | None = None,
    master_data: bool = True,
) -> dict[str, Path]:
    """Write sim.toml, edge.toml and central.toml; returns their paths by name."""
    paths.make()
    out = {name: paths.config / f"{name}.toml" for name in ("sim", "edge", "central")}
    out["sim"].write_text(toml_dumps(sim_config(ports, paths, speed, seed, run_for_s)))
    out["central"].write_text(toml_dumps(central_config(ports, paths, master_data)))
    out["edge"].write_text(toml_dumps(edge_config(ports, paths, edge_mapping(out["sim"]))))
    return out


def dispatch_plan(master_path: Path) -> list[tuple[str, str]]:
    """``(machine, item)`` pairs: for each demo machine, a finished item routed on its work centre."""
    doc = yaml.safe_load(master_path.read_text())
    machine_wc = {m["id"]: m["work_center"] for m in doc.get("machines", [])}
    items_by_wc: dict[str, list[str]] = {}
    for routing in doc.get("routings", []):
        items_by_wc.setdefault(routing["work_center"], []).append(routing["item"])
    plan: list[tuple[str, str]] = []
    for n, machine in enumerate(MACHINES):
        wc = machine_wc.get(machine)
        if wc is None:
            raise ValueError(f"{master_path}: machine {machine} is not in the demo master data")
        items = items_by_wc.get(wc)
        if not items:
            raise ValueError(f"{master_path}: no routing on work centre {wc} (machine {machine})")
        plan.append((machine, items[n % len(items)]))
    return plan


def manual_components(master_path: Path, item: str) -> list[tuple[str, Decimal, Decimal]]:
    """``(component, qty per unit, standard cost)`` of ``item``'s BOM lines issued by hand (not backflushed).

    The demo receives and issues these for each order it starts, so WIP holds material as on a real floor.
    """
    doc = yaml.safe_load(master_path.read_text())
    items = {i["id"]: i for i in doc.get("items", [])}
    out: list[tuple[str, Decimal, Decimal]] = []
    for bom in doc.get("boms", []):
        if bom["item"] != item:
            continue
        for comp in bom.get("components", []):
            spec = items.get(comp["item"], {})
            if spec.get("issue", "manual") == "manual":
                out.append((comp["item"], Decimal(str(comp["qty"])), Decimal(str(spec.get("standard_cost", "0")))))
    return out
