"""Settings of the simulated plant (``sfsync sim --config sim.toml``).

Loaded with :func:`load_settings` (TOML file, then ``SFSYNC_SIM_*`` environment overrides);
every mistake becomes one :class:`shared.config.ConfigError` naming the key. Times in the file
are seconds of *virtual* time unless a name says otherwise (a fault's ``for_s``/``delay_s`` are
wall seconds, see ``device_sim.faults``). The model works in integer milliseconds, so every
duration is rounded to the millisecond once, here, and played exactly afterwards.

A plant of N identical machines is one ``[[machines]]`` entry with ``count = N`` and an id
pattern such as ``id = "M{n:03}"`` (``n`` runs from 1 to N).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from device_sim.faults import Fault, fault_target_errors
from shared.config import StrictModel, listen_socket, load_config
from shared.contract import MACHINE_PATTERN

__all__ = [
    "STATE_CODES",
    "StateName",
    "ClockSettings",
    "OpcUaSettings",
    "ModbusSettings",
    "TruthSettings",
    "ControlSettings",
    "ReasonCodes",
    "StopSpec",
    "ScheduledStop",
    "ScriptStep",
    "MachineSettings",
    "SimSettings",
    "ResolvedMachine",
    "load_settings",
    "ENV_PREFIX",
    "MODBUS_BLOCK_FIXED",
]

ENV_PREFIX = "SFSYNC_SIM_"

StateName = Literal["running", "idle", "down", "setup", "planned_stop"]
StopState = Literal["idle", "down", "setup", "planned_stop"]
Protocol = Literal["opcua", "modbus"]

#: PLC state codes, a fixed convention shared with the edge.
STATE_CODES: dict[str, int] = {"running": 1, "idle": 2, "down": 3, "setup": 4, "planned_stop": 5}

#: Registers before the per-reason scrap counters in a machine's Modbus block (see layout.py).
MODBUS_BLOCK_FIXED = 20

_ID = re.compile(r"^[A-Za-z0-9_-]+$")
_MACHINE = re.compile(MACHINE_PATTERN)
_REASON = re.compile(r"^[A-Z][A-Z0-9_]*$")

DEFAULT_DOWNTIME = {
    "EQ_FAIL": 11,
    "MAT_SHORT": 12,
    "NO_OPERATOR": 13,
    "QUALITY_CHECK": 14,
    "BREAK": 21,
    "MAINTENANCE": 22,
    "CHANGEOVER": 31,
    "NO_ORDER": 41,
}
DEFAULT_SCRAP = {"BURR": 1, "CRACK": 2, "DIMENSION": 3}


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

MAX_SECONDS = 366 * 86_400.0
"""Upper bound of every duration in the simulator's config (a year of virtual time); floats are
finite anyway (:class:`shared.config.StrictModel`)."""
MAX_WEIGHT = 1_000_000.0


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


_BOTH_PROTOCOLS: tuple[Protocol, ...] = ("opcua", "modbus")


class ClockSettings(StrictModel):
    """Virtual clock: ``start`` (default: wall time when the plant starts) and ``speed``."""

    start: datetime | None = None
    speed: float = Field(default=1.0, gt=0, le=1_000_000)
    run_for_s: float | None = Field(default=None, gt=0, le=MAX_SECONDS)

    @field_validator("start")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        if v is None:
            return None
        if v.tzinfo is None:
            raise ValueError("start needs a time zone, e.g. 2026-11-25T06:00:00Z")
        return v.astimezone(UTC)

    def start_ms(self) -> int | None:
        return None if self.start is None else utc_ms(self.start)


class OpcUaSettings(StrictModel):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=4840, ge=0, le=65535)
    path: str = Field(default="/sim", pattern=r"^(/[A-Za-z0-9_./-]*)?$")
    namespace: str = Field(default="urn:shopfloor-sync:sim", min_length=1)
    root: str = Field(default="Plant", pattern=_ID.pattern)
    server_name: str = "shopfloor-sync simulated plant"


class ModbusSettings(StrictModel):
    """One Modbus TCP server for every machine that speaks Modbus.

    ``addressing`` places machines: ``device_per_machine`` gives machine *i* (0-based, in
    config order among Modbus machines) device id ``first_device_id + i`` at register 0;
    ``block_per_machine`` puts them all on ``first_device_id`` at ``i * block_stride``.
    ``modbus_device_id``/``modbus_base`` on a machine override either.
    """

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=5020, ge=0, le=65535)
    addressing: Literal["device_per_machine", "block_per_machine"] = "device_per_machine"
    first_device_id: int = Field(default=1, ge=1, le=247)
    block_stride: int = Field(default=100, ge=MODBUS_BLOCK_FIXED, le=65535)
    function: Literal["holding", "input"] = "holding"


class TruthSettings(StrictModel):
    path: Path | None = None
    fsync: bool = False


class ControlSettings(StrictModel):
    host: str = "127.0.0.1"
    port: int | None = Field(default=None, ge=0, le=65535)


class ReasonCodes(StrictModel):
    """String reason codes and their integer PLC codes (0 means "no reason")."""

    downtime: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_DOWNTIME))
    scrap: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_SCRAP))

    @field_validator("downtime", "scrap")
    @classmethod
    def _codes(cls, v: dict[str, int]) -> dict[str, int]:
        for name, code in v.items():
            if not _REASON.match(name):
                raise ValueError(f"reason {name!r}: use upper case letters, digits and _ (e.g. EQ_FAIL)")
            if not 1 <= code <= 65535:
                raise ValueError(f"reason {name!r}: PLC code {code} must be 1..65535 (0 means no reason)")
        codes = list(v.values())
        dup = sorted({c for c in codes if codes.count(c) > 1})
        if dup:
            raise ValueError(f"PLC code(s) {dup} used for more than one reason")
        return v


class StopSpec(StrictModel):
    """A kind of random stop; which one happens is drawn by ``weight``."""

    state: StopState = "down"
    reason: str | None = None
    weight: float = Field(default=1.0, gt=0, le=MAX_WEIGHT)
    min_s: float = Field(default=60.0, ge=0.001, le=MAX_SECONDS)
    max_s: float = Field(default=600.0, ge=0.001, le=MAX_SECONDS)

    @model_validator(mode="after")
    def _range(self) -> StopSpec:
        if self.max_s < self.min_s:
            raise ValueError(f"max_s ({self.max_s}) is below min_s ({self.min_s})")
        return self


class ScheduledStop(StrictModel):
    """A stop on a schedule (break, changeover): first at ``first_at_s``, then every ``every_s``."""

    state: StopState = "planned_stop"
    reason: str | None = None
    first_at_s: float = Field(ge=0, le=MAX_SECONDS)
    every_s: float | None = Field(default=None, gt=0, le=MAX_SECONDS)
    duration_s: float = Field(gt=0, le=MAX_SECONDS)


class ScriptStep(StrictModel):
    """One step of a scripted timeline, played exactly.

    A ``running`` step makes one unit every ``cycle_s`` (default: the machine's ``cycle_s``),
    the first one ``cycle_s`` after the step starts; every ``scrap_every``-th unit of the step
    is scrap, with reasons taken in turn from ``scrap_reasons`` (default: the first scrap reason).
    """

    state: StateName
    for_s: float = Field(gt=0, le=MAX_SECONDS)
    reason: str | None = None
    cycle_s: float | None = Field(default=None, gt=0, le=MAX_SECONDS)
    scrap_every: int | None = Field(default=None, ge=1)
    scrap_reasons: list[str] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> ScriptStep:
        if self.state == "running" and self.reason is not None:
            raise ValueError("a running step has no reason")
        if self.state != "running" and (self.cycle_s or self.scrap_every or self.scrap_reasons):
            raise ValueError(f"cycle_s/scrap_every/scrap_reasons only apply to running steps, not {self.state}")
        return self


class MachineSettings(StrictModel):
    """One machine (or ``count`` identical machines).

    Random mode: a cycle with jitter, a scrap rate with weighted reasons, random stops every
    ``mtbf_s`` of running time on average, scheduled stops. Scripted mode: ``script``.
    """

    id: str = Field(min_length=1)
    count: int = Field(default=1, ge=1, le=10_000)
    line: str = Field(default="Line1", pattern=_ID.pattern)
    protocols: list[Protocol] = Field(default_factory=lambda: list(_BOTH_PROTOCOLS), min_length=1)
    cycle_s: float = Field(default=1.0, ge=0.001, le=MAX_SECONDS)
    cycle_jitter_s: float = Field(default=0.0, ge=0, le=MAX_SECONDS)
    scrap_rate: float = Field(default=0.0, ge=0, le=1)
    scrap_weights: dict[str, Annotated[float, Field(ge=0, le=MAX_WEIGHT)]] = Field(default_factory=dict)
    mtbf_s: float | None = Field(default=None, gt=0, le=MAX_SECONDS)
    stops: list[StopSpec] = Field(default_factory=list)
    schedule: list[ScheduledStop] = Field(default_factory=list)
    script: list[ScriptStep] | None = Field(default=None, min_length=1)
    script_repeat: bool = False
    script_then: StateName = "idle"
    counter_bits: Literal[16, 32] = 32
    word_order: Literal["big", "little"] = "big"
    counter_start: int = Field(default=0, ge=0)
    modbus_device_id: int | None = Field(default=None, ge=1, le=247)
    modbus_base: int | None = Field(default=None, ge=0, le=65535)

    @model_validator(mode="after")
    def _consistent(self) -> MachineSettings:
        if self.count == 1 and not _MACHINE.match(self.id):
            raise ValueError(f"id {self.id!r}: use 1..64 letters, digits, _ . and - only")
        if self.count > 1:
            if "{n" not in self.id:
                raise ValueError(f"id {self.id!r}: with count > 1 the id needs a pattern like 'M{{n:03}}'")
            if self.modbus_device_id is not None or self.modbus_base is not None:
                raise ValueError("modbus_device_id/modbus_base cannot be set on a machine with count > 1")
        if self.counter_start > 2**self.counter_bits - 1:
            raise ValueError(f"counter_start {self.counter_start} does not fit in {self.counter_bits} bits")
        if self.mtbf_s is not None and not self.stops:
            raise ValueError("mtbf_s needs at least one entry in stops (what kind of stop happens)")
        if self.cycle_jitter_s > self.cycle_s:
            raise ValueError("cycle_jitter_s must not exceed cycle_s")
        return self

    def expanded_ids(self) -> list[str]:
        if self.count == 1:
            return [self.id]
        try:
            ids = [self.id.format(n=n) for n in range(1, self.count + 1)]
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"id pattern {self.id!r}: {exc}") from None
        bad = [i for i in ids if not _MACHINE.match(i)]
        if bad:
            raise ValueError(f"id pattern {self.id!r} gives {bad[0]!r}: use 1..64 letters, digits, _ . and - only")
        return ids


@dataclass(frozen=True, slots=True)
class ResolvedMachine:
    """A concrete machine after ``count`` expansion and Modbus placement."""

    index: int
    id: str
    line: str
    spec: MachineSettings
    opcua: bool
    modbus: bool
    device_id: int | None
    base: int | None

    @property
    def counter_max(self) -> int:
        return int(2**self.spec.counter_bits - 1)


class SimSettings(StrictModel):
    seed: int = 0
    clock: ClockSettings = Field(default_factory=ClockSettings)
    opcua: OpcUaSettings = Field(default_factory=OpcUaSettings)
    modbus: ModbusSettings = Field(default_factory=ModbusSettings)
    truth: TruthSettings = Field(default_factory=TruthSettings)
    control: ControlSettings = Field(default_factory=ControlSettings)
    reasons: ReasonCodes = Field(default_factory=ReasonCodes)
    machines: list[MachineSettings] = Field(min_length=1)
    faults: list[Fault] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> SimSettings:
        machines = self.resolve()  # raises on duplicate ids and Modbus overlaps
        ids = {m.id for m in machines}
        for m in self.machines:
            self._check_reasons(m)
        for i, fault in enumerate(self.faults):
            if fault.at_s is None:
                raise ValueError(f"faults.{i}: a scripted fault needs at_s (virtual seconds after start)")
            problems = fault_target_errors(fault, ids)
            if problems:
                raise ValueError(f"faults.{i}: {problems[0]}")
        return self

    def _check_reasons(self, m: MachineSettings) -> None:
        down, scrap = set(self.reasons.downtime), set(self.reasons.scrap)
        where = f"machine {m.id!r}"

        def need(name: str | None, table: set[str], kind: str) -> None:
            if name is not None and name not in table:
                raise ValueError(f"{where}: unknown {kind} reason {name!r} (known: {', '.join(sorted(table))})")

        for name in m.scrap_weights:
            need(name, scrap, "scrap")
        if m.scrap_rate > 0 and not scrap:
            raise ValueError(f"{where}: scrap_rate > 0 but no scrap reasons are configured")
        for stop in m.stops:
            need(stop.reason, down, "downtime")
        for sched in m.schedule:
            need(sched.reason, down, "downtime")
        for step in m.script or []:
            need(step.reason, down, "downtime")
            for r in step.scrap_reasons or []:
                need(r, scrap, "scrap")
            if step.scrap_every and not step.scrap_reasons and not scrap:
                raise ValueError(f"{where}: scrap_every needs a scrap reason")

    def resolve(self) -> list[ResolvedMachine]:
        """Expand ``count``, check ids are unique, place Modbus blocks without overlap."""
        out: list[ResolvedMachine] = []
        seen: set[str] = set()
        n_modbus = 0
        cfg = self.modbus
        occupied: dict[int, list[tuple[int, int, str]]] = {}
        n_reasons = len(self.reasons.scrap)
        size = MODBUS_BLOCK_FIXED + 2 * n_reasons
        if cfg.addressing == "block_per_machine" and cfg.block_stride < size:
            raise ValueError(
                f"modbus.block_stride {cfg.block_stride} is smaller than a machine block ({size} registers)"
            )
        for spec in self.machines:
            for mid in spec.expanded_ids():
                if mid in seen:
                    raise ValueError(f"machine id {mid!r} is used twice")
                seen.add(mid)
                modbus = "modbus" in spec.protocols and cfg.enabled
                device_id = base = None
                if modbus:
                    if cfg.addressing == "device_per_machine":
                        device_id, base = cfg.first_device_id + n_modbus, 0
                    else:
                        device_id, base = cfg.first_device_id, n_modbus * cfg.block_stride
                    device_id = spec.modbus_device_id or device_id
                    base = spec.modbus_base if spec.modbus_base is not None else base
                    if device_id > 247:
                        raise ValueError(
                            f"machine {mid!r}: Modbus device id {device_id} is over 247; "
                            "use modbus.addressing = 'block_per_machine' for this many machines"
                        )
                    if base + size > 65536:
                        raise ValueError(f"machine {mid!r}: Modbus block {base}..{base + size - 1} passes 65535")
                    for other_base, other_size, other in occupied.get(device_id, []):
                        if base < other_base + other_size and other_base < base + size:
                            raise ValueError(
                                f"machine {mid!r}: Modbus block {base}..{base + size - 1} on device "
                                f"{device_id} overlaps machine {other!r}"
                            )
                    occupied.setdefault(device_id, []).append((base, size, mid))
                    n_modbus += 1
                out.append(
                    ResolvedMachine(
                        index=len(out),
                        id=mid,
                        line=spec.line,
                        spec=spec,
                        opcua="opcua" in spec.protocols and self.opcua.enabled,
                        modbus=modbus,
                        device_id=device_id,
                        base=base,
                    )
                )
        return out

    @property
    def scrap_reason_names(self) -> list[str]:
        """Scrap reasons in config order: the order of the per-reason counters."""
        return list(self.reasons.scrap)


def load_settings(path: str | Path | None, environ: dict[str, str] | None = None) -> SimSettings:
    """Load and validate; raises :class:`ConfigError` with file, key and reason."""
    return load_config(SimSettings, path, env_prefix=ENV_PREFIX, environ=environ)


def check_ports(settings: SimSettings, source: str) -> None:
    """Each server's host resolves and its port is free (bound and released): a port in use is a
    ConfigError naming ``opcua.port``, ``modbus.port`` or ``control.port``, not a traceback."""
    listeners = [("opcua", settings.opcua.host, settings.opcua.port, settings.opcua.enabled),
                 ("modbus", settings.modbus.host, settings.modbus.port, settings.modbus.enabled),
                 ("control", settings.control.host, settings.control.port, settings.control.port is not None)]
    for section, host, port, enabled in listeners:
        if enabled and port:
            listen_socket(host, port, source, section, listen=False).close()


def ms(seconds: float) -> int:
    """Seconds to integer milliseconds, the model's unit of time."""
    return _ms(seconds)


def utc_ms(dt: datetime) -> int:
    """An aware datetime to integer Unix milliseconds (exact, truncating microseconds)."""
    return (dt - _EPOCH) // timedelta(milliseconds=1)
