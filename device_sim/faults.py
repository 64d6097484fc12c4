"""PLC faults the simulated plant can play, on demand or scripted (``[[faults]]`` in sim.toml).

Two families, because they live in different places:

- **model faults** change what the PLC *counts* and are written to the truth log at an exact
  virtual time (so they stay deterministic when scripted): ``counter_reset`` (PLC restart:
  every counter of the machine back to 0) and ``rollover`` (the good counter is preset to
  ``max - margin`` so it wraps a few units later).
- **adapter faults** change what the *servers show*, never the truth: ``freeze`` (values
  stale, source timestamps too), ``bad_quality`` (OPC UA status ``BadCommunicationError``),
  ``modbus_exception`` (exception ``code`` on reads touching the machine, default 6 = busy),
  ``slow`` (Modbus replies delayed by ``delay_s``), ``drop_connections`` (close every client
  socket), ``server_stop`` / ``server_start`` / ``server_restart`` (``for_s`` seconds down),
  and ``clear`` (end every adapter fault, start stopped servers).

``for_s`` and ``delay_s`` are **wall** seconds (how long a reader sees the fault); ``at_s`` is
**virtual** seconds after the clock's start (scripted faults only). ``machine`` omitted means
every machine; ``protocol`` omitted means both servers.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from shared.config import StrictModel

__all__ = ["Fault", "FaultKind", "MODEL_FAULTS", "ADAPTER_FAULTS", "fault_target_errors"]

FaultKind = Literal[
    "counter_reset",
    "rollover",
    "freeze",
    "bad_quality",
    "modbus_exception",
    "slow",
    "drop_connections",
    "server_stop",
    "server_start",
    "server_restart",
    "clear",
]

MODEL_FAULTS: frozenset[str] = frozenset({"counter_reset", "rollover"})
ADAPTER_FAULTS: frozenset[str] = frozenset(
    {"freeze", "bad_quality", "modbus_exception", "slow", "drop_connections",
     "server_stop", "server_start", "server_restart", "clear"}
)
_SERVER_WIDE = frozenset({"drop_connections", "server_stop", "server_start", "server_restart", "clear"})
_MODBUS_ONLY = frozenset({"modbus_exception", "slow"})
_OPCUA_ONLY = frozenset({"bad_quality"})


class Fault(StrictModel):
    """One fault; see the module docstring for what each ``kind`` does."""

    kind: FaultKind
    machine: str | None = None
    protocol: Literal["opcua", "modbus"] | None = None
    at_s: float | None = Field(default=None, ge=0, le=366 * 86_400)
    for_s: float | None = Field(default=None, gt=0, le=366 * 86_400)
    delay_s: float = Field(default=2.0, gt=0, le=600)
    code: int = Field(default=6, ge=1, le=255)
    margin: int = Field(default=3, ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> Fault:
        if self.kind in _SERVER_WIDE and self.machine is not None:
            raise ValueError(f"{self.kind} acts on a whole server: give protocol, not machine")
        if self.kind in _MODBUS_ONLY and self.protocol == "opcua":
            raise ValueError(f"{self.kind} is a Modbus fault")
        if self.kind in _OPCUA_ONLY and self.protocol == "modbus":
            raise ValueError(f"{self.kind} is an OPC UA fault")
        if self.kind in MODEL_FAULTS and self.protocol is not None:
            raise ValueError(f"{self.kind} happens inside the PLC; protocol does not apply")
        if self.kind in MODEL_FAULTS and self.for_s is not None:
            raise ValueError(f"{self.kind} is instantaneous; for_s does not apply")
        return self

    @property
    def is_model_fault(self) -> bool:
        return self.kind in MODEL_FAULTS

    def protocols(self) -> tuple[str, ...]:
        if self.kind in _MODBUS_ONLY:
            return ("modbus",)
        if self.kind in _OPCUA_ONLY:
            return ("opcua",)
        return (self.protocol,) if self.protocol else ("opcua", "modbus")

    def describe(self) -> str:
        where = self.machine or (self.protocol or "all")
        return f"{self.kind}({where})"


def fault_target_errors(fault: Fault, machine_ids: set[str]) -> list[str]:
    """Problems with what ``fault`` points at (an unknown machine); empty when fine."""
    if fault.machine is not None and fault.machine not in machine_ids:
        known = ", ".join(sorted(machine_ids)[:10])
        return [f"unknown machine {fault.machine!r} (known: {known}{', ...' if len(machine_ids) > 10 else ''})"]
    return []
