"""SQLAlchemy repositories behind :mod:`central.service_layer.unit_of_work`'s interfaces.

Each takes the unit of work's session; the queries are the ones the work-order and input
services ran inline before. A work order is read with ``costing.orders.load_order`` (the one
copy of that query): ``FOR UPDATE`` on PostgreSQL; SQLite's write transactions already hold the
database lock (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.adapters.db.models_costing import (
    DispatchRow,
    EventPostingRow,
    EventPostingStatus,
    OpRecordRow,
    PeriodRow,
    WorkOrderRow,
)
from central.service_layer.costing.master_data import Snapshot, snapshot
from central.service_layer.costing.orders import load_order

__all__ = [
    "SqlWorkOrderRepository",
    "SqlDispatchRepository",
    "SqlEventPostingRepository",
    "SqlRecordRepository",
    "SqlPeriodRepository",
    "SqlMasterDataRepository",
]


class SqlWorkOrderRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, order_id: str, *, lock: bool = True) -> WorkOrderRow | None:
        return load_order(self._session, order_id, lock=lock)

    def add(self, order: WorkOrderRow) -> None:
        self._session.add(order)
        self._session.flush()


class SqlDispatchRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def running_on(self, machine: str, at: datetime) -> DispatchRow | None:
        return self._session.scalars(select(DispatchRow).where(
            DispatchRow.machine == machine, (DispatchRow.end.is_(None)) | (DispatchRow.end > at))).first()

    def open_for(self, order_id: str) -> DispatchRow | None:
        return self._session.scalars(select(DispatchRow).where(
            DispatchRow.work_order == order_id, DispatchRow.end.is_(None))).first()

    def add(self, dispatch: DispatchRow) -> None:
        self._session.add(dispatch)
        self._session.flush()


class SqlEventPostingRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, event_id: int) -> EventPostingRow | None:
        return self._session.get(EventPostingRow, event_id)

    def unassigned_since(self, machine: str, since: datetime) -> list[EventPostingRow]:
        return list(self._session.scalars(select(EventPostingRow).where(
            EventPostingRow.machine == machine, EventPostingRow.status == EventPostingStatus.UNASSIGNED,
            EventPostingRow.ts >= since).order_by(EventPostingRow.ts)))

    def posted_since(self, order_id: str, machine: str, since: datetime) -> list[EventPostingRow]:
        return list(self._session.scalars(select(EventPostingRow).where(
            EventPostingRow.work_order == order_id, EventPostingRow.machine == machine,
            EventPostingRow.status == EventPostingStatus.POSTED, EventPostingRow.ts >= since)))


class SqlRecordRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, record: OpRecordRow) -> None:
        self._session.add(record)
        self._session.flush()


class SqlPeriodRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, period_id: str) -> PeriodRow | None:
        return self._session.get(PeriodRow, period_id)


class SqlMasterDataRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def snapshot(self) -> Snapshot:
        return snapshot(self._session)
