"""Errors of the edge agent.

One root, so a caller can catch everything the edge raises on purpose::

    EdgeError
    ├── OutboxError        the SQLite outbox cannot be opened, read or written
    │   └── OutboxMismatch the database belongs to another plant/edge, or is newer than us
    └── ForwarderError     the MQTT client cannot be set up (bad TLS files, bad options)

Configuration problems are :class:`shared.config.ConfigError` (the CLI prints them, exit 2).
Transient faults (broker down, PLC unreachable, disk full for a while) are not raised to the
caller: the agent logs them once per condition, shows them on status/metrics and retries.
"""

from __future__ import annotations

__all__ = ["EdgeError", "OutboxError", "OutboxMismatch", "ForwarderError"]


class EdgeError(Exception):
    """Root of the errors the edge agent raises."""


class OutboxError(EdgeError):
    """The SQLite outbox cannot be opened, read or written."""


class OutboxMismatch(OutboxError):
    """The outbox database belongs to another plant/edge, or to a newer schema."""


class ForwarderError(EdgeError):
    """The MQTT forwarder cannot be set up."""
