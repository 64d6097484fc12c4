"""Work-order handlers on a fake unit of work: state transitions, refusals, one commit.

No database: the repositories are ``tests.support.fake_uow`` fakes and the clock is fixed, so
every timestamp a handler writes is ``NOW`` (or the ``at`` it was given).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from central.adapters.db.models_costing import DispatchRow, EventPostingRow, WorkOrderRow
from central.domain.accruals import OrderAccruals
from central.domain.commands import (
    AcceptSuspectEvent,
    CompleteWorkOrder,
    CreateWorkOrder,
    RejectSuspectEvent,
    ReleaseWorkOrder,
    StartWorkOrder,
    StopWorkOrder,
)
from central.domain.errors import InputError, OrderStateError
from central.domain.master_data import Machine, WorkCentre
from central.errors import Conflict, NotFound
from central.service_layer.costing.work_orders import (
    accept_suspect_event,
    complete_work_order,
    create_work_order,
    reject_suspect_event,
    release_work_order,
    start_work_order,
    stop_work_order,
)
from tests.support.domain import worked_example_master
from tests.support.fake_uow import NOW, FakeUnitOfWork

MACHINE = "PRESS-2"


def _uow() -> FakeUnitOfWork:
    master = worked_example_master()
    master = replace(
        master,
        work_centers=(*master.work_centers, WorkCentre("WC-LATHE", "P1", Decimal(20), Decimal(10), Decimal(800),
                                                       Decimal(40))),
        machines=(*master.machines, Machine("LATHE-1", "WC-LATHE", "edge-1"), Machine("PRESS-3", "WC-PRESS")),
    )
    return FakeUnitOfWork(master)


def _order(uow: FakeUnitOfWork, status: str, order_id: str = "WO-1", machine: str | None = None) -> WorkOrderRow:
    row = WorkOrderRow(id=order_id, item="BR-100", qty=Decimal(100), status=status, created=NOW - timedelta(days=1),
                       created_by="p", machine=machine, accruals=OrderAccruals(order_id, "BR-100").to_data())
    uow.work_orders.rows[order_id] = row
    return row


def _event(event_id: int, status: str, kind: str = "count", qty: int = 5) -> EventPostingRow:
    return EventPostingRow(event_id=event_id, machine=MACHINE, kind=kind, ts=NOW - timedelta(hours=1), qty=qty,
                           status=status)


# --- create -----------------------------------------------------------------------------------


def test_create_stores_a_created_order_stamped_by_the_clock_and_commits_once() -> None:
    uow = _uow()
    order = create_work_order(CreateWorkOrder("BR-100", Decimal("100.5"), "planner", "WO-7"), uow)
    assert uow.work_orders.rows["WO-7"] is order
    assert (order.status, order.item, order.qty, order.created, order.created_by) == (
        "created", "BR-100", Decimal("100.5"), NOW, "planner")
    assert OrderAccruals.from_data(order.accruals).good_qty == 0
    assert uow.commits == 1


def test_create_without_an_id_generates_one() -> None:
    uow = _uow()
    order = create_work_order(CreateWorkOrder("BR-100", Decimal(1), "planner"), uow)
    assert order.id.startswith("WO-") and len(order.id) == 13


@pytest.mark.parametrize(("item", "qty", "message"), [
    ("BR-100", Decimal(0), "positive quantity"),
    ("BR-100", Decimal(-1), "positive quantity"),
    ("NOPE", Decimal(1), "unknown item 'NOPE'"),
    ("S", Decimal(1), "raw item"),
])
def test_create_refuses_bad_input_and_writes_nothing(item: str, qty: Decimal, message: str) -> None:
    uow = _uow()
    with pytest.raises(InputError, match=message):
        create_work_order(CreateWorkOrder(item, qty, "planner", "WO-1"), uow)
    assert uow.work_orders.rows == {} and uow.commits == 0


def test_create_refuses_a_duplicate_id() -> None:
    uow = _uow()
    _order(uow, "created")
    with pytest.raises(Conflict) as refused:
        create_work_order(CreateWorkOrder("BR-100", Decimal(1), "planner", "WO-1"), uow)
    assert refused.value.code == "duplicate" and uow.commits == 0


def test_create_refuses_an_item_without_its_routing() -> None:
    master = replace(worked_example_master(), routings=())
    uow = FakeUnitOfWork(master)
    with pytest.raises(Conflict, match="no routing for 'BR-100'") as refused:
        create_work_order(CreateWorkOrder("BR-100", Decimal(1), "planner", "WO-1"), uow)
    assert refused.value.code == "routing_missing" and uow.commits == 0


# --- release ----------------------------------------------------------------------------------


def test_release_moves_created_to_released() -> None:
    uow = _uow()
    order = _order(uow, "created")
    assert release_work_order(ReleaseWorkOrder("WO-1", "planner"), uow) is order
    assert (order.status, order.released_at) == ("released", NOW)
    assert uow.commits == 1


@pytest.mark.parametrize("status", ["released", "started", "stopped", "completed", "closed"])
def test_release_refuses_an_order_not_created(status: str) -> None:
    uow = _uow()
    _order(uow, status)
    with pytest.raises(OrderStateError, match=f"is {status}: cannot release"):
        release_work_order(ReleaseWorkOrder("WO-1", "planner"), uow)
    assert uow.commits == 0


def test_release_of_an_unknown_order_is_not_found() -> None:
    with pytest.raises(NotFound, match="no work order 'WO-X'"):
        release_work_order(ReleaseWorkOrder("WO-X", "planner"), _uow())


# --- start ------------------------------------------------------------------------------------


def test_start_dispatches_the_order_to_the_machine_now() -> None:
    uow = _uow()
    order = _order(uow, "released")
    start_work_order(StartWorkOrder("WO-1", MACHINE, "planner"), uow)
    assert (order.status, order.machine, order.started_at) == ("started", MACHINE, NOW)
    [dispatch] = uow.dispatches.rows
    assert (dispatch.work_order, dispatch.machine, dispatch.start, dispatch.end, dispatch.created_by) == (
        "WO-1", MACHINE, NOW, None, "planner")
    assert uow.commits == 1


def test_start_after_the_fact_dates_the_dispatch_and_keeps_the_first_start() -> None:
    uow = _uow()
    order = _order(uow, "stopped")
    first = NOW - timedelta(hours=8)
    order.started_at = first
    at = NOW - timedelta(hours=2)
    start_work_order(StartWorkOrder("WO-1", MACHINE, "planner", at), uow)
    assert uow.dispatches.rows[0].start == at
    assert order.started_at == first


def test_start_refuses_an_unknown_machine() -> None:
    uow = _uow()
    _order(uow, "released")
    with pytest.raises(InputError, match="unknown machine 'PRESS-9'"):
        start_work_order(StartWorkOrder("WO-1", "PRESS-9", "planner"), uow)
    assert uow.dispatches.rows == [] and uow.commits == 0


def test_start_refuses_a_machine_of_another_work_centre() -> None:
    uow = _uow()
    order = _order(uow, "released")
    with pytest.raises(InputError, match="machine LATHE-1 is in WC-LATHE; BR-100 is routed to WC-PRESS"):
        start_work_order(StartWorkOrder("WO-1", "LATHE-1", "planner"), uow)
    assert order.status == "released" and uow.dispatches.rows == []


def test_start_refuses_a_busy_machine() -> None:
    uow = _uow()
    _order(uow, "released")
    uow.dispatches.add(DispatchRow(work_order="WO-0", machine=MACHINE, start=NOW - timedelta(hours=3), end=None,
                                   created_by="p"))
    with pytest.raises(Conflict, match="machine PRESS-2 runs work order WO-0") as refused:
        start_work_order(StartWorkOrder("WO-1", MACHINE, "planner"), uow)
    assert refused.value.code == "machine_busy" and uow.commits == 0


def test_start_on_a_machine_whose_dispatch_ended_before_at_is_allowed() -> None:
    uow = _uow()
    _order(uow, "released")
    uow.dispatches.add(DispatchRow(work_order="WO-0", machine="PRESS-3", start=NOW - timedelta(hours=3),
                                   end=NOW - timedelta(hours=1), created_by="p"))
    start_work_order(StartWorkOrder("WO-1", "PRESS-3", "planner"), uow)
    assert uow.commits == 1


@pytest.mark.parametrize(("at", "message"), [
    (NOW + timedelta(minutes=6), "'at' is in the future"),
    (datetime(2026, 11, 3, 8, 0), "'at' needs a time zone"),
])
def test_start_refuses_a_bad_at(at: datetime, message: str) -> None:
    uow = _uow()
    _order(uow, "released")
    with pytest.raises(InputError, match=message):
        start_work_order(StartWorkOrder("WO-1", MACHINE, "planner", at), uow)


def test_start_allows_at_within_the_clock_slack() -> None:
    uow = _uow()
    _order(uow, "released")
    start_work_order(StartWorkOrder("WO-1", MACHINE, "planner", NOW + timedelta(minutes=4)), uow)
    assert uow.dispatches.rows[0].start == NOW + timedelta(minutes=4)


@pytest.mark.parametrize("status", ["created", "started", "completed", "closed"])
def test_start_refuses_wrong_status(status: str) -> None:
    uow = _uow()
    _order(uow, status)
    with pytest.raises(OrderStateError, match="cannot start"):
        start_work_order(StartWorkOrder("WO-1", MACHINE, "planner"), uow)


def test_start_with_waiting_events_posts_them_through_the_database_session() -> None:
    """The one start path the fake cannot take: attaching waiting events is production posting."""
    uow = _uow()
    _order(uow, "released")
    uow.event_postings.rows[1] = _event(1, "unassigned")
    with pytest.raises(AssertionError, match="needs a database session"):
        start_work_order(StartWorkOrder("WO-1", MACHINE, "planner", NOW - timedelta(hours=2)), uow)
    assert uow.commits == 0


# --- stop and complete ------------------------------------------------------------------------


def _started(uow: FakeUnitOfWork, since: datetime) -> tuple[WorkOrderRow, DispatchRow]:
    order = _order(uow, "started", machine=MACHINE)
    order.started_at = since
    dispatch = DispatchRow(work_order="WO-1", machine=MACHINE, start=since, end=None, created_by="p")
    uow.dispatches.add(dispatch)
    return order, dispatch


def test_stop_ends_the_dispatch_now() -> None:
    uow = _uow()
    order, dispatch = _started(uow, NOW - timedelta(hours=4))
    stop_work_order(StopWorkOrder("WO-1", "planner"), uow)
    assert (order.status, order.stopped_at, dispatch.end) == ("stopped", NOW, NOW)
    assert uow.commits == 1


def test_stop_at_a_past_time_without_events_after_it_ends_the_dispatch_then() -> None:
    uow = _uow()
    order, dispatch = _started(uow, NOW - timedelta(hours=4))
    stop_work_order(StopWorkOrder("WO-1", "planner", NOW - timedelta(hours=1)), uow)
    assert dispatch.end == NOW - timedelta(hours=1)
    assert order.stopped_at == NOW


def test_stop_refuses_at_before_the_dispatch_started() -> None:
    uow = _uow()
    order, dispatch = _started(uow, NOW - timedelta(hours=1))
    with pytest.raises(InputError, match="is before the dispatch started"):
        stop_work_order(StopWorkOrder("WO-1", "planner", NOW - timedelta(hours=2)), uow)
    assert order.status == "started" and dispatch.end is None and uow.commits == 0


@pytest.mark.parametrize("status", ["created", "released", "stopped", "completed"])
def test_stop_refuses_an_order_not_started(status: str) -> None:
    uow = _uow()
    _order(uow, status)
    with pytest.raises(OrderStateError, match="cannot stop"):
        stop_work_order(StopWorkOrder("WO-1", "planner"), uow)


def test_complete_a_started_order_ends_its_dispatch() -> None:
    uow = _uow()
    order, dispatch = _started(uow, NOW - timedelta(hours=4))
    complete_work_order(CompleteWorkOrder("WO-1", "planner"), uow)
    assert (order.status, order.completed_at, dispatch.end) == ("completed", NOW, NOW)
    assert uow.commits == 1


def test_complete_a_stopped_order() -> None:
    uow = _uow()
    order = _order(uow, "stopped")
    complete_work_order(CompleteWorkOrder("WO-1", "planner"), uow)
    assert (order.status, order.completed_at) == ("completed", NOW)
    assert uow.commits == 1


@pytest.mark.parametrize("status", ["created", "released", "completed", "closed"])
def test_complete_refuses_wrong_status(status: str) -> None:
    uow = _uow()
    _order(uow, status)
    with pytest.raises(OrderStateError, match="cannot complete"):
        complete_work_order(CompleteWorkOrder("WO-1", "planner"), uow)
    assert uow.commits == 0


# --- suspect events ---------------------------------------------------------------------------


def test_reject_suspect_records_who_decided() -> None:
    uow = _uow()
    row = uow.event_postings.rows[1] = _event(1, "suspect")
    assert reject_suspect_event(RejectSuspectEvent(1, "ctl"), uow) is row
    assert (row.status, row.decided_by) == ("rejected", "ctl")
    assert uow.commits == 1


@pytest.mark.parametrize("status", ["unassigned", "posted", "rejected"])
def test_reject_refuses_an_event_that_is_not_suspect(status: str) -> None:
    uow = _uow()
    uow.event_postings.rows[1] = _event(1, status)
    with pytest.raises(NotFound, match="no suspect event 1"):
        reject_suspect_event(RejectSuspectEvent(1, "ctl"), uow)
    assert uow.commits == 0


@pytest.mark.parametrize(("kind", "qty"), [("state", 0), ("count", 0)])
def test_accept_suspect_without_quantity_makes_it_operational(kind: str, qty: int) -> None:
    uow = _uow()
    row = uow.event_postings.rows[1] = _event(1, "suspect", kind, qty)
    accept_suspect_event(AcceptSuspectEvent(1, "ctl"), uow)
    assert (row.status, row.decided_by) == ("operational", "ctl")
    assert uow.commits == 1


def test_accept_of_an_unknown_event_is_not_found() -> None:
    with pytest.raises(NotFound, match="no suspect event 9"):
        accept_suspect_event(AcceptSuspectEvent(9, "ctl"), _uow())
