"""The journal as read by finance: listing, one entry with its lineage, reversal, trial balance.

Nothing posted is edited (the database refuses it): a reversal is a new entry with every line's
sides swapped, a reason and its ``reverses`` link, which is read both ways (``reversed_by`` of the
original is the entry that reverses it). The work order's cumulative memory (accruals) is corrected with it, so
the ledger and what the next event will post stay consistent.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Required

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session
from typing_extensions import TypedDict

from central.adapters.db.models_costing import (
    JournalEntryRow,
    JournalLineRow,
    OpRecordRow,
)
from central.adapters.db.models_ingest import EventRow
from central.adapters.unit_of_work import SqlAlchemyUnitOfWork
from central.domain.accruals import BACKFLUSH, CONVERSION, FINISHED_GOODS, ISSUE, OrderAccruals, element
from central.domain.commands import ReverseJournalEntry
from central.domain.errors import InputError
from central.domain.ledger import JournalEntry, JournalLine, Tags
from central.domain.money import ZERO, format_amount
from central.domain.roles import Role
from central.errors import Conflict, NotFound
from central.service_layer.clock import Clock, utc_now
from central.service_layer.costing.inputs import record_view
from central.service_layer.costing.journal import period_for_input, save_entry
from central.service_layer.costing.lineage import events_of
from central.service_layer.costing.master_data import snapshot
from central.service_layer.costing.orders import load_order
from central.service_layer.costing.snapshots import BalanceSource, SnapshotBalances
from central.service_layer.costing.stock import MoveSource, check_negative, reverse_moves
from central.service_layer.unit_of_work import AbstractUnitOfWork

log = logging.getLogger(__name__)

__all__ = ["JournalLineView", "JournalEntryView", "JournalEntryDetailView", "JournalPage", "TrialBalanceLine",
           "TrialBalance",
           "list_journal", "entry_view", "get_entry", "reverse_journal_entry", "reverse_entry", "trial_balance"]

_CLOSES = {"work_order_close", "efficiency_to_date", "period_close"}
_FROM_EVENTS = {"backflush", "conversion_applied", "finished_goods"}
_CONVERSION_ROLES = {Role.LABOR_CONTROL.value: "labor", Role.VOH_CONTROL.value: "voh", Role.FOH_CONTROL.value: "foh"}


def _money(value: Decimal) -> str:
    return format_amount(value)


class JournalLineView(TypedDict):
    """One line of a posted entry: debit and credit are money strings (one of them 0.00)."""

    line: int
    account: str
    role: str
    debit: str
    credit: str
    work_order: str | None
    item: str | None
    work_center: str | None
    reason: str | None
    memo: str | None


class JournalEntryView(TypedDict):
    """A posted entry with its lines; amounts are money strings."""

    id: int
    entity: str | None
    period: str
    date: str
    kind: str
    memo: str | None
    rule_version: int | None
    late: bool
    original_date: str | None
    reverses: int | None
    reversed_by: int | None
    reason: str | None
    record: int | None
    work_order: str | None
    created: str
    user: str
    lines: list[JournalLineView]
    total_debit: str
    total_credit: str


class JournalEntryDetailView(JournalEntryView):
    """An entry with its lineage: the operational record and the machine events behind it."""

    lineage: dict[str, Any]


class JournalPage(TypedDict):
    """One page of entries (newest last); ``total`` counts every match."""

    entries: list[JournalEntryView]
    total: int
    limit: int
    offset: int


def line_view(line: JournalLineRow) -> JournalLineView:
    return {
        "line": line.line_no, "account": line.account, "role": line.role, "debit": _money(line.debit),
        "credit": _money(line.credit), "work_order": line.work_order, "item": line.item,
        "work_center": line.work_center, "reason": line.reason, "memo": line.memo,
    }


def _reversals(session: Session, entry_ids: list[int]) -> dict[int, int]:
    """Original entry id -> the id of the entry reversing it, for those of ``entry_ids`` reversed."""
    if not entry_ids:
        return {}
    stmt = select(JournalEntryRow.reverses, JournalEntryRow.id).where(JournalEntryRow.reverses.in_(entry_ids))
    return {int(orig): int(rev) for orig, rev in session.execute(stmt).tuples() if orig is not None}


def entry_view(entry: JournalEntryRow, lines: list[JournalLineRow], reversed_by: int | None = None
               ) -> JournalEntryView:
    return {
        "id": entry.id, "entity": entry.entity, "period": entry.period, "date": entry.entry_date.isoformat(),
        "kind": entry.kind, "memo": entry.memo, "rule_version": entry.rule_version, "late": entry.late,
        "original_date": entry.original_date.isoformat() if entry.original_date else None,
        "reverses": entry.reverses, "reversed_by": reversed_by, "reason": entry.reason,
        "record": entry.record_id, "work_order": entry.work_order, "created": entry.created.isoformat(),
        "user": entry.user, "lines": [line_view(x) for x in sorted(lines, key=lambda x: x.line_no)],
        "total_debit": _money(sum((x.debit for x in lines), ZERO)),
        "total_credit": _money(sum((x.credit for x in lines), ZERO)),
    }


def list_journal(
    session: Session, *, period: str | None = None, account: str | None = None, work_order: str | None = None,
    entity: str | None = None, kind: str | None = None, limit: int = 100, offset: int = 0,
) -> JournalPage:
    """Entries (newest last) with their lines, filtered; ``total`` counts every match."""
    stmt: Select[Any] = select(JournalEntryRow)
    if period:
        stmt = stmt.where(JournalEntryRow.period == period)
    if entity:
        stmt = stmt.where(JournalEntryRow.entity == entity)
    if kind:
        stmt = stmt.where(JournalEntryRow.kind == kind)
    if work_order:
        stmt = stmt.where(JournalEntryRow.id.in_(select(JournalLineRow.entry_id).where(
            JournalLineRow.work_order == work_order)))
    if account:
        stmt = stmt.where(JournalEntryRow.id.in_(select(JournalLineRow.entry_id).where(
            (JournalLineRow.account == account) | (JournalLineRow.role == account))))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    page = stmt.order_by(JournalEntryRow.id).limit(limit).offset(offset)
    entries: list[JournalEntryRow] = list(session.scalars(page))
    lines: dict[int, list[JournalLineRow]] = defaultdict(list)
    if entries:
        for line in session.scalars(select(JournalLineRow).where(
                JournalLineRow.entry_id.in_([e.id for e in entries]))):
            lines[line.entry_id].append(line)
    reversed_by = _reversals(session, [e.id for e in entries])
    return {"entries": [entry_view(e, lines[e.id], reversed_by.get(e.id)) for e in entries], "total": total,
            "limit": limit,
            "offset": offset}


def _load(session: Session, entry_id: int) -> tuple[JournalEntryRow, list[JournalLineRow]]:
    entry = session.get(JournalEntryRow, entry_id)
    if entry is None:
        raise NotFound(f"no journal entry {entry_id}")
    lines = list(session.scalars(select(JournalLineRow).where(JournalLineRow.entry_id == entry_id)))
    return entry, lines


def get_entry(session: Session, entry_id: int, *, events_limit: int | None = None) -> JournalEntryDetailView:
    """One entry with lineage: lines -> operational record -> events -> raw PLC values.

    ``events_limit``: list only the first that many events (in stream order) and count them all
    in ``lineage["event_count"]`` (the console's page; the API lists them all)."""
    entry, lines = _load(session, entry_id)
    view = entry_view(entry, lines, _reversals(session, [entry.id]).get(entry.id))
    lineage: dict[str, Any] = {"record": None, "events": []}
    if entry.record_id is not None:
        record = session.get(OpRecordRow, entry.record_id)
        if record is not None:
            lineage["record"] = record_view(record)
        linked = events_of(session, [entry.record_id]).get(entry.record_id, [])
        stmt = select(EventRow.id, EventRow.edge, EventRow.stream, EventRow.seq, EventRow.machine, EventRow.kind,
                      EventRow.ts, EventRow.qty, EventRow.state, EventRow.reason, EventRow.flags, EventRow.raw).where(
            EventRow.id.in_(linked)).order_by(EventRow.stream, EventRow.seq)
        if events_limit is not None:
            stmt = stmt.limit(events_limit)
            lineage["event_count"] = len(linked)
        lineage["events"] = [
            {"id": e.id, "edge": e.edge, "stream": e.stream, "seq": e.seq, "machine": e.machine, "kind": e.kind,
             "ts": e.ts.isoformat() if e.ts else None, "qty": e.qty, "state": e.state, "reason": e.reason,
             "flags": e.flags, "raw": e.raw}
            for e in session.execute(stmt)
        ]
    elif events_limit is not None:
        lineage["event_count"] = 0
    return {**view, "lineage": lineage}


def reverse_journal_entry(cmd: ReverseJournalEntry, uow: AbstractUnitOfWork) -> JournalEntryDetailView:
    """The reversal handler: post the reversal of an entry in today's open period (``uow.clock``),
    restore the order's accruals. The journal is still read and written through ``uow.session``."""
    if not cmd.reason.strip():
        raise InputError("a reversal needs a reason")
    with uow:
        view = _reverse(uow.session, cmd.entry_id, cmd.reason, cmd.user, uow.clock())
        uow.commit()
        return view


def reverse_entry(
    session: Session, entry_id: int, reason: str, user: str, *, clock: Clock = utc_now
) -> JournalEntryDetailView:
    """:func:`reverse_journal_entry` in ``session``'s transaction."""
    uow = SqlAlchemyUnitOfWork.joining(session, clock)
    return reverse_journal_entry(ReverseJournalEntry(entry_id, reason, user), uow)


def _reverse(session: Session, entry_id: int, reason: str, user: str, now: datetime) -> JournalEntryDetailView:
    entry, lines = _load(session, entry_id)
    already = _reversals(session, [entry.id]).get(entry.id)
    if already is not None:  # the unique index on ``reverses`` also refuses a concurrent second one
        raise Conflict(f"journal entry {entry_id} is already reversed by {already}", code="already_reversed")
    if entry.reverses is not None:
        raise Conflict(f"journal entry {entry_id} is itself a reversal: post a new entry instead")
    if entry.kind in _CLOSES:
        raise Conflict(f"a {entry.kind} entry is not reversed by hand: it follows from the order and period data")
    if entry.kind in _FROM_EVENTS:
        raise Conflict(
            f"a {entry.kind} entry follows from machine events: correct the events instead (stop the order with a "
            "past 'at', assign or reject them); their postings are reversed and reposted",
            code="posted_from_events",
        )
    snap = snapshot(session)
    choice = period_for_input(session, snap, entry.entity, None, now)
    domain_lines = tuple(
        JournalLine(Role(x.role), debit=x.credit, credit=x.debit, account=x.account,
                    tags=Tags(x.work_order, x.item, x.work_center, x.reason, x.memo))
        for x in sorted(lines, key=lambda x: x.line_no)
    )
    reversal = JournalEntry(
        entry_date=choice.entry_date, period=choice.period, kind=entry.kind, lines=domain_lines, entity=entry.entity,
        memo=f"reversal of {entry.id}", rule_version=entry.rule_version, reverses=str(entry.id), reason=reason,
    )
    row_id = save_entry(session, reversal, user, now, record_id=entry.record_id, work_order=entry.work_order,
                        reverses=entry.id)
    _restore_accruals(session, entry, lines)
    if entry.record_id is not None:
        record = session.get(OpRecordRow, entry.record_id)
        if record is not None and record.kind in {"goods_receipt", "labor_booking", "overhead_actual",
                                                  "material_issue"}:
            record.reversed_by = row_id
        if record is not None and record.kind in {"goods_receipt", "material_issue"}:
            source = MoveSource(record.id, choice.period, choice.entry_date, user, entry_id=row_id,
                                memo=f"reversal of entry {entry.id}: {reason}")
            moves = reverse_moves(session, record.id, source, now)
            check_negative(session, [m.item for m in moves if m.qty < 0], f"reversal of entry {entry.id}",
                           {"entry": row_id, "record": record.id}, now)
    log.info("journal entry %s reversed by %s as %s: %s", entry.id, user, row_id, reason)
    return get_entry(session, row_id)


def _restore_accruals(session: Session, entry: JournalEntryRow, lines: list[JournalLineRow]) -> None:
    if entry.work_order is None:
        return
    order = load_order(session, entry.work_order)
    if order is None:
        return
    acc = OrderAccruals.from_data(order.accruals)
    changes: dict[str, Decimal] = {}
    for x in lines:
        signed = x.debit - x.credit
        if entry.kind == "finished_goods" and x.role == Role.WIP.value:
            changes[FINISHED_GOODS] = changes.get(FINISHED_GOODS, acc.amount(FINISHED_GOODS)) + signed
        elif entry.kind in ("backflush", "material_issue") and x.role == Role.WIP.value and x.item:
            key = element(BACKFLUSH if entry.kind == "backflush" else ISSUE, x.item)
            changes[key] = changes.get(key, acc.amount(key)) - signed
        elif entry.kind == "conversion_applied" and x.role in _CONVERSION_ROLES:
            key = element(CONVERSION, _CONVERSION_ROLES[x.role])
            changes[key] = changes.get(key, acc.amount(key)) + signed
    acc = acc.with_posted(changes)
    if entry.kind == "material_issue" and entry.record_id is not None:
        record = session.get(OpRecordRow, entry.record_id)
        if record is not None and record.item and record.qty is not None:
            acc = acc.with_issued(record.item, acc.issued.get(record.item, ZERO) - record.qty)
    order.accruals = acc.to_data()


class TrialBalanceLine(TypedDict):
    """One account's net balance in the debit or the credit column (money strings)."""

    account: str
    role: str | None
    debit: str
    credit: str
    balance: str


_TrialBalanceScope = TypedDict("_TrialBalanceScope", {
    "entity": Required[str | None], "period": Required[str | None], "from": str | None, "to": str | None,
}, total=False)


class TrialBalance(_TrialBalanceScope):
    """Net balances per account with totals, as of ``as_of``; ``from``/``to`` (ISO dates) only
    when a date range was asked for."""

    lines: list[TrialBalanceLine]
    total_debit: str
    total_credit: str
    balanced: bool
    as_of: str


def trial_balance(
    session: Session, entity: str | None = None, period: str | None = None, *, start: date | None = None,
    end: date | None = None, clock: Clock = utc_now, source: BalanceSource | None = None,
) -> TrialBalance:
    """Net balance per account and role (debit or credit column), with totals, of the lines of
    ``entity`` (None: every entity) and ``period`` (None: every period) dated from ``start`` to
    ``end`` inclusive (entry dates; None: open). Read from the ledger balance snapshots
    (``costing/snapshots.py``): a period or a date range reads that range's day rows, the balance
    as of ``end`` reads the running totals minus the days after ``end``. ``source`` =
    :class:`ScanBalances` sums every journal line instead (the reference)."""
    if start is not None and end is not None and end < start:
        raise InputError("'end' must not be before 'start'")
    sums = (source or SnapshotBalances(session)).account_sums(entity, period, start, end)
    out: list[TrialBalanceLine] = []
    total_d, total_c = ZERO, ZERO
    for account, role, debit, credit in sorted(sums, key=lambda r: (r[0], r[1])):
        net = debit - credit
        d, c = max(net, ZERO), max(-net, ZERO)
        total_d += d
        total_c += c
        out.append({"account": account, "role": role, "debit": _money(d), "credit": _money(c),
                    "balance": _money(net)})
    debits, credits, balanced, as_of = _money(total_d), _money(total_c), total_d == total_c, clock().isoformat()
    if start is None and end is None:
        return {"entity": entity, "period": period, "lines": out, "total_debit": debits, "total_credit": credits,
                "balanced": balanced, "as_of": as_of}
    return {"entity": entity, "period": period, "from": start.isoformat() if start else None,
            "to": end.isoformat() if end else None, "lines": out, "total_debit": debits, "total_credit": credits,
            "balanced": balanced, "as_of": as_of}
