"""Hashes of journal rows and seal digests as pure functions, and the seal checker.

A row's hash is ``sha256`` of a tag (``E`` for an entry, ``L`` for a line) and the canonical JSON
of its stored values in a fixed column order, read as the driver returns them (no column type
processing, so a change of output formatting never changes a hash; only a change of the stored
value does). A seal's digest covers, in entry id order, every member entry's id and hash followed
by its lines' ids and hashes: change, remove or add a row, or edit a stored hash, and it differs.

No database here: :mod:`central.service_layer.governance.seal` reads the rows and feeds them in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Final

import orjson

__all__ = [
    "ALGORITHM",
    "ENTRY_COLUMNS",
    "LINE_COLUMNS",
    "SealedEntry",
    "SealMismatch",
    "entry_hash",
    "line_hash",
    "seal_digest",
    "check_seal",
]

ALGORITHM: Final = "sfsync.seal/1"

ENTRY_COLUMNS: Final = ("id", "entity", "period", "entry_date", "kind", "memo", "rule_version", "late",
                        "original_date", "reverses", "reason", "record_id", "work_order", "created", "user")
"""Columns of ``journal_entries`` a seal covers (every column there is)."""

LINE_COLUMNS: Final = ("id", "entry_id", "line_no", "account", "role", "debit", "credit", "work_order", "item",
                       "work_center", "reason", "memo")
"""Columns of ``journal_lines`` a seal covers (every column there is)."""


def _canon(value: Any) -> Any:
    """A stored value as plain JSON; datetimes in UTC (naive ones are stored in UTC)."""
    if value is None or isinstance(value, (str, int, float)):
        return int(value) if isinstance(value, bool) else value
    if isinstance(value, datetime):
        aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return aware.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (bytes, memoryview)):
        return bytes(value).hex()
    return str(value)


def _row_hash(tag: bytes, values: Sequence[Any]) -> str:
    return hashlib.sha256(tag + orjson.dumps([_canon(v) for v in values])).hexdigest()


def entry_hash(values: Sequence[Any]) -> str:
    """Hash of one ``journal_entries`` row given in :data:`ENTRY_COLUMNS` order."""
    return _row_hash(b"E", values)


def line_hash(values: Sequence[Any]) -> str:
    """Hash of one ``journal_lines`` row given in :data:`LINE_COLUMNS` order."""
    return _row_hash(b"L", values)


@dataclass(frozen=True, slots=True)
class SealedEntry:
    """An entry as a seal holds it: its id and hash, and its lines' ``(id, hash)`` in id order."""

    entry_id: int
    hash: str
    lines: tuple[tuple[int, str], ...]


def seal_digest(entries: Iterable[SealedEntry]) -> str:
    """The digest of a seal over its members (in entry id order, lines in id order)."""
    h = hashlib.sha256(ALGORITHM.encode() + b"\n")
    for e in sorted(entries, key=lambda x: x.entry_id):
        h.update(f"E {e.entry_id} {e.hash}\n".encode())
        for line_id, digest in sorted(e.lines):
            h.update(f"L {line_id} {digest}\n".encode())
    return h.hexdigest()


@dataclass(frozen=True, slots=True)
class SealMismatch:
    """The first thing of a seal that no longer matches (``code`` is stable, ``message`` for people).

    Codes: ``entry_missing``, ``entry_altered``, ``line_missing``, ``line_added``, ``line_altered``
    (the rows differ from what was sealed), ``seal_altered`` (the stored members or their hashes
    differ from the digest in the audit chain), ``unknown_seal`` (membership rows claim a seal the
    audit chain does not have).
    """

    seal: int
    code: str
    message: str
    entry: int | None = None
    line: int | None = None
    line_no: int | None = None


def check_seal(
    seal: int,
    digest: str,
    stored: Sequence[SealedEntry],
    current_entries: Mapping[int, str],
    current_lines: Mapping[int, Sequence[tuple[int, int, str]]],
) -> SealMismatch | None:
    """Compare a seal with the rows as they are now; the first mismatch, or None.

    ``stored``: the members recorded when sealed; ``current_entries``: entry id -> hash of the row
    now; ``current_lines``: entry id -> ``(line id, line_no, hash)`` of its lines now. Rows are
    checked in entry id then line id order, before the stored members are checked against the
    audit chain's ``digest`` (so an edited line is named even when its stored hash was edited too,
    unless that was done consistently, which the digest then catches).
    """
    for e in sorted(stored, key=lambda x: x.entry_id):
        now = current_entries.get(e.entry_id)
        if now is None:
            return SealMismatch(seal, "entry_missing", f"journal entry {e.entry_id} (seal {seal}) was deleted",
                                entry=e.entry_id)
        if now != e.hash:
            return SealMismatch(seal, "entry_altered",
                                f"journal entry {e.entry_id} was changed after seal {seal}", entry=e.entry_id)
        sealed_lines = dict(e.lines)
        lines_now = {line_id: (line_no, h) for line_id, line_no, h in current_lines.get(e.entry_id, ())}
        for line_id in sorted(set(sealed_lines) | set(lines_now)):
            if line_id not in lines_now:
                return SealMismatch(seal, "line_missing",
                                    f"journal line {line_id} of entry {e.entry_id} (seal {seal}) was deleted",
                                    entry=e.entry_id, line=line_id)
            line_no, h = lines_now[line_id]
            if line_id not in sealed_lines:
                return SealMismatch(seal, "line_added",
                                    f"journal line {line_id} (line {line_no}) was added to entry {e.entry_id} "
                                    f"after seal {seal}", entry=e.entry_id, line=line_id, line_no=line_no)
            if h != sealed_lines[line_id]:
                return SealMismatch(seal, "line_altered",
                                    f"journal line {line_id} (line {line_no} of entry {e.entry_id}) was changed "
                                    f"after seal {seal}", entry=e.entry_id, line=line_id, line_no=line_no)
    if seal_digest(stored) != digest:
        first = min((e.entry_id for e in stored), default=None)
        return SealMismatch(seal, "seal_altered",
                            f"the members of seal {seal} or their stored hashes differ from its digest in the "
                            "audit chain", entry=first)
    return None
