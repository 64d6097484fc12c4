"""The audit hash chain as pure functions: canonical bytes of a record, its hash, and a verifier.

A record's hash is ``sha256(canonical JSON of every field but the hash itself)``; the fields
include ``seq`` and ``prev_hash`` (the hash of record ``seq - 1``, or :data:`GENESIS_HASH`), so
changing, removing, inserting or reordering any record breaks the chain at that point. The
verifier also compares the last record with the chain head (``audit_head``), which catches a
removed tail. No database or web framework here: the audit service feeds rows in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Final

import orjson

__all__ = [
    "GENESIS_HASH",
    "ChainRecord",
    "ChainBreak",
    "ChainVerifier",
    "canonical_bytes",
    "record_hash",
    "normalize_json",
    "format_at",
]

GENESIS_HASH: Final = "0" * 64


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):  # datetime is handled by orjson natively; plain dates land here
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"{type(value).__name__} is not JSON serialisable in an audit record")


def normalize_json(value: Mapping[str, Any] | None) -> dict[str, Any]:
    """``value`` as the plain JSON it will read back from the database (Decimal -> string, dates
    -> ISO text, tuples -> lists), so the hash computed now matches the stored row later."""
    if value is None:
        return {}
    try:
        out = orjson.loads(orjson.dumps(dict(value), default=_default, option=orjson.OPT_NON_STR_KEYS))
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise ValueError(f"audit detail is not JSON: {exc}") from exc
    if not isinstance(out, dict):  # pragma: no cover - dict in, dict out
        raise ValueError("audit detail must be a JSON object")
    return out


def format_at(at: datetime) -> str:
    """Canonical text of a timestamp: UTC, microseconds, ``Z``."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class ChainRecord:
    """The hashed fields of one audit record (as stored), plus its stored hash."""

    seq: int
    at: datetime
    actor: str
    role: str | None
    token_id: str | None
    action: str
    target: str
    detail: Mapping[str, Any]
    request_digest: str | None
    prev_hash: str
    hash: str = ""


def canonical_bytes(rec: ChainRecord) -> bytes:
    """The bytes a record's hash covers: every field but ``hash``, keys sorted, no whitespace."""
    doc = {
        "seq": rec.seq,
        "at": format_at(rec.at),
        "actor": rec.actor,
        "role": rec.role,
        "token_id": rec.token_id,
        "action": rec.action,
        "target": rec.target,
        "detail": rec.detail,
        "request_digest": rec.request_digest,
        "prev_hash": rec.prev_hash,
    }
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


def record_hash(rec: ChainRecord) -> str:
    return hashlib.sha256(canonical_bytes(rec)).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first broken link: at which ``seq`` and why (``code`` is stable, ``message`` is for people).

    Codes: ``altered`` (content does not match its hash), ``relinked`` (prev_hash is not the hash
    of the record before), ``missing`` (sequence numbers skipped: records deleted),
    ``out_of_order`` (a sequence number repeats or goes back: records inserted),
    ``truncated`` (the chain ends before the head: records deleted at the end),
    ``head_mismatch`` (the last hash differs from the head's, or records lie beyond the head).
    """

    seq: int
    code: str
    message: str


class ChainVerifier:
    """Feed records in ``seq`` order; the first break is kept and later ones are not looked for."""

    def __init__(self) -> None:
        self.checked = 0
        self.last_seq = 0
        self.last_hash: str = GENESIS_HASH
        self.broken: ChainBreak | None = None

    def feed(self, rec: ChainRecord) -> ChainBreak | None:
        if self.broken is not None:
            return self.broken
        self.checked += 1
        expected = self.last_seq + 1
        if rec.seq > expected:
            self.broken = ChainBreak(expected, "missing",
                                     f"records {expected}..{rec.seq - 1} are missing (next present is {rec.seq})")
        elif rec.seq < expected:
            self.broken = ChainBreak(rec.seq, "out_of_order",
                                     f"record {rec.seq} appears after record {self.last_seq}")
        elif rec.prev_hash != self.last_hash:
            self.broken = ChainBreak(rec.seq, "relinked",
                                     f"record {rec.seq} does not carry the hash of record {self.last_seq}")
        elif record_hash(rec) != rec.hash:
            self.broken = ChainBreak(rec.seq, "altered", f"record {rec.seq} was changed after it was written")
        else:
            self.last_seq, self.last_hash = rec.seq, rec.hash
        return self.broken

    def finish(self, head_seq: int, head_hash: str) -> ChainBreak | None:
        """Compare the end of the walk with the chain head; returns the first break, if any."""
        if self.broken is not None:
            return self.broken
        if self.last_seq < head_seq:
            self.broken = ChainBreak(self.last_seq + 1, "truncated",
                                     f"records {self.last_seq + 1}..{head_seq} are missing at the end of the chain")
        elif self.last_seq > head_seq or self.last_hash != head_hash:
            self.broken = ChainBreak(self.last_seq, "head_mismatch",
                                     f"the chain ends at record {self.last_seq} but the head says {head_seq} "
                                     "with another hash")
        return self.broken
