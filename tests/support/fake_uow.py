"""A unit of work without a database, for handler tests.

Small ``Fake*`` repositories implement the interfaces of
:mod:`central.service_layer.unit_of_work` over lists and dicts; the clock is fixed; ``commits``
counts ``commit()`` calls. ``session`` refuses: a handler path that still reaches into costing
through a SQLAlchemy session cannot pass silently on a fake.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from central.adapters.db.models_costing import DispatchRow, EventPostingRow, OpRecordRow, PeriodRow, WorkOrderRow
from central.domain.master_data import MasterData
from central.domain.posting_rules import DEFAULT_RULES
from central.service_layer.costing.master_data import Snapshot
from central.service_layer.unit_of_work import AbstractUnitOfWork

NOW = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
"""The fake unit of work's fixed clock."""


class FakeWorkOrders:
    def __init__(self, *orders: WorkOrderRow) -> None:
        self.rows = {o.id: o for o in orders}

    def get(self, order_id: str, *, lock: bool = True) -> WorkOrderRow | None:
        return self.rows.get(order_id)

    def add(self, order: WorkOrderRow) -> None:
        assert order.id not in self.rows, f"duplicate work order {order.id}"
        self.rows[order.id] = order


class FakeDispatches:
    def __init__(self, *dispatches: DispatchRow) -> None:
        self.rows = list(dispatches)

    def running_on(self, machine: str, at: datetime) -> DispatchRow | None:
        return next((d for d in self.rows if d.machine == machine and (d.end is None or d.end > at)), None)

    def open_for(self, order_id: str) -> DispatchRow | None:
        return next((d for d in self.rows if d.work_order == order_id and d.end is None), None)

    def add(self, dispatch: DispatchRow) -> None:
        self.rows.append(dispatch)


class FakeEventPostings:
    def __init__(self, *rows: EventPostingRow) -> None:
        self.rows = {r.event_id: r for r in rows}

    def get(self, event_id: int) -> EventPostingRow | None:
        return self.rows.get(event_id)

    def unassigned_since(self, machine: str, since: datetime) -> list[EventPostingRow]:
        return sorted((r for r in self.rows.values()
                       if r.machine == machine and r.status == "unassigned" and r.ts >= since), key=lambda r: r.ts)

    def posted_since(self, order_id: str, machine: str, since: datetime) -> list[EventPostingRow]:
        return [r for r in self.rows.values()
                if r.work_order == order_id and r.machine == machine and r.status == "posted" and r.ts >= since]


class FakeRecords:
    def __init__(self) -> None:
        self.rows: list[OpRecordRow] = []

    def add(self, record: OpRecordRow) -> None:
        record.id = len(self.rows) + 1
        self.rows.append(record)


class FakePeriods:
    def __init__(self, *periods: PeriodRow) -> None:
        self.rows = {p.id: p for p in periods}

    def get(self, period_id: str) -> PeriodRow | None:
        return self.rows.get(period_id)


class FakeMasterData:
    def __init__(self, master: MasterData) -> None:
        self._snapshot = Snapshot(1, replace(master, periods=()), DEFAULT_RULES, {})

    def snapshot(self) -> Snapshot:
        return self._snapshot


class FakeUnitOfWork(AbstractUnitOfWork):
    def __init__(self, master: MasterData, now: datetime = NOW) -> None:
        self.work_orders: FakeWorkOrders = FakeWorkOrders()
        self.dispatches: FakeDispatches = FakeDispatches()
        self.event_postings: FakeEventPostings = FakeEventPostings()
        self.records: FakeRecords = FakeRecords()
        self.periods: FakePeriods = FakePeriods()
        self.master = FakeMasterData(master)
        self.clock = lambda: now
        self.commits = 0
        self.rollbacks = 0

    def commit(self) -> None:
        self.commits += 1

    def rollback(self) -> None:
        self.rollbacks += 1

    @property
    def session(self) -> Session:
        raise AssertionError("this handler path still needs a database session (deeper costing call)")
