"""The one small interface every PLC adapter implements: :class:`TagSource`.

A source connects to one PLC, delivers every value change of its configured tags to a
sink as :class:`TagReading` values grouped in a :data:`Snapshot`, and keeps doing so across
disconnects (reconnect with backoff, re-subscribe) until cancelled. A snapshot is what
arrived together: the changes of one Modbus poll, the data changes of one OPC UA publish
response, one verification read. Values the PLC changed together (a counter and its reason,
a state and its reason) are derived together, whatever their order in the config. One
source's failure never touches another's: the edge runs each source in its own task.

Error tree (all raised values are ``ProtocolError`` subclasses, mapped at the adapter
boundary from asyncua/pymodbus exceptions with ``raise ... from exc``)::

    ProtocolError
    ├── SourceUnavailable   PLC unreachable, connection lost, timeout
    └── TagConfigError      a tag definition that cannot work (unknown type, bad length)

One tag that cannot be read (wrong node id or address, an exception response, an undecodable
value) is not raised: it is delivered as a reading of ``Quality.BAD`` with the reason in
``detail``, so one bad tag never stops its source.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

__all__ = [
    "Quality",
    "TagReading",
    "ProbeRow",
    "SourceHealth",
    "Sink",
    "Snapshot",
    "TagSource",
    "ProtocolError",
    "SourceUnavailable",
    "TagConfigError",
]

Scalar = bool | int | float | str | None


class ProtocolError(Exception):
    """Root of the errors raised by PLC adapters."""


class SourceUnavailable(ProtocolError):
    """The PLC cannot be reached, or the connection was lost."""


class TagConfigError(ProtocolError):
    """A tag definition that cannot work (unknown type, impossible length)."""


class Quality(enum.StrEnum):
    GOOD = "good"
    UNCERTAIN = "uncertain"
    BAD = "bad"


@dataclass(frozen=True, slots=True)
class TagReading:
    """One value of one tag as the PLC reported it.

    ``epoch`` identifies the life of the data source the value came from: the OPC UA
    server's start time, or for Modbus an id made on each (re)connection. Event derivation
    stores it beside the counter's last value: a counter that drops while the epoch changed
    is a PLC/connection restart (``reset``), not a rollover.

    ``prev_seen`` is when the source last saw this tag still holding the value it delivered
    before this one, on the same connection: the previous good poll (Modbus) or one sampling
    interval before the change (OPC UA subscription); ``None`` when it cannot tell (first value
    of a connection, a verification read). A counter cannot have moved unseen for longer than
    ``received - prev_seen``: that is the window the rollover/reset plausibility rule uses.
    """

    tag: str
    value: Scalar
    source_ts: datetime | None
    quality: Quality
    epoch: str
    received: datetime
    detail: str = ""
    prev_seen: datetime | None = None


@dataclass(frozen=True, slots=True)
class ProbeRow:
    """What ``sfsync edge probe`` prints for one tag.

    ``samples`` (Modbus, ``probe --watch``): the ``alternatives`` of every good read made
    while watching, oldest first; empty for a single read.
    """

    tag: str
    address: str
    data_type: str
    raw: str
    value: Scalar
    quality: Quality
    alternatives: dict[str, Scalar] = field(default_factory=dict)
    error: str = ""
    samples: tuple[dict[str, Scalar], ...] = ()


@dataclass(slots=True)
class SourceHealth:
    """Live health of one source, for status and metrics.

    ``reconnects`` counts connections established after the first one; ``last_error``
    is the latest connection failure (kept after recovery, for status pages).
    """

    name: str
    connected: bool = False
    reconnects: int = 0
    last_error: str = ""
    last_good: dict[str, datetime] = field(default_factory=dict)
    quality: dict[str, Quality] = field(default_factory=dict)
    #: epoch of the current (or last) connection; see :class:`TagReading`
    epoch: str = ""
    #: when the current connection was established, ``None`` while disconnected
    connected_since: datetime | None = None
    #: why a tag is not GOOD (empty when it is)
    detail: dict[str, str] = field(default_factory=dict)
    #: changes the subscription did not report and a verification read found (OPC UA)
    missed_changes: int = 0
    #: subscriptions re-created because verification kept finding missed changes (OPC UA)
    resubscribes: int = 0


#: the readings that arrived together (one poll, one publish response, one read), in arrival order
Snapshot = Sequence[TagReading]

Sink = Callable[[Snapshot], Awaitable[None]]


@runtime_checkable
class TagSource(Protocol):
    """A PLC connection delivering tag values to a sink."""

    name: str
    health: SourceHealth

    async def run(self, sink: Sink) -> None:
        """Connect, deliver snapshots to ``sink`` forever, reconnect with backoff; return on cancel."""
        ...

    async def probe(self) -> list[ProbeRow]:
        """Connect once, read every tag once, disconnect."""
        ...
