"""Order close, period close and journal reversal handlers on a fake unit of work: the refusals
each decides itself through the repositories (unknown or not completed order, unknown or already
closed period, a reversal without a reason), before anything is written or committed.

The variance computation and the journal still read the database through ``uow.session``; the
fake refuses it, so these tests also pin down where the session seam is reached (only after the
checks pass). The happy paths run in tests/integration/test_costing_*.py.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from central.adapters.db.models_costing import PeriodRow, WorkOrderRow
from central.domain.accruals import OrderAccruals
from central.domain.commands import ClosePeriod, CloseWorkOrder, ReverseJournalEntry
from central.domain.errors import InputError, OrderStateError, PeriodError
from central.errors import NotFound
from central.service_layer.costing.closing import close_accounting_period, close_completed_order
from central.service_layer.costing.ledger import reverse_journal_entry
from tests.support.domain import worked_example_master
from tests.support.fake_uow import NOW, FakeUnitOfWork


def _uow() -> FakeUnitOfWork:
    uow = FakeUnitOfWork(worked_example_master())
    for pid, start, end, status in [("2026-11", date(2026, 11, 1), date(2026, 11, 30), "open"),
                                    ("2026-10", date(2026, 10, 1), date(2026, 10, 31), "closed")]:
        uow.periods.rows[pid] = PeriodRow(id=pid, entity="E1", start=start, end=end, status=status)
    for oid, status in [("WO-RUN", "started"), ("WO-DONE", "completed"), ("WO-SHUT", "closed")]:
        uow.work_orders.rows[oid] = WorkOrderRow(id=oid, item="BR-100", qty=Decimal(10), status=status,
                                                 created=NOW - timedelta(days=3), created_by="p",
                                                 accruals=OrderAccruals(oid, "BR-100").to_data())
    return uow


def _untouched(uow: FakeUnitOfWork) -> bool:
    orders = {o.id: o.status for o in uow.work_orders.rows.values()}
    periods = {p.id: p.status for p in uow.periods.rows.values()}
    return (orders == {"WO-RUN": "started", "WO-DONE": "completed", "WO-SHUT": "closed"}
            and periods == {"2026-11": "open", "2026-10": "closed"} and uow.commits == 0 and uow.records.rows == [])


def test_closing_an_unknown_order_is_not_found() -> None:
    uow = _uow()
    with pytest.raises(NotFound, match="no work order 'WO-X'"):
        close_completed_order(CloseWorkOrder("WO-X", "ctl"), uow)
    assert _untouched(uow)


@pytest.mark.parametrize(("order", "status"), [("WO-RUN", "started"), ("WO-SHUT", "closed")])
def test_only_a_completed_order_is_closed(order: str, status: str) -> None:
    uow = _uow()
    with pytest.raises(OrderStateError, match=f"{order} is {status}: only a completed order can be closed"):
        close_completed_order(CloseWorkOrder(order, "ctl"), uow)
    assert _untouched(uow)


def test_a_completed_order_reaches_the_variance_computation() -> None:
    uow = _uow()
    with pytest.raises(AssertionError, match="still needs a database session"):
        close_completed_order(CloseWorkOrder("WO-DONE", "ctl"), uow)
    assert _untouched(uow)


def test_closing_an_unknown_period_is_not_found() -> None:
    uow = _uow()
    with pytest.raises(NotFound, match="no period '2026-13'"):
        close_accounting_period(ClosePeriod("2026-13", "ctl"), uow)
    assert _untouched(uow)


def test_a_closed_period_is_not_closed_again() -> None:
    uow = _uow()
    with pytest.raises(PeriodError, match="period 2026-10 is already closed"):
        close_accounting_period(ClosePeriod("2026-10", "ctl"), uow)
    assert _untouched(uow)


def test_an_open_period_reaches_the_variance_computation() -> None:
    uow = _uow()
    with pytest.raises(AssertionError, match="still needs a database session"):
        close_accounting_period(ClosePeriod("2026-11", "ctl"), uow)
    assert _untouched(uow)


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_reversal_needs_a_reason(reason: str) -> None:
    uow = _uow()
    with pytest.raises(InputError, match="a reversal needs a reason"):
        reverse_journal_entry(ReverseJournalEntry(7, reason, "ctl"), uow)
    assert _untouched(uow)
