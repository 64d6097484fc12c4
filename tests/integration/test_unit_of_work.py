"""The SQLAlchemy unit of work on SQLite and PostgreSQL: one transaction per ``with``, kept only
by ``commit()``; inside a transaction someone else owns (the API request's), ``commit()`` only
flushes and the owner decides."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from support.costing import costing_container, load, worked_example_master

from central.adapters.db.models_costing import PeriodRow, WorkOrderRow
from central.adapters.repositories import SqlPeriodRepository
from central.adapters.unit_of_work import SqlAlchemyUnitOfWork
from central.bootstrap import Container
from central.domain.accruals import OrderAccruals
from central.domain.commands import CreateWorkOrder, ReleaseWorkOrder, StartWorkOrder
from central.domain.errors import InputError
from central.service_layer.costing.work_orders import create_work_order, release_work_order, start_work_order

NOW = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)


@pytest.fixture
def central(central_db_url: str) -> Iterator[Container]:
    c = costing_container(central_db_url)
    load(c, worked_example_master())
    yield c
    c.dispose()


def _stored(c: Container, order_id: str) -> WorkOrderRow | None:
    with c.read_sessions() as s:
        return s.get(WorkOrderRow, order_id)


def _row(order_id: str) -> WorkOrderRow:
    return WorkOrderRow(id=order_id, item="BR-100", qty=Decimal(1), status="created", created=NOW, created_by="p",
                        accruals=OrderAccruals(order_id, "BR-100").to_data())


def test_a_handler_commits_its_transaction_with_the_clock_of_the_unit_of_work(central: Container) -> None:
    create_work_order(CreateWorkOrder("BR-100", Decimal(5), "planner", "WO-U1"),
                      SqlAlchemyUnitOfWork(central.write_sessions, clock=lambda: NOW))
    order = release_work_order(ReleaseWorkOrder("WO-U1", "planner"),
                               SqlAlchemyUnitOfWork(central.write_sessions, clock=lambda: NOW + timedelta(minutes=1)))
    assert order.status == "released"  # still readable once the handler's transaction ended
    stored = _stored(central, "WO-U1")
    assert stored is not None
    assert (stored.status, stored.created, stored.released_at) == ("released", NOW, NOW + timedelta(minutes=1))


def test_a_refused_command_leaves_nothing(central: Container) -> None:
    create_work_order(CreateWorkOrder("BR-100", Decimal(5), "planner", "WO-U0"),
                      SqlAlchemyUnitOfWork(central.write_sessions))
    release_work_order(ReleaseWorkOrder("WO-U0", "planner"), SqlAlchemyUnitOfWork(central.write_sessions))
    with pytest.raises(InputError, match="unknown machine"):
        start_work_order(StartWorkOrder("WO-U0", "NOPE", "planner"), SqlAlchemyUnitOfWork(central.write_sessions))
    stored = _stored(central, "WO-U0")
    assert stored is not None and (stored.status, stored.machine) == ("released", None)


def test_leaving_without_a_commit_rolls_back(central: Container) -> None:
    with SqlAlchemyUnitOfWork(central.write_sessions) as uow:
        uow.work_orders.add(_row("WO-U2"))
        assert uow.work_orders.get("WO-U2") is not None
    assert _stored(central, "WO-U2") is None


def test_an_error_rolls_back_and_propagates(central: Container) -> None:
    with pytest.raises(RuntimeError, match="boom"), SqlAlchemyUnitOfWork(central.write_sessions) as uow:
        uow.work_orders.add(_row("WO-U3"))
        raise RuntimeError("boom")
    assert _stored(central, "WO-U3") is None


def test_a_unit_of_work_is_one_transaction_at_a_time(central: Container) -> None:
    uow = SqlAlchemyUnitOfWork(central.write_sessions)
    with pytest.raises(RuntimeError, match="not entered"):
        uow.commit()
    with uow:
        uow.work_orders.add(_row("WO-U4"))
        uow.commit()
    with uow:  # a second 'with' is a new transaction
        order = uow.work_orders.get("WO-U4")
        assert order is not None
    assert _stored(central, "WO-U4") is not None


def test_joined_commit_flushes_and_the_owner_decides(central: Container) -> None:
    with pytest.raises(RuntimeError, match="request failed"), central.write_sessions() as s, s.begin():
        uow = SqlAlchemyUnitOfWork.joining(s, clock=lambda: NOW)
        create_work_order(CreateWorkOrder("BR-100", Decimal(5), "planner", "WO-U5"), uow)
        assert s.scalars(s.query(WorkOrderRow.id).filter_by(id="WO-U5").statement).first() == "WO-U5"  # flushed
        raise RuntimeError("request failed")
    assert _stored(central, "WO-U5") is None
    with central.write_sessions() as s, s.begin():
        create_work_order(CreateWorkOrder("BR-100", Decimal(5), "planner", "WO-U6"),
                          SqlAlchemyUnitOfWork.joining(s, clock=lambda: NOW))
    stored = _stored(central, "WO-U6")
    assert stored is not None and stored.created == NOW


def test_two_transactions_creating_the_same_month_both_get_it(central: Container) -> None:
    """Two central processes posting the first events of a new month create its period at the same
    moment: the second waits for the first and uses its row instead of failing on the key."""
    def month() -> PeriodRow:
        return PeriodRow(id="2031-07", entity=None, start=date(2031, 7, 1), end=date(2031, 7, 31), status="open")

    first = central.write_sessions()
    first.begin()
    SqlPeriodRepository(first).add_if_absent(month())  # inserted, not yet committed
    got: list[str] = []
    errors: list[BaseException] = []

    def second_writer() -> None:
        try:
            with central.write_sessions() as s, s.begin():
                got.append(SqlPeriodRepository(s).add_if_absent(month()).id)
        except Exception as exc:  # noqa: BLE001 - asserted empty below, with the error shown
            errors.append(exc)

    t = threading.Thread(target=second_writer)
    t.start()
    t.join(0.5)  # blocked on the first writer's lock (PostgreSQL row, SQLite database)
    first.commit()
    first.close()
    t.join(30)
    assert not t.is_alive()
    assert errors == [] and got == ["2031-07"]
    with central.read_sessions() as s:
        assert s.get(PeriodRow, "2031-07") is not None
