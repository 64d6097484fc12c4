"""The unit of work: one transaction, the repositories that read and write in it, and the clock.

Handlers take ``(command, uow)`` and never see a ``Session``: inside ``with uow:`` they load
aggregates through the repositories, change them, and call ``uow.commit()`` once; leaving the
block without it rolls back. Time comes from ``uow.clock`` so a test can fix it.
:class:`central.adapters.unit_of_work.SqlAlchemyUnitOfWork` is the database implementation;
handler tests use small fakes of the same interface.

``session`` is a transitional seam: deeper costing calls (production posting, the journal
writer, stock moves) still take a SQLAlchemy session until they are converted; a fake unit of
work refuses it, so a handler test shows which paths still need the database.
"""

from __future__ import annotations

import abc
from contextlib import AbstractContextManager
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from sqlalchemy.orm import Session

from central.adapters.db.models_costing import DispatchRow, EventPostingRow, OpRecordRow, PeriodRow, WorkOrderRow
from central.service_layer.clock import Clock, utc_now
from central.service_layer.event_store import EventRepository
from central.service_layer.costing.master_data import Snapshot

__all__ = [
    "Clock",
    "utc_now",
    "AbstractUnitOfWork",
    "WorkOrderRepository",
    "DispatchRepository",
    "EventPostingRepository",
    "RecordRepository",
    "PeriodRepository",
    "MasterDataRepository",
]


class WorkOrderRepository(Protocol):
    """Work orders by id."""

    def get(self, order_id: str, *, lock: bool = True) -> WorkOrderRow | None:
        """The order, locked for the transaction where the dialect locks rows (``lock``)."""
        ...

    def add(self, order: WorkOrderRow) -> None:
        """Store a new order (flushed: a duplicate id fails here, not at commit)."""
        ...


class DispatchRepository(Protocol):
    """Which order runs on which machine from when to when."""

    def running_on(self, machine: str, at: datetime) -> DispatchRow | None:
        """A dispatch on ``machine`` still open, or ending after ``at``."""
        ...

    def open_for(self, order_id: str) -> DispatchRow | None:
        """The order's dispatch that has not ended."""
        ...

    def add(self, dispatch: DispatchRow) -> None:
        """Store a dispatch, flushed with the transaction's other changes: the postings that
        follow find the order by its dispatches."""
        ...


class EventPostingRepository(Protocol):
    """How each stored event posted (or why it waits)."""

    def get(self, event_id: int) -> EventPostingRow | None: ...

    def unassigned_since(self, machine: str, since: datetime) -> list[EventPostingRow]:
        """``machine``'s unassigned events at or after ``since``, oldest first."""
        ...

    def posted_since(self, order_id: str, machine: str, since: datetime) -> list[EventPostingRow]:
        """The order's events posted from ``machine`` at or after ``since``."""
        ...


class RecordRepository(Protocol):
    """Operational records (goods receipts, issues, bookings, overhead actuals)."""

    def add(self, record: OpRecordRow) -> None:
        """Store a record; its ``id`` is assigned on return."""
        ...


class PeriodRepository(Protocol):
    def get(self, period_id: str) -> PeriodRow | None: ...


class MasterDataRepository(Protocol):
    def snapshot(self) -> Snapshot:
        """The current master data as domain values."""
        ...


class AbstractUnitOfWork(abc.ABC):
    """One transaction: ``with uow: ...; uow.commit()``; leaving without a commit rolls back."""

    work_orders: WorkOrderRepository
    dispatches: DispatchRepository
    event_postings: EventPostingRepository
    records: RecordRepository
    periods: PeriodRepository
    master: MasterDataRepository
    #: stored events and stream cursors, in bulk (the ingest handler's)
    events: EventRepository
    clock: Clock

    def __enter__(self) -> Self:
        return self

    def savepoint(self) -> AbstractContextManager[object]:
        """A nested transaction: leaving it by an exception undoes only what was done inside."""
        return self.session.begin_nested()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.rollback()

    @abc.abstractmethod
    def commit(self) -> None: ...

    @abc.abstractmethod
    def rollback(self) -> None: ...

    @property
    @abc.abstractmethod
    def session(self) -> Session:
        """The transaction's session, for costing calls not yet converted to repositories."""
