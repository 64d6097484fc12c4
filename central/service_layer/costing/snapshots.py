"""Ledger balance snapshots (issue 16): reports whose cost follows the window, not the history.

Two tables, kept by the one journal writer (:func:`central.service_layer.costing.journal.save_entries`
calls :func:`record_entries`) in the transaction that inserts the lines:

- ``ledger_day_balances``: the lines of one day (entry date) summed per entity, period, account,
  role and tags (work order, item, work centre, reason). A trial balance or the variances over a
  period or a date range read only that range's rows.
- ``ledger_balances``: every line ever posted, summed at two levels: ``account`` (per entity,
  account and role: the cumulative trial balance, as many rows as accounts) and ``detail`` (WIP
  lines per work order, raw-materials and finished-goods lines per item: WIP per order and the
  ledger side of the inventory valuation). The balance as of a date is the account totals minus the
  day rows after that date (a read that follows the distance from today, not the history).

Journal rows are never updated or deleted: a late event, a re-attribution, a reversal or a period
close posts new lines, and those lines add snapshot rows in the same transaction, so the snapshots
are corrected by construction. A reopened period changes no line (only its status).

Both tables are insert-only on the posting path (a transaction adds its own rows per key, and
every read sums a key's rows): an in-place upsert made every posting transaction wait for any other
one touching the same account and day — all of them, on a plant with one WIP account — which
serialised central's processes on PostgreSQL and blocked behind any long transaction.
:func:`compact` (the ``snapshot-compactor`` job of ``serve``) folds a key's rows into one.

:class:`SnapshotBalances` reads the snapshots; :class:`ScanBalances` computes the same sums by a
full scan of the journal (the reference; ``verify`` compares the two tables with it row by row);
:func:`rebuild` fills both tables from the journal (the migration ``0014_report_snapshots`` does the
same for an existing database).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import delete, func, select, text, tuple_
from sqlalchemy.orm import Session

from central.adapters.db.dialect import insert_rows
from central.adapters.db.models_costing import (
    ItemStockRow,
    JournalEntryRow,
    JournalLineRow,
    LedgerBalanceRow,
    LedgerDayBalanceRow,
    StockMoveRow,
)
from central.domain.ledger import JournalEntry
from central.domain.money import ZERO
from central.domain.roles import VARIANCE_OF_ROLE, Role

__all__ = [
    "NONE", "DAY_KEY", "TOTAL_KEY", "record_entries", "compact", "Compacted", "rebuild", "verify", "BalanceSource",
    "SnapshotBalances", "ScanBalances", "AccountSum", "VarianceSum",
]

NONE = ""
"""A dimension a line does not have, in the snapshot's key columns (NULL would not match a key)."""
STOCK_ROLES = (Role.RAW_MATERIALS.value, Role.FINISHED_GOODS.value)
DAY_KEY = ("day", "period", "entity", "role", "account", "work_order", "item", "work_center", "reason")
TOTAL_KEY = ("level", "role", "entity", "account", "work_order", "item")
_VARIANCE_ROLES = tuple(r.value for r in VARIANCE_OF_ROLE)

AccountSum = tuple[str, str, Decimal, Decimal]
"""(account, role, debit, credit)."""
VarianceSum = tuple[str, str | None, str | None, str | None, str | None, Decimal, Decimal]
"""(role, item, work centre, work order, reason, debit, credit)."""


def _total_keys(entity: str, role: str, account: str, work_order: str | None,
                item: str | None) -> list[tuple[str, ...]]:
    """The ``ledger_balances`` keys a line adds to: its account's, and for a WIP line its order's,
    for a stock line its item's."""
    keys: list[tuple[str, ...]] = [("account", role, entity, account, NONE, NONE)]
    if role == Role.WIP.value:
        keys.append(("detail", role, entity, account, work_order or NONE, NONE))
    elif role in STOCK_ROLES:
        keys.append(("detail", role, entity, account, NONE, item or NONE))
    return keys


def record_entries(session: Session, entries: Sequence[JournalEntry]) -> None:
    """Add the lines of ``entries`` (just inserted by the journal writer) to both snapshot tables:
    one insert per table of this transaction's sums per key. Insert-only, never an update of a
    shared row: two posting transactions (two central processes on PostgreSQL, or a long one beside
    a short one) never wait on each other here; every read sums a key's rows, :func:`compact` folds them."""
    days: dict[tuple[Any, ...], list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    totals: dict[tuple[str, ...], list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for e in entries:
        entity = e.entity or NONE
        for line in e.lines:
            role, account, tags = line.role.value, line.account or NONE, line.tags
            day = days[(e.entry_date, e.period, entity, role, account, tags.work_order or NONE, tags.item or NONE,
                        tags.work_center or NONE, tags.reason or NONE)]
            for acc in (day, *(totals[k] for k in _total_keys(entity, role, account, tags.work_order, tags.item))):
                acc[0] += line.debit
                acc[1] += line.credit
    _insert(session, LedgerDayBalanceRow, DAY_KEY, days)
    _insert(session, LedgerBalanceRow, TOTAL_KEY, totals)


def _insert(session: Session, model: Any, key: tuple[str, ...],
            sums: dict[tuple[Any, ...], list[Decimal]]) -> None:
    insert_rows(session, model.__table__, [{**dict(zip(key, k, strict=True)), "debit": d, "credit": c}
                                           for k, (d, c) in sums.items()])


@dataclass(frozen=True)
class Compacted:
    """What one :func:`compact` run did: rows folded away, and the highest row id it saw in each
    table (``ledger_day_balances``, ``ledger_balances``: the next run's ``since``)."""

    removed: int
    high_water: tuple[int, int]
    complete: bool
    """Every candidate key was looked at (none left over by ``max_keys``)."""


def compact(session: Session, *, since: tuple[int, int] | None = None, max_keys: int = 5_000) -> Compacted:
    """Fold each key's snapshot rows into one row holding their sum (in ``session``'s transaction).

    ``since``: per table (day rows, totals), only keys that gained a row with an id above it (None:
    every key) — what a periodic run looks at follows what was posted since the last run, not the
    history. A row another compactor holds is skipped (``FOR UPDATE SKIP LOCKED`` on PostgreSQL;
    SQLite has one writer), so two central processes compacting at once never fold a row twice; a
    row skipped here, or committed late under a lower id, is folded by a later run without
    ``since``. At most ``max_keys`` keys per table per call (the transaction stays short); the
    caller loops."""
    removed, complete = 0, True
    highs: list[int] = []
    tables: tuple[tuple[Any, tuple[str, ...]], ...] = ((LedgerDayBalanceRow, DAY_KEY), (LedgerBalanceRow, TOTAL_KEY))
    for n, (model, key) in enumerate(tables):
        top = int(session.scalar(select(func.max(model.id))) or 0)
        highs.append(max(top, since[n] if since is not None else 0))
        cols = [getattr(model, c) for c in key]
        keys = select(*cols).group_by(*cols).having(func.count() > 1)
        if since is not None:
            keys = keys.where(tuple_(*cols).in_(select(*cols).where(model.id > since[n]).distinct()))
        wanted = [tuple(r) for r in session.execute(keys.limit(max_keys))]
        complete = complete and len(wanted) < max_keys
        if not wanted:
            continue
        rows = session.execute(select(model.id, *cols, model.debit, model.credit).where(
            tuple_(*cols).in_(wanted)).with_for_update(skip_locked=True)).all()
        groups: dict[tuple[Any, ...], list[Any]] = defaultdict(list)
        for row in rows:
            groups[tuple(row)[1:-2]].append(row)
        ids: list[int] = []
        folded: list[dict[str, Any]] = []
        for k, members in groups.items():
            if len(members) < 2:
                continue
            ids += [int(m[0]) for m in members]
            folded.append({**dict(zip(key, k, strict=True)), "debit": sum((_dec(m[-2]) for m in members), ZERO),
                           "credit": sum((_dec(m[-1]) for m in members), ZERO)})
        if folded:
            # the sums first: they take ids above every existing row, so SQLite (which reuses the
            # highest rowid once it is deleted) never gives a later posting an id below ``since``
            insert_rows(session, model.__table__, folded)
            session.execute(delete(model).where(model.id.in_(ids)))
            removed += len(ids) - len(folded)
    return Compacted(removed, (highs[0], highs[1]), complete)


# -- rebuilding from the journal (migration backfill, bench, repair) ---------------------------------

def _coalesce(column: str) -> str:
    return f"COALESCE(ln.{column}, '')"


REBUILD_SQL = (
    "INSERT INTO ledger_day_balances (day, period, entity, role, account, work_order, item, work_center, reason, "
    "debit, credit) SELECT e.entry_date, e.period, COALESCE(e.entity, ''), ln.role, ln.account, "
    f"{_coalesce('work_order')}, {_coalesce('item')}, {_coalesce('work_center')}, {_coalesce('reason')}, "
    "SUM(ln.debit), SUM(ln.credit) FROM journal_lines ln JOIN journal_entries e ON e.id = ln.entry_id "
    "GROUP BY e.entry_date, e.period, COALESCE(e.entity, ''), ln.role, ln.account, "
    f"{_coalesce('work_order')}, {_coalesce('item')}, {_coalesce('work_center')}, {_coalesce('reason')}",
    "INSERT INTO ledger_balances (level, entity, role, account, work_order, item, debit, credit) "
    "SELECT 'account', entity, role, account, '', '', SUM(debit), SUM(credit) "
    "FROM ledger_day_balances GROUP BY entity, role, account",
    "INSERT INTO ledger_balances (level, entity, role, account, work_order, item, debit, credit) "
    "SELECT 'detail', entity, role, account, CASE WHEN role = 'wip' THEN work_order ELSE '' END, "
    "CASE WHEN role = 'wip' THEN '' ELSE item END, SUM(debit), SUM(credit) FROM ledger_day_balances "
    "WHERE role = 'wip' OR role IN ('raw_materials', 'finished_goods') GROUP BY entity, role, account, "
    "CASE WHEN role = 'wip' THEN work_order ELSE '' END, CASE WHEN role = 'wip' THEN '' ELSE item END",
)
"""Both tables from the journal in two statements (integer cents summed in SQL); migration
``0014_report_snapshots`` runs its own copy of them on an existing database."""


def rebuild(session: Session) -> None:
    """Empty both snapshot tables and fill them from every journal line (in ``session``'s transaction)."""
    session.execute(delete(LedgerBalanceRow))
    session.execute(delete(LedgerDayBalanceRow))
    for sql in REBUILD_SQL:
        session.execute(text(sql))


def verify(session: Session) -> list[str]:
    """Differences between the snapshot tables and a full scan of the journal (empty: they agree)."""
    out: list[str] = []
    day_cols = [getattr(LedgerDayBalanceRow, c) for c in DAY_KEY]
    stored_days = _keyed(session.execute(select(*day_cols, func.sum(LedgerDayBalanceRow.debit),
                                                func.sum(LedgerDayBalanceRow.credit)).group_by(*day_cols)))
    ln, e = JournalLineRow, JournalEntryRow
    scan_day_key = (e.entry_date, e.period, func.coalesce(e.entity, NONE), ln.role, ln.account,
                    func.coalesce(ln.work_order, NONE), func.coalesce(ln.item, NONE),
                    func.coalesce(ln.work_center, NONE), func.coalesce(ln.reason, NONE))
    scanned_days = _keyed(session.execute(select(*scan_day_key, func.sum(ln.debit), func.sum(ln.credit)).join(
        e, e.id == ln.entry_id).group_by(*scan_day_key)))
    out += _diff("ledger_day_balances", stored_days, scanned_days)
    totals: dict[tuple[Any, ...], tuple[Decimal, Decimal]] = {}
    for key, (d, c) in scanned_days.items():
        _day, _period, entity, role, account, wo, item, _wc, _reason = key
        for k in _total_keys(entity, role, account, wo, item):
            prev = totals.get(k, (ZERO, ZERO))
            totals[k] = (prev[0] + d, prev[1] + c)
    total_cols = [getattr(LedgerBalanceRow, c) for c in TOTAL_KEY]
    stored_totals = _keyed(session.execute(select(*total_cols, func.sum(LedgerBalanceRow.debit),
                                                  func.sum(LedgerBalanceRow.credit)).group_by(*total_cols)))
    out += _diff("ledger_balances", stored_totals, totals)
    return out


def _keyed(rows: Iterable[Any]) -> dict[tuple[Any, ...], tuple[Decimal, Decimal]]:
    """(key..., debit, credit) rows as key -> (debit, credit); dates as ISO text (SQLite and PostgreSQL alike)."""
    out = {}
    for row in rows:
        values = [v.isoformat() if isinstance(v, date) else v for v in tuple(row)]
        out[tuple(values[:-2])] = (_dec(values[-2]), _dec(values[-1]))
    return out


def _diff(name: str, stored: dict[tuple[Any, ...], tuple[Decimal, Decimal]],
          scanned: dict[tuple[Any, ...], tuple[Decimal, Decimal]]) -> list[str]:
    out = []
    for key in sorted(set(stored) | set(scanned), key=repr):
        a = stored.get(key, (ZERO, ZERO))
        b = scanned.get(key, (ZERO, ZERO))
        if a != b:
            out.append(f"{name} {key}: snapshot {a[0]}/{a[1]}, journal {b[0]}/{b[1]}")
    return out


# -- reading ------------------------------------------------------------------------------------------

class BalanceSource(Protocol):
    """The sums the ledger reports need; from the snapshots, or (the reference) from every line."""

    def account_sums(self, entity: str | None, period: str | None, start: date | None,
                     end: date | None) -> list[AccountSum]:
        """Debit and credit per (account, role) of the lines of ``entity`` (None: all), ``period``
        (None: all) dated in [``start``, ``end``] (None: open)."""
        ...

    def role_balances(self, role: Role, keys: Collection[str] | None = None) -> dict[str | None, Decimal]:
        """Net balance (debit - credit) of ``role``'s lines per work order (WIP) or per item (raw
        materials, finished goods); lines without one under None. ``keys``: only those orders or
        items (None: every one)."""
        ...

    def variance_sums(self, period: str | None, work_order: str | None,
                      work_center: str | None) -> list[VarianceSum]:
        """Debit and credit of the variance roles' lines per role, item, work centre, order and reason."""
        ...

    def on_hand(self) -> dict[str, Decimal]:
        """Quantity on hand of every item that ever moved."""
        ...


def _opt(value: Any) -> str | None:
    return None if value is None or value == NONE else str(value)


def _dec(value: Any) -> Decimal:
    return ZERO if value is None else Decimal(value)


def _grouped(rows: Iterable[Any]) -> dict[tuple[str, str], list[Decimal]]:
    out: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for account, role, d, c in rows:
        acc = out[(str(account), str(role))]
        acc[0] += _dec(d)
        acc[1] += _dec(c)
    return out


class SnapshotBalances:
    """:class:`BalanceSource` from ``ledger_day_balances`` and ``ledger_balances``."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def account_sums(self, entity: str | None, period: str | None, start: date | None,
                     end: date | None) -> list[AccountSum]:
        if period is None and start is None:
            return self._as_of(entity, end)
        t = LedgerDayBalanceRow
        stmt = select(t.account, t.role, func.sum(t.debit), func.sum(t.credit))
        if entity:
            stmt = stmt.where(t.entity == entity)
        if period:
            stmt = stmt.where(t.period == period)
        if start is not None:
            stmt = stmt.where(t.day >= start)
        if end is not None:
            stmt = stmt.where(t.day <= end)
        rows = self.session.execute(stmt.group_by(t.account, t.role)).tuples()
        return [(str(a), str(r), _dec(d), _dec(c)) for a, r, d, c in rows]

    def _as_of(self, entity: str | None, end: date | None) -> list[AccountSum]:
        """Every line up to ``end``: the running totals minus the days after ``end``."""
        t = LedgerBalanceRow
        stmt = select(t.account, t.role, func.sum(t.debit), func.sum(t.credit)).where(t.level == "account")
        if entity:
            stmt = stmt.where(t.entity == entity)
        sums = _grouped(self.session.execute(stmt.group_by(t.account, t.role)).tuples())
        if end is not None:
            d = LedgerDayBalanceRow
            after = select(d.account, d.role, func.sum(d.debit), func.sum(d.credit)).where(d.day > end)
            if entity:
                after = after.where(d.entity == entity)
            for key, (debit, credit) in _grouped(self.session.execute(after.group_by(d.account, d.role))).items():
                acc = sums[key]
                acc[0] -= debit
                acc[1] -= credit
        return [(a, r, d, c) for (a, r), (d, c) in sums.items() if d or c]

    def role_balances(self, role: Role, keys: Collection[str] | None = None) -> dict[str | None, Decimal]:
        t = LedgerBalanceRow
        key = t.work_order if role == Role.WIP else t.item
        stmt = select(key, func.sum(t.debit), func.sum(t.credit)).where(t.level == "detail", t.role == role.value)
        if keys is not None:
            # the role's (entity, account) pairs from the account level (a few rows), so the read
            # seeks each key on ix_ledger_balances_key instead of scanning every row of the role
            pairs = self.session.execute(select(t.entity, t.account).where(
                t.level == "account", t.role == role.value).distinct()).tuples().all()
            stmt = stmt.where(t.entity.in_(sorted({e for e, _a in pairs})),
                              t.account.in_(sorted({a for _e, a in pairs})), key.in_(sorted(keys)))
        stmt = stmt.group_by(key)
        return {_opt(k): _dec(d) - _dec(c) for k, d, c in self.session.execute(stmt)}

    def variance_sums(self, period: str | None, work_order: str | None,
                      work_center: str | None) -> list[VarianceSum]:
        t = LedgerDayBalanceRow
        dims = (t.role, t.item, t.work_center, t.work_order, t.reason)
        stmt = select(*dims, func.sum(t.debit), func.sum(t.credit)).where(t.role.in_(_VARIANCE_ROLES))
        if period:
            stmt = stmt.where(t.period == period)
        if work_order:
            stmt = stmt.where(t.work_order == work_order)
        if work_center:
            stmt = stmt.where(t.work_center == work_center)
        return [(str(r), _opt(i), _opt(wc), _opt(wo), _opt(why), _dec(d), _dec(c))
                for r, i, wc, wo, why, d, c in self.session.execute(stmt.group_by(*dims))]

    def on_hand(self) -> dict[str, Decimal]:
        """The running quantities of ``item_stock`` (kept with every stock move)."""
        return {str(item): _dec(qty) for item, qty in self.session.execute(
            select(ItemStockRow.item, ItemStockRow.qty))}


class ScanBalances:
    """:class:`BalanceSource` by a full scan of ``journal_lines`` and ``stock_moves``: the reference
    the snapshots are checked against (and what every report read before the snapshots)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def account_sums(self, entity: str | None, period: str | None, start: date | None,
                     end: date | None) -> list[AccountSum]:
        ln, e = JournalLineRow, JournalEntryRow
        stmt = select(ln.account, ln.role, func.sum(ln.debit), func.sum(ln.credit)).join(e, e.id == ln.entry_id)
        if entity:
            stmt = stmt.where(e.entity == entity)
        if period:
            stmt = stmt.where(e.period == period)
        if start is not None:
            stmt = stmt.where(e.entry_date >= start)
        if end is not None:
            stmt = stmt.where(e.entry_date <= end)
        rows = self.session.execute(stmt.group_by(ln.account, ln.role)).tuples()
        return [(str(a), str(r), _dec(d), _dec(c)) for a, r, d, c in rows]

    def role_balances(self, role: Role, keys: Collection[str] | None = None) -> dict[str | None, Decimal]:
        ln = JournalLineRow
        key = ln.work_order if role == Role.WIP else ln.item
        stmt = select(key, func.sum(ln.debit), func.sum(ln.credit)).where(ln.role == role.value)
        if keys is not None:
            stmt = stmt.where(key.in_(sorted(keys)))
        stmt = stmt.group_by(key)
        out: dict[str | None, Decimal] = defaultdict(lambda: ZERO)
        for k, d, c in self.session.execute(stmt):
            out[_opt(k)] += _dec(d) - _dec(c)
        return dict(out)

    def variance_sums(self, period: str | None, work_order: str | None,
                      work_center: str | None) -> list[VarianceSum]:
        ln, e = JournalLineRow, JournalEntryRow
        dims = (ln.role, ln.item, ln.work_center, ln.work_order, ln.reason)
        stmt = select(*dims, func.sum(ln.debit), func.sum(ln.credit)).join(e, e.id == ln.entry_id).where(
            ln.role.in_(_VARIANCE_ROLES))
        if period:
            stmt = stmt.where(e.period == period)
        if work_order:
            stmt = stmt.where(ln.work_order == work_order)
        if work_center:
            stmt = stmt.where(ln.work_center == work_center)
        return [(str(r), _opt(i), _opt(wc), _opt(wo), _opt(why), _dec(d), _dec(c))
                for r, i, wc, wo, why, d, c in self.session.execute(stmt.group_by(*dims))]

    def on_hand(self) -> dict[str, Decimal]:
        stmt = select(StockMoveRow.item, func.sum(StockMoveRow.qty)).group_by(StockMoveRow.item)
        return {str(item): _dec(total) for item, total in self.session.execute(stmt)}
