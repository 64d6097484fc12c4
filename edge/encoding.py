"""Event bytes without the pydantic round trip: the outbox write path is hot.

An event is derived before its seq exists (the seq is assigned inside the outbox
transaction), so derivation encodes everything *but* the seq, and the outbox splices the
seq in front: ``{"seq":N,`` + body. The bytes are exactly what
:func:`shared.contract.encode_event` produces for the same event (same key order; optional
``qty``/``state``/``reason`` left out when ``None``, ``raw`` always complete);
``tests/unit/test_edge_encoding.py`` holds the two together.

A raw integer outside int64 (a u64 counter at 2**63 or above) is written as its decimal string
(``"9223372036854775808"``): the contract bounds raw integers to int64 but allows strings of up
to 256 characters, so the event with its small ``qty`` is accepted instead of rejected.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import orjson

from shared.contract import INT64_MAX, INT64_MIN, format_ts

__all__ = ["event_body", "with_seq", "aware", "wire_scalar"]

Scalar = bool | int | float | str | None


def wire_scalar(value: Scalar) -> Scalar:
    """``value`` as the contract takes it: an integer beyond int64 as its decimal string."""
    if isinstance(value, int) and not isinstance(value, bool) and not INT64_MIN <= value <= INT64_MAX:
        return str(value)
    return value


def aware(ts: datetime) -> datetime:
    """A naive timestamp from a PLC is taken as UTC (the contract needs a zone)."""
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


def event_body(
    *,
    machine: str,
    kind: str,
    ts: datetime,
    rx: datetime,
    tag: str,
    value: Scalar,
    prev: Scalar,
    qty: int | None = None,
    state: str | None = None,
    reason: str | None = None,
    flags: Sequence[str] = (),
) -> bytes:
    """The JSON of one event without ``seq`` (an object starting with ``{"machine":``)."""
    doc: dict[str, object] = {
        "machine": machine,
        "kind": kind,
        "ts": format_ts(aware(ts)),
        "rx": format_ts(aware(rx)),
    }
    if qty is not None:
        doc["qty"] = qty
    if state is not None:
        doc["state"] = state
    if reason is not None:
        doc["reason"] = reason
    doc["flags"] = list(flags)
    doc["raw"] = {"tag": tag, "value": wire_scalar(value), "prev": wire_scalar(prev)}
    return orjson.dumps(doc)


def with_seq(seq: int, body: bytes) -> bytes:
    """Splice the seq in front of a body made by :func:`event_body`."""
    return b'{"seq":%d,%s' % (seq, body[1:])
