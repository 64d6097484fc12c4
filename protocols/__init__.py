"""PLC protocol adapters behind one TagSource interface (OPC UA, Modbus TCP).

Public face::

    from protocols import build_source, SourceConfig, TagReading, Quality

    source = build_source(config)          # OpcUaSourceConfig | ModbusSourceConfig
    task = asyncio.create_task(source.run(sink))   # one task per PLC; sink(snapshot)
    rows = await source.probe()            # read every tag once, for `sfsync edge probe`

The adapter modules import asyncua/pymodbus; :func:`build_source` imports only the one a
config needs, so an edge with Modbus PLCs only never loads asyncua.
"""

from __future__ import annotations

from protocols.base import (
    ProbeRow,
    ProtocolError,
    Quality,
    Sink,
    Snapshot,
    SourceHealth,
    SourceUnavailable,
    TagConfigError,
    TagReading,
    TagSource,
)
from protocols.config import (
    ModbusSourceConfig,
    ModbusTagConfig,
    OpcUaSourceConfig,
    OpcUaTagConfig,
    SourceConfig,
)

__all__ = [
    "build_source",
    "SourceConfig",
    "OpcUaSourceConfig",
    "OpcUaTagConfig",
    "ModbusSourceConfig",
    "ModbusTagConfig",
    "TagSource",
    "TagReading",
    "ProbeRow",
    "Quality",
    "Sink",
    "Snapshot",
    "SourceHealth",
    "ProtocolError",
    "SourceUnavailable",
    "TagConfigError",
]


def build_source(config: OpcUaSourceConfig | ModbusSourceConfig) -> TagSource:
    """The adapter for one source config (a :class:`TagSource`), not yet running."""
    if isinstance(config, ModbusSourceConfig):
        from protocols.modbus import ModbusSource

        source: TagSource = ModbusSource(config)
        return source
    if isinstance(config, OpcUaSourceConfig):
        from protocols.opcua import OpcUaSource

        opcua_source: TagSource = OpcUaSource(config)
        return opcua_source
    raise TagConfigError(f"no adapter for source config {type(config).__name__}")
