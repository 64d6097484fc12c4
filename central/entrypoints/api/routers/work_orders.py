"""Work orders: create (a planner), release, start on a machine, stop, complete, close (a
controller; posts the order's variances) and the cost sheet. Material issues to an order are an
input (:mod:`central.entrypoints.api.routers.inputs`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import Field

from central.domain.commands import (
    CloseWorkOrder,
    CompleteWorkOrder,
    CreateWorkOrder,
    ReleaseWorkOrder,
    StartWorkOrder,
    StopWorkOrder,
)
from central.entrypoints.api.deps import (
    Day,
    Instant,
    OffsetQuery,
    Principal,
    PrincipalDep,
    SessionDep,
    UnitOfWorkDep,
    require_role,
)
from central.entrypoints.api.fields import Quantity
from central.entrypoints.api.routers.reports import VarianceLineOut
from central.entrypoints.api.schemas import RequestBody, ResponseBody, response_body_of
from central.service_layer.costing import closing, reports, work_orders

__all__ = [
    "router", "WorkOrderIn", "StartIn", "AtIn", "CloseIn", "WorkOrderOut", "WorkOrdersOut", "OrderClosedOut",
    "ElementCostOut", "CostSheetOut",
]

router = APIRouter(tags=["work orders"])

Controller = Annotated[Principal, Depends(require_role("controller"))]
Planner = Annotated[Principal, Depends(require_role("planner"))]
Limit = Annotated[int, Query(ge=1, le=1000)]


class WorkOrderIn(RequestBody):
    id: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    item: str
    qty: Quantity
    due: Day | None = None


class StartIn(RequestBody):
    machine: str
    at: Instant | None = None


class AtIn(RequestBody):
    at: Instant | None = None


class CloseIn(RequestBody):
    posting_date: Day | None = None


class WorkOrderOut(ResponseBody):
    """A work order; quantities are decimal strings."""

    id: str
    item: str
    qty: str
    planned_qty: str
    due: str | None
    status: str
    machine: str | None
    good_qty: str
    scrap_qty: str
    created: str | None
    released_at: str | None
    started_at: str | None
    stopped_at: str | None
    completed_at: str | None
    closed_at: str | None


class WorkOrdersOut(ResponseBody):
    work_orders: list[WorkOrderOut]


OrderClosedOut = response_body_of(closing.OrderClosed, "OrderClosedOut")


class ElementCostOut(ResponseBody):
    standard: str
    actual: str


class CostSheetOut(ResponseBody):
    """Standard vs actual per cost element (``material:<item>``, ``labor``, ``voh``, ``foh``) for the
    units processed, and the order's variances; prices 6 places, quantities plain, hours 4 places."""

    work_order: str
    item: str
    status: str
    standard_unit_cost: str
    good_unit_cost: str
    good_qty: str
    scrap_qty: str
    normal_scrap_qty: str
    abnormal_scrap_qty: str
    run_hours: str
    standard_hours: str
    elements: dict[str, ElementCostOut]
    variances: list[VarianceLineOut]


@router.get("/work-orders", response_model=WorkOrdersOut, response_model_exclude_unset=True)
def list_work_orders(
    session: SessionDep, _who: PrincipalDep, status: str | None = None, limit: Limit = 100, offset: OffsetQuery = 0
) -> object:
    return {"work_orders": work_orders.list_orders(session, status, limit, offset)}


@router.post("/work-orders", status_code=201, response_model=WorkOrderOut, response_model_exclude_unset=True)
def create_work_order(body: WorkOrderIn, uow: UnitOfWorkDep, who: Planner) -> object:
    order = work_orders.create_work_order(CreateWorkOrder(body.item, body.qty, who.user, body.id, body.due), uow)
    return work_orders.order_view(order)


@router.get("/work-orders/{order_id}", response_model=WorkOrderOut, response_model_exclude_unset=True)
def get_work_order(order_id: str, session: SessionDep, _who: PrincipalDep) -> object:
    return work_orders.order_view(work_orders.get_order(session, order_id))


@router.post("/work-orders/{order_id}/release", response_model=WorkOrderOut, response_model_exclude_unset=True)
def release_work_order(order_id: str, uow: UnitOfWorkDep, who: Planner) -> object:
    return work_orders.order_view(work_orders.release_work_order(ReleaseWorkOrder(order_id, who.user), uow))


@router.post("/work-orders/{order_id}/start", response_model=WorkOrderOut, response_model_exclude_unset=True)
def start_work_order(order_id: str, body: StartIn, uow: UnitOfWorkDep, who: Planner) -> object:
    command = StartWorkOrder(order_id, body.machine, who.user, body.at)
    return work_orders.order_view(work_orders.start_work_order(command, uow))


@router.post("/work-orders/{order_id}/stop", response_model=WorkOrderOut, response_model_exclude_unset=True)
def stop_work_order(order_id: str, uow: UnitOfWorkDep, who: Planner, body: AtIn | None = None) -> object:
    command = StopWorkOrder(order_id, who.user, body.at if body else None)
    return work_orders.order_view(work_orders.stop_work_order(command, uow))


@router.post("/work-orders/{order_id}/complete", response_model=WorkOrderOut, response_model_exclude_unset=True)
def complete_work_order(order_id: str, uow: UnitOfWorkDep, who: Planner, body: AtIn | None = None) -> object:
    command = CompleteWorkOrder(order_id, who.user, body.at if body else None)
    return work_orders.order_view(work_orders.complete_work_order(command, uow))


@router.post("/work-orders/{order_id}/close", response_model=OrderClosedOut, response_model_exclude_unset=True)
def close_work_order(
    order_id: str, uow: UnitOfWorkDep, who: Controller, body: CloseIn | None = None
) -> object:
    return closing.close_completed_order(CloseWorkOrder(order_id, who.user, body.posting_date if body else None), uow)


@router.get("/work-orders/{order_id}/cost", response_model=CostSheetOut, response_model_exclude_unset=True)
def work_order_cost(order_id: str, session: SessionDep, _who: PrincipalDep) -> object:
    return reports.cost_sheet(session, order_id)
