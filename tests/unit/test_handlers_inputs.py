"""Input handlers on a fake unit of work: the refusals each handler decides itself (unknown
order, work centre, entity or period; a closed period or order; bad quantities), made before
anything is written or committed, and the clock dating the record.

Posting the journal entry and the stock move still goes through the database session (the
journal writer and stock are converted separately), so the happy paths are covered by the
integration tests; here the fake refuses the session and the test says so.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from central.adapters.db.models_costing import PeriodRow, WorkOrderRow
from central.domain.accruals import OrderAccruals
from central.domain.commands import BookLabour, IssueMaterial, RecordGoodsReceipt, RecordOverheadActual
from central.domain.errors import InputError, OrderStateError, PeriodError
from central.errors import NotFound
from central.service_layer.costing.inputs import (
    book_labour,
    issue_material,
    record_goods_receipt,
    record_overhead_actual,
)
from tests.support.domain import worked_example_master
from tests.support.fake_uow import NOW, FakeUnitOfWork

D = Decimal


def _uow() -> FakeUnitOfWork:
    uow = FakeUnitOfWork(worked_example_master())
    for pid, start, end, status in [("2026-10", date(2026, 10, 1), date(2026, 10, 31), "open"),
                                    ("2026-09", date(2026, 9, 1), date(2026, 9, 30), "closed")]:
        uow.periods.rows[pid] = PeriodRow(id=pid, entity="E1", start=start, end=end, status=status)
    return uow


def _nothing_written(uow: FakeUnitOfWork) -> bool:
    return uow.records.rows == [] and uow.commits == 0


def test_goods_receipt_refuses_an_unknown_entity() -> None:
    uow = _uow()
    with pytest.raises(InputError, match="unknown entity 'E9'"):
        record_goods_receipt(RecordGoodsReceipt("S", D(1), D("4.00"), "po-1", "op", entity="E9"), uow)
    assert _nothing_written(uow)


def test_material_issue_to_an_unknown_order_is_not_found() -> None:
    uow = _uow()
    with pytest.raises(NotFound, match="no work order 'WO-X'"):
        issue_material(IssueMaterial("WO-X", "S", D(1), "op"), uow)
    assert _nothing_written(uow)


def test_material_issue_to_a_closed_order_is_refused() -> None:
    uow = _uow()
    uow.work_orders.rows["WO-1"] = WorkOrderRow(id="WO-1", item="BR-100", qty=D(10), status="closed",
                                                created=NOW - timedelta(days=3), created_by="p",
                                                accruals=OrderAccruals("WO-1", "BR-100").to_data())
    with pytest.raises(OrderStateError, match="WO-1 is closed: no more issues"):
        issue_material(IssueMaterial("WO-1", "S", D(1), "op"), uow)
    assert _nothing_written(uow)


def test_labour_booking_refuses_negative_hours() -> None:
    uow = _uow()
    with pytest.raises(InputError, match="paid hours cannot be negative"):
        book_labour(BookLabour("WC-PRESS", "2026-10", D(-1), D(10), "ctl"), uow)
    assert _nothing_written(uow)


@pytest.mark.parametrize(("work_center", "period", "error", "message"), [
    ("WC-NOPE", "2026-10", InputError, "unknown work centre 'WC-NOPE'"),
    ("WC-PRESS", "2026-13", InputError, "unknown period '2026-13'"),
    ("WC-PRESS", "2026-09", PeriodError, "period 2026-09 is closed"),
])
def test_labour_booking_refusals(work_center: str, period: str, error: type[Exception], message: str) -> None:
    uow = _uow()
    with pytest.raises(error, match=message):
        book_labour(BookLabour(work_center, period, D("7.5"), D("187.50"), "ctl"), uow)
    assert _nothing_written(uow)


@pytest.mark.parametrize(("work_center", "period", "kind", "error", "message"), [
    ("WC-PRESS", "2026-10", "monthly", InputError, "kind must be 'variable' or 'fixed', got 'monthly'"),
    ("WC-NOPE", "2026-10", "fixed", InputError, "unknown work centre 'WC-NOPE'"),
    ("WC-PRESS", "2026-13", "fixed", InputError, "unknown period '2026-13'"),
    ("WC-PRESS", "2026-09", "variable", PeriodError, "period 2026-09 is closed"),
])
def test_overhead_actual_refusals(
    work_center: str, period: str, kind: str, error: type[Exception], message: str
) -> None:
    uow = _uow()
    with pytest.raises(error, match=message):
        record_overhead_actual(RecordOverheadActual(work_center, period, kind, D("999.99"), "ctl"), uow)
    assert _nothing_written(uow)


def test_a_booking_for_a_past_period_is_dated_by_the_clock_within_it() -> None:
    """The record is made before the journal entry; the entry itself needs the database."""
    uow = _uow()
    with pytest.raises(AssertionError, match="needs a database session"):
        book_labour(BookLabour("WC-PRESS", "2026-10", D("7.5"), D("187.50"), "ctl"), uow)
    [rec] = uow.records.rows
    assert (rec.kind, rec.created, rec.posting_date, rec.period, rec.qty, rec.amount, rec.user) == (
        "labor_booking", NOW, date(2026, 10, 31), "2026-10", D("7.5"), D("187.50"), "ctl")
    assert uow.commits == 0
