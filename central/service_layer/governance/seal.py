"""Seals of the ledger: committed journal entries, per entity, hashed into the audit chain.

The journal tables refuse UPDATE and DELETE (triggers, migration ``0007_ledger_seal``); a database
owner can drop a trigger, and the seals are what notices. A seal takes entries that no seal holds
yet, records each entry's and line's hash in ``ledger_seal_entries``/``ledger_seal_lines`` (the
entry id is the key there: an entry is in exactly one seal) and appends a ``ledger.seal`` record
with the digest over them to the audit chain. :func:`verify_ledger` recomputes every seal and
names the first entry or line that no longer matches.

Writers are never serialised by it: posting does not touch the chain or the seal tables. Sealing
picks *entries no seal holds*, not "ids above the last seal", because on PostgreSQL ids come
from a sequence and commit out of order: an entry with a lower id can become visible after a
seal took higher ones, and the next run still finds it. To keep that search cheap, a periodic run
looks only above the highest id sealed at least ``lookback`` ago (an entry below it would have
been in flight for longer than that); a period close, the first run of a process and the
migration look at everything. Two sealers never seal one entry twice: on PostgreSQL they take an
advisory lock (the periodic one gives up if another holds it), SQLite has one writer at a time,
and the key of ``ledger_seal_entries`` refuses a second membership anyway.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, cast

from sqlalchemy import Column, MetaData, Table, exists, func, select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.types import NullType
from typing_extensions import TypedDict

from central.adapters.db.dialect import insert_rows
from central.adapters.db.models_governance import AuditRow, LedgerSealEntryRow, LedgerSealLineRow, LedgerSealRow
from central.domain.seal_hash import (
    ALGORITHM,
    ENTRY_COLUMNS,
    LINE_COLUMNS,
    SealedEntry,
    SealMismatch,
    check_seal,
    entry_hash,
    line_hash,
    seal_digest,
)
from central.service_layer.clock import Clock, utc_now
from central.service_layer.governance.audit import Actor, record, verify_chain

log = logging.getLogger(__name__)

__all__ = ["SEAL_ACTION", "SEALER", "SealMade", "SealView",
           "seal_ledger", "seal_pending", "verify_ledger", "verify_all",
           "unsealed_count"]

SEAL_ACTION: Final = "ledger.seal"
SEALER: Final = "system:ledger-sealer"
"""The audit actor of periodic seals (a period close is sealed by the user who closes it)."""

_SEAL_LOCK: Final = 0x5F5_5EA1  # PostgreSQL advisory lock key of the sealer
_IN_CHUNK: Final = 500
_VERIFY_ENTRIES: Final = 20_000

# The journal as stored: every column untyped, so values are hashed as the driver returns them.
_RAW = MetaData()
_ENTRIES = Table("journal_entries", _RAW, *(Column(c, NullType()) for c in ENTRY_COLUMNS))
_LINES = Table("journal_lines", _RAW, *(Column(c, NullType()) for c in LINE_COLUMNS))
_SE = cast(Table, LedgerSealEntryRow.__table__)
_SL = cast(Table, LedgerSealLineRow.__table__)


class SealView(TypedDict):
    """A ledger seal as the API shows it: the entries and lines it covers and their digest."""

    seal: int
    entity: str | None
    entries: int
    lines: int
    first_entry: int
    last_entry: int
    digest: str


@dataclass(frozen=True, slots=True)
class SealMade:
    seal: int
    entity: str | None
    entries: int
    lines: int
    first_entry: int
    last_entry: int
    digest: str

    def as_dict(self) -> SealView:
        return {"seal": self.seal, "entity": self.entity, "entries": self.entries, "lines": self.lines,
                "first_entry": self.first_entry, "last_entry": self.last_entry, "digest": self.digest}


def _lock(session: Session, wait: bool) -> bool:
    """The sealer's advisory lock for this transaction (PostgreSQL); SQLite writers are serial."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    if wait:
        session.execute(select(func.pg_advisory_xact_lock(_SEAL_LOCK)))
        return True
    return bool(session.scalar(select(func.pg_try_advisory_xact_lock(_SEAL_LOCK))))


def _floor(session: Session, lookback: timedelta | None, now: datetime) -> int:
    if lookback is None:
        return 0
    top = session.scalar(select(func.max(LedgerSealRow.last_entry)).where(LedgerSealRow.sealed_at < now - lookback))
    return int(top or 0)


def _lines_of(session: Session, entry_ids: Sequence[int]) -> dict[int, list[tuple[Any, ...]]]:
    out: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for i in range(0, len(entry_ids), _IN_CHUNK):
        chunk = entry_ids[i:i + _IN_CHUNK]
        stmt = select(*_LINES.c).where(_LINES.c.entry_id.in_(chunk)).order_by(_LINES.c.entry_id, _LINES.c.id)
        for row in session.execute(stmt):
            out[int(row[1])].append(tuple(row))
    return out


def seal_ledger(
    session: Session, actor: Actor, reason: str, *, period: str | None = None, lookback: timedelta | None = None,
    batch: int = 10_000, wait: bool = True, now: datetime | None = None, clock: Clock = utc_now,
) -> list[SealMade] | None:
    """Seal up to ``batch`` entries no seal holds yet, one seal per entity, in ``session``'s transaction.

    ``lookback=None`` searches the whole journal, else above the highest id sealed at least that
    long ago (see the module docstring). ``wait=False`` returns None at once when another sealer
    holds the lock (PostgreSQL). The seal is stamped ``now``, else ``clock()``. Returns the seals
    made (empty: nothing to seal); fewer than
    ``batch`` entries sealed means nothing more is waiting.
    """
    if not _lock(session, wait):
        return None
    now = now or clock()
    floor = _floor(session, lookback, now)
    stmt = select(*_ENTRIES.c).where(~exists().where(_SE.c.entry_id == _ENTRIES.c.id))
    if floor:
        stmt = stmt.where(_ENTRIES.c.id > floor)
    rows: list[tuple[Any, ...]] = [tuple(r) for r in session.execute(stmt.order_by(_ENTRIES.c.id).limit(batch))]
    if not rows:
        return []
    lines = _lines_of(session, [int(r[0]) for r in rows])
    by_entity: dict[str | None, list[SealedEntry]] = defaultdict(list)
    for r in rows:
        entry_id = int(r[0])
        sealed_lines = tuple((int(x[0]), line_hash(x)) for x in lines.get(entry_id, ()))
        by_entity[r[1]].append(SealedEntry(entry_id, entry_hash(r), sealed_lines))
    made = [_seal_one(session, actor, reason, period, entity, members, now) for entity, members in by_entity.items()]
    log.info("ledger sealed (%s): %d entries in %d seal(s) %s", reason, len(rows), len(made),
             ", ".join(str(m.seal) for m in made))
    return made


def _seal_one(session: Session, actor: Actor, reason: str, period: str | None, entity: str | None,
              members: list[SealedEntry], now: datetime) -> SealMade:
    digest = seal_digest(members)
    n_lines = sum(len(m.lines) for m in members)
    row = LedgerSealRow(entity=entity, reason=reason, period=period, sealed_at=now, entries=len(members),
                        lines=n_lines, first_entry=members[0].entry_id, last_entry=members[-1].entry_id, digest=digest)
    session.add(row)
    session.flush()
    insert_rows(session, _SE, [{"entry_id": m.entry_id, "seal_id": row.id, "hash": m.hash} for m in members])
    line_rows = [{"line_id": line_id, "entry_id": m.entry_id, "seal_id": row.id, "hash": h}
                 for m in members for line_id, h in m.lines]
    insert_rows(session, _SL, line_rows)
    made = SealMade(row.id, entity, len(members), n_lines, members[0].entry_id, members[-1].entry_id, digest)
    record(session, actor, SEAL_ACTION, f"ledger_seal/{row.id}",
           {**made.as_dict(), "reason": reason, "period": period, "algorithm": ALGORITHM}, at=now,
           describes_request=False)
    return made


def seal_pending(session: Session, actor: Actor, reason: str, *, period: str | None = None,
                 batch: int = 10_000, now: datetime | None = None, clock: Clock = utc_now) -> list[SealMade]:
    """Seal every entry no seal holds yet, in ``session``'s transaction (period close, migration):
    the whole journal is searched, and the lock is waited for. ``now`` is the caller's clock
    (a period close passes its own), else ``clock()`` once for every chunk."""
    now = now or clock()
    made: list[SealMade] = []
    while True:
        chunk = seal_ledger(session, actor, reason, period=period, batch=batch, wait=True, now=now) or []
        made.extend(chunk)
        if sum(m.entries for m in chunk) < batch:
            return made


def unsealed_count(session: Session) -> int:
    """How many journal entries no seal holds yet."""
    stmt = select(func.count()).select_from(_ENTRIES).where(~exists().where(_SE.c.entry_id == _ENTRIES.c.id))
    return int(session.scalar(stmt) or 0)


# --- verification ----------------------------------------------------------------------------


@dataclass(slots=True)
class _Tally:
    seals: int = 0
    entries: int = 0
    lines: int = 0
    mismatch: SealMismatch | None = None


def _check_page(session: Session, page: list[tuple[int, int, str]], tally: _Tally) -> None:
    """Check the seals of ``page`` (``(audit seq, seal id, digest)``) against the rows now."""
    ids = [p[1] for p in page]
    lo, hi = min(ids), max(ids)
    in_page = _SE.c.seal_id.between(lo, hi)
    stored_lines: dict[int, list[tuple[int, str]]] = defaultdict(list)
    line_rows: list[tuple[Any, ...]] = [tuple(r) for r in session.execute(
        select(_SL.c.line_id, _SL.c.entry_id, _SL.c.hash).where(_SL.c.seal_id.between(lo, hi)))]
    for line_id, entry_id, h in line_rows:
        stored_lines[int(entry_id)].append((int(line_id), str(h)))
    stored: dict[int, list[SealedEntry]] = defaultdict(list)
    member_rows: list[tuple[Any, ...]] = [tuple(r) for r in session.execute(
        select(_SE.c.entry_id, _SE.c.seal_id, _SE.c.hash).where(in_page).order_by(_SE.c.entry_id))]
    for entry_id, seal_id, h in member_rows:
        stored[int(seal_id)].append(SealedEntry(int(entry_id), str(h), tuple(sorted(stored_lines[int(entry_id)]))))
    now_entries = {int(r[0]): entry_hash(tuple(r)) for r in session.execute(
        select(*_ENTRIES.c).join(_SE, _SE.c.entry_id == _ENTRIES.c.id).where(in_page))}
    now_lines: dict[int, list[tuple[int, int, str]]] = defaultdict(list)
    for r in session.execute(select(*_LINES.c).join(_SE, _SE.c.entry_id == _LINES.c.entry_id).where(in_page)):
        now_lines[int(r[1])].append((int(r[0]), int(r[2]) if r[2] is not None else 0, line_hash(tuple(r))))
    for _seq, seal_id, digest in page:
        members = stored.get(seal_id, [])
        tally.mismatch = check_seal(seal_id, digest, members, now_entries, now_lines)
        if tally.mismatch is not None:
            return
        tally.seals += 1
        tally.entries += len(members)
        tally.lines += sum(len(m.lines) for m in members)


def _seal_of(detail: Any) -> tuple[int, str] | None:
    if not isinstance(detail, dict):
        return None
    seal, digest = detail.get("seal"), detail.get("digest")
    if isinstance(seal, int) and not isinstance(seal, bool) and isinstance(digest, str):
        return seal, digest
    return None


def verify_ledger(session: Session) -> dict[str, Any]:
    """Recompute every seal recorded in the audit chain; report the first mismatch and how many
    entries are not sealed yet. Run it in one snapshot with the chain (see ``audit.verify_all``)."""
    tally = _Tally()
    sealed_total = 0
    page: list[tuple[int, int, str]] = []
    page_entries = 0
    stmt = select(AuditRow.seq, AuditRow.detail).where(AuditRow.action == SEAL_ACTION).order_by(AuditRow.seq)
    seals: Iterable[tuple[int, Any]] = session.execute(stmt).tuples()
    for seq, detail in seals:
        parsed = _seal_of(detail)
        if parsed is None:
            tally.mismatch = SealMismatch(0, "seal_altered", f"audit record {seq} is a seal without a seal id "
                                          "and digest")
            break
        page.append((int(seq), *parsed))
        count = detail.get("entries")
        page_entries += count if isinstance(count, int) else 0
        sealed_total += count if isinstance(count, int) else 0
        if page_entries >= _VERIFY_ENTRIES:
            _check_page(session, page, tally)
            page, page_entries = [], 0
            if tally.mismatch is not None:
                break
    if page and tally.mismatch is None:
        _check_page(session, page, tally)
    if tally.mismatch is None:
        tally.mismatch = _unknown_members(session, sealed_total)
    unsealed = unsealed_count(session)
    m = tally.mismatch
    if m is not None:
        log.error("ledger seal %s broken (%s): %s", m.seal, m.code, m.message)
    return {
        "ok": m is None, "seals": tally.seals, "entries": tally.entries, "lines": tally.lines,
        "unsealed_entries": unsealed,
        "first_mismatch": None if m is None else {"seal": m.seal, "code": m.code, "entry": m.entry, "line": m.line,
                                                  "line_no": m.line_no, "message": m.message},
    }


def _unknown_members(session: Session, sealed_total: int) -> SealMismatch | None:
    """Membership rows beyond what the audit chain's seals account for: an entry made to look sealed."""
    members = int(session.scalar(select(func.count()).select_from(_SE)) or 0)
    if members == sealed_total:
        return None
    details: list[Any] = list(session.scalars(select(AuditRow.detail).where(AuditRow.action == SEAL_ACTION)))
    known = {p[0] for d in details if (p := _seal_of(d)) is not None}
    seal_ids: list[Any] = list(session.scalars(select(_SE.c.seal_id).distinct().order_by(_SE.c.seal_id)))
    for seal_id in seal_ids:
        if int(seal_id) not in known:
            entry = session.scalar(select(func.min(_SE.c.entry_id)).where(_SE.c.seal_id == seal_id))
            return SealMismatch(int(seal_id), "unknown_seal",
                                f"journal entry {entry} is marked sealed by seal {seal_id}, which the audit chain "
                                "does not have", entry=int(entry) if entry is not None else None)
    return SealMismatch(0, "seal_altered", f"{members} entries are marked sealed but the audit chain's seals hold "
                        f"{sealed_total}")


def verify_all(sessions: sessionmaker[Session]) -> dict[str, Any]:
    """The audit chain (``verify_chain``'s report) and the ledger's seals (under ``ledger``), in one
    read snapshot; ``ok`` only when both are."""
    with sessions() as session, session.begin():
        if session.get_bind().dialect.name == "postgresql":
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        report = verify_chain(session)
        ledger = verify_ledger(session)
    return {**report, "ok": bool(report["ok"]) and bool(ledger["ok"]), "ledger": ledger}
