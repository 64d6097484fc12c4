"""Tables of costing: master data, periods, work orders and dispatches, operational records,
the attribution of machine events to orders, and the journal.

Money is stored as integer cents and quantities/prices as integer millionths
(:class:`Cents`, :class:`Micros`), so sums in SQL are exact on SQLite and PostgreSQL alike and
no value ever passes through a binary float.

Lineage: ``journal_lines`` -> ``journal_entries.record_id`` -> ``op_records`` ->
``record_events`` -> ``events`` (the ingest's event store, which keeps the raw PLC value).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Context, Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from central.adapters.db.base import Base, BigId, UtcDateTime
from central.domain.bounds import INT64_MAX, INT64_MIN
from central.domain.errors import RangeError

__all__ = [
    "Cents",
    "Micros",
    "MasterRecordRow",
    "MasterVersionRow",
    "PeriodRow",
    "WorkOrderRow",
    "DispatchRow",
    "EventPostingRow",
    "OpRecordRow",
    "RecordEventRow",
    "JournalEntryRow",
    "JournalLineRow",
    "ItemStockRow",
    "StockMoveRow",
    "LedgerDayBalanceRow",
    "LedgerBalanceRow",
    "QualityExceptionRow",
    "MaintenanceRequestRow",
]

ID = String(64)
_CENT = Decimal("0.01")
_MICRO = Decimal("0.000001")
_EXACT = Context(prec=40)
"""Wide enough for every int64 number of millionths: nothing is rounded."""


def _int64(scaled: Decimal, what: str) -> int:
    """The stored integer, or :class:`RangeError` (a 422 at the API) when the column cannot hold it."""
    if not INT64_MIN <= scaled <= INT64_MAX:
        raise RangeError(f"{what} is too large to store")
    return int(scaled)


class Cents(TypeDecorator[Decimal]):
    """A Decimal amount with at most 2 places, stored as an integer number of cents."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> int | None:
        if value is None:
            return None
        scaled = Decimal(value).scaleb(2, _EXACT)
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{value} has more than two decimal places")
        return _int64(scaled, "an amount")

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else (Decimal(int(value)) * _CENT).quantize(_CENT)


class Micros(TypeDecorator[Decimal]):
    """A Decimal quantity or price with at most 6 places, stored as integer millionths."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> int | None:
        if value is None:
            return None
        scaled = Decimal(value).scaleb(6, _EXACT)
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{value} has more than six decimal places")
        return _int64(scaled, "a quantity or price")

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else _plain(Decimal(int(value)).scaleb(-6))


def _plain(value: Decimal) -> Decimal:
    """``value`` without trailing zeros and never with a positive exponent, so ``str()`` of it is
    plain notation (``1000``, ``2.5``), not ``1E+3`` as ``Decimal.normalize`` alone gives."""
    if value == 0:
        return Decimal(0)
    reduced = value.normalize(_EXACT)
    exponent = reduced.as_tuple().exponent
    assert isinstance(exponent, int)
    return reduced.quantize(Decimal(1), context=_EXACT) if exponent > 0 else reduced


class MasterRecordRow(Base):
    """One master-data record (``section`` such as ``items``, ``key`` its id) as loaded."""

    __tablename__ = "master_records"

    section: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer)
    updated: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_by: Mapped[str] = mapped_column(String(64))


class MasterVersionRow(Base):
    """One change of master data (a load or an API write); the highest id is the version."""

    __tablename__ = "master_versions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    created: Mapped[datetime] = mapped_column(UtcDateTime)
    user: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(200))
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)


class PeriodRow(Base):
    __tablename__ = "periods"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    entity: Mapped[str | None] = mapped_column(ID, nullable=True)
    start: Mapped[date] = mapped_column(Date)
    end: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(8), default="open")
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    closed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class WorkOrderRow(Base):
    """A work order; ``accruals`` is :meth:`OrderAccruals.to_data` (cumulative posted cents)."""

    __tablename__ = "work_orders"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    item: Mapped[str] = mapped_column(ID)
    qty: Mapped[Decimal] = mapped_column(Micros)
    due: Mapped[date | None] = mapped_column(Date, nullable=True)
    status: Mapped[str] = mapped_column(String(12), index=True)
    machine: Mapped[str | None] = mapped_column(ID, nullable=True)
    created: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    released_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    stopped_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    closed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    accruals: Mapped[dict[str, Any]] = mapped_column(JSON)


class DispatchRow(Base):
    """Order ``work_order`` ran on ``machine`` from ``start`` to ``end`` (NULL: still running)."""

    __tablename__ = "dispatches"
    __table_args__ = (
        Index("ix_dispatches_machine_start", "machine", "start"),
        # a report window's dispatches (those ending after its start): a seek, not every dispatch of the history
        Index("ix_dispatches_machine_end", "machine", "end"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    work_order: Mapped[str] = mapped_column(ForeignKey("work_orders.id"), index=True)
    machine: Mapped[str] = mapped_column(ID)
    start: Mapped[datetime] = mapped_column(UtcDateTime)
    end: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_by: Mapped[str] = mapped_column(String(64))


class EventPostingStatus:
    POSTED = "posted"
    UNASSIGNED = "unassigned"
    SUSPECT = "suspect"
    REJECTED = "rejected"
    OPERATIONAL = "operational"  # state events: no journal, feed time accounting


class EventPostingRow(Base):
    """What costing made of one accepted event: the order it attaches to, or a queue."""

    __tablename__ = "event_postings"
    __table_args__ = (
        Index("ix_event_postings_machine_ts", "machine", "ts"),
        # the threshold checks' reads (a machine's recent state events; its recent units), by kind
        Index("ix_event_postings_machine_kind_ts", "machine", "kind", "ts"),
        Index("ix_event_postings_status", "status"),
        Index("ix_event_postings_work_order", "work_order"),
        Index("ix_event_postings_record_id", "record_id"),  # lineage: record -> events
    )

    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), primary_key=True)
    machine: Mapped[str] = mapped_column(ID)
    kind: Mapped[str] = mapped_column(String(8))
    ts: Mapped[datetime] = mapped_column(UtcDateTime)
    qty: Mapped[int] = mapped_column(BigInteger, default=0)
    state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    work_order: Mapped[str | None] = mapped_column(ID, nullable=True)
    status: Mapped[str] = mapped_column(String(12))
    record_id: Mapped[int | None] = mapped_column(ForeignKey("op_records.id"), nullable=True)
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: why a ``suspect`` posting is held: ``edge_suspect`` (flagged by the edge) or ``qty_over_limit``
    hold_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)


class OpRecordRow(Base):
    """An operational record: production confirmation, receipt, issue, booking, close..."""

    __tablename__ = "op_records"
    __table_args__ = (Index("ix_op_records_kind_period", "kind", "period"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    subkind: Mapped[str | None] = mapped_column(String(32), nullable=True)
    work_order: Mapped[str | None] = mapped_column(ID, nullable=True, index=True)
    machine: Mapped[str | None] = mapped_column(ID, nullable=True)
    item: Mapped[str | None] = mapped_column(ID, nullable=True)
    work_center: Mapped[str | None] = mapped_column(ID, nullable=True)
    period: Mapped[str | None] = mapped_column(ID, nullable=True)
    posting_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    qty: Mapped[Decimal | None] = mapped_column(Micros, nullable=True)
    price: Mapped[Decimal | None] = mapped_column(Micros, nullable=True)
    amount: Mapped[Decimal | None] = mapped_column(Cents, nullable=True)
    ref: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created: Mapped[datetime] = mapped_column(UtcDateTime)
    user: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reversed_by: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class RecordEventRow(Base):
    """Which events an operational record was made from (lineage to the raw PLC value)."""

    __tablename__ = "record_events"

    record_id: Mapped[int] = mapped_column(ForeignKey("op_records.id"), primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), primary_key=True, index=True)


class JournalEntryRow(Base):
    """A posted entry; never updated or deleted (database triggers, migration ``0007_ledger_seal``).
    A reversal is a new entry whose ``reverses`` names the original (unique: reversed at most once)."""

    __tablename__ = "journal_entries"
    __table_args__ = (
        Index("ix_journal_entries_entity_period", "entity", "period"),
        Index("ix_journal_entries_reverses", "reverses", unique=True),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entity: Mapped[str | None] = mapped_column(ID, nullable=True)
    period: Mapped[str] = mapped_column(ID)
    entry_date: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(48))
    memo: Mapped[str] = mapped_column(Text, default="")
    rule_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    original_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    reverses: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id"), nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    record_id: Mapped[int | None] = mapped_column(ForeignKey("op_records.id"), nullable=True, index=True)
    work_order: Mapped[str | None] = mapped_column(ID, nullable=True, index=True)
    created: Mapped[datetime] = mapped_column(UtcDateTime)
    user: Mapped[str] = mapped_column(String(64))


class JournalLineRow(Base):
    """A line of a posted entry; never updated or deleted (like its entry)."""

    __tablename__ = "journal_lines"
    __table_args__ = (
        Index("ix_journal_lines_account", "account"),
        Index("ix_journal_lines_role_work_order", "role", "work_order"),
        Index("ix_journal_lines_work_order", "work_order"),  # an order's entries (console drill-down)
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"), index=True)
    line_no: Mapped[int] = mapped_column(Integer)
    account: Mapped[str] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(40))
    debit: Mapped[Decimal] = mapped_column(Cents)
    credit: Mapped[Decimal] = mapped_column(Cents)
    work_order: Mapped[str | None] = mapped_column(ID, nullable=True)
    item: Mapped[str | None] = mapped_column(ID, nullable=True)
    work_center: Mapped[str | None] = mapped_column(ID, nullable=True)
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    memo: Mapped[str] = mapped_column(Text, default="")


class LedgerDayBalanceRow(Base):
    """Snapshot: the journal lines of one day (``day`` = the entry date) summed per entity, period,
    account, role and tags; kept by the one journal writer in the transaction of the lines
    (``costing/snapshots.py``), so a report over a period or a date window reads these rows, not
    the history's lines. A dimension the line does not have is ``''`` here (a key column), never NULL.
    Insert-only, like the journal: each posting transaction adds its own rows (its lines' sums per
    key), so concurrent writers never wait on one another's snapshot rows; a key may therefore have
    several rows, and every read sums them. The compactor (``snapshots.compact``, run periodically by
    ``serve``) folds a key's rows into one."""

    __tablename__ = "ledger_day_balances"
    __table_args__ = (
        Index("ix_ledger_day_balances_key", "day", "period", "entity", "role", "account", "work_order", "item",
              "work_center", "reason"),
        Index("ix_ledger_day_balances_period", "period"),
        Index("ix_ledger_day_balances_work_order", "work_order"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    day: Mapped[date] = mapped_column(Date)
    period: Mapped[str] = mapped_column(ID)
    entity: Mapped[str] = mapped_column(ID)
    role: Mapped[str] = mapped_column(String(40))
    account: Mapped[str] = mapped_column(String(32))
    work_order: Mapped[str] = mapped_column(ID)
    item: Mapped[str] = mapped_column(ID)
    work_center: Mapped[str] = mapped_column(ID)
    reason: Mapped[str] = mapped_column(String(64))
    debit: Mapped[Decimal] = mapped_column(Cents)
    credit: Mapped[Decimal] = mapped_column(Cents)


class LedgerBalanceRow(Base):
    """Snapshot: every journal line ever posted, summed. ``level`` ``account``: per entity, account
    and role (the cumulative trial balance; as many rows as accounts, whatever the history);
    ``detail``: WIP lines per work order, raw materials and finished goods lines per item (WIP per
    order, the ledger side of the inventory valuation); ``''`` for the dimension a level does not
    keep. Kept with :class:`LedgerDayBalanceRow` by the same writer, insert-only like it (a key's
    rows are summed by every read and folded into one by the compactor)."""

    __tablename__ = "ledger_balances"
    __table_args__ = (
        Index("ix_ledger_balances_key", "level", "role", "entity", "account", "work_order", "item"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    level: Mapped[str] = mapped_column(String(8))
    entity: Mapped[str] = mapped_column(ID)
    role: Mapped[str] = mapped_column(String(40))
    account: Mapped[str] = mapped_column(String(32))
    work_order: Mapped[str] = mapped_column(ID)
    item: Mapped[str] = mapped_column(ID)
    debit: Mapped[Decimal] = mapped_column(Cents)
    credit: Mapped[Decimal] = mapped_column(Cents)


class ItemStockRow(Base):
    """Running value on hand per item at standard (raw materials and finished goods lines), kept
    with every entry, and running quantity on hand (the sum of the item's ``stock_moves``), kept
    with every move, so a negative-stock check is one key lookup, not a scan."""

    __tablename__ = "item_stock"

    item: Mapped[str] = mapped_column(ID, primary_key=True)
    value: Mapped[Decimal] = mapped_column(Cents)
    qty: Mapped[Decimal] = mapped_column(Micros, default=Decimal(0), server_default="0")


class StockMoveRow(Base):
    """One quantity movement of an item (positive in, negative out), written in the transaction of
    the posting that moved it: goods receipt, material issue or return, backflush, finished goods
    from good counts, and their reversals (``reverses``: the move taken back).

    Lineage: ``record_id`` is the operational record (through it the events, or the API request
    and user); ``entry_id`` the journal entry posted with it (None when its amount rounded to 0.00).
    Production moves follow the cumulative rule per order, item and kind, so batching and
    re-attribution never change the totals."""

    __tablename__ = "stock_moves"
    __table_args__ = (
        Index("ix_stock_moves_item", "item"),
        Index("ix_stock_moves_work_order_item", "work_order", "item"),
        Index("ix_stock_moves_record_id", "record_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    item: Mapped[str] = mapped_column(ID)
    qty: Mapped[Decimal] = mapped_column(Micros)
    work_order: Mapped[str | None] = mapped_column(ID, nullable=True)
    machine: Mapped[str | None] = mapped_column(ID, nullable=True)
    record_id: Mapped[int | None] = mapped_column(ForeignKey("op_records.id"), nullable=True)
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id"), nullable=True)
    reverses: Mapped[int | None] = mapped_column(ForeignKey("stock_moves.id"), nullable=True)
    period: Mapped[str] = mapped_column(ID)
    posting_date: Mapped[date] = mapped_column(Date)
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime] = mapped_column(UtcDateTime)
    user: Mapped[str] = mapped_column(String(64))
    memo: Mapped[str] = mapped_column(Text, default="")


class QualityExceptionRow(Base):
    """A machine's scrap rate over its rolling window of units reached its threshold (open) and,
    later, fell below the clear rate (cleared). Rates are stored to 6 places."""

    __tablename__ = "quality_exceptions"
    __table_args__ = (Index("ix_quality_exceptions_machine_status", "machine", "status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    machine: Mapped[str] = mapped_column(ID)
    work_center: Mapped[str | None] = mapped_column(ID, nullable=True)
    work_order: Mapped[str | None] = mapped_column(ID, nullable=True)
    status: Mapped[str] = mapped_column(String(8))  # open | cleared
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    opened_event: Mapped[int] = mapped_column(ForeignKey("events.id"))
    rate: Mapped[Decimal] = mapped_column(Micros)
    peak_rate: Mapped[Decimal] = mapped_column(Micros)
    scrap_qty: Mapped[int] = mapped_column(BigInteger)
    window_units: Mapped[int] = mapped_column(BigInteger)
    threshold: Mapped[Decimal] = mapped_column(Micros)
    clear_rate: Mapped[Decimal] = mapped_column(Micros)
    reasons: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    cleared_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    cleared_event: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    cleared_rate: Mapped[Decimal | None] = mapped_column(Micros, nullable=True)
    created: Mapped[datetime] = mapped_column(UtcDateTime)


class MaintenanceRequestRow(Base):
    """An unplanned stop of a maintenance category that lasted longer than its threshold; one per
    stop (``start_event`` is the state event that began it)."""

    __tablename__ = "maintenance_requests"
    __table_args__ = (UniqueConstraint("machine", "start_event", name="uq_maintenance_requests_machine_start_event"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    machine: Mapped[str] = mapped_column(ID)
    work_center: Mapped[str | None] = mapped_column(ID, nullable=True)
    work_order: Mapped[str | None] = mapped_column(ID, nullable=True)
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    category: Mapped[str] = mapped_column(String(16))
    stop_start: Mapped[datetime] = mapped_column(UtcDateTime)
    stop_end: Mapped[datetime] = mapped_column(UtcDateTime)
    minutes: Mapped[Decimal] = mapped_column(Micros)
    threshold_minutes: Mapped[Decimal] = mapped_column(Micros)
    start_event: Mapped[int] = mapped_column(ForeignKey("events.id"))
    end_event: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(8))  # open
    created: Mapped[datetime] = mapped_column(UtcDateTime)
