"""Inputs that post: goods receipts, material issues (to a work order), labour bookings and
overhead actuals; and the stock moves they and production leave. Thin: the work is in
``central.service_layer.costing``."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import Field

from central.domain.commands import BookLabour, IssueMaterial, RecordGoodsReceipt, RecordOverheadActual
from central.entrypoints.api.deps import (
    AfterQuery,
    Day,
    Int64,
    OffsetQuery,
    Principal,
    PrincipalDep,
    SessionDep,
    UnitOfWorkDep,
    require_role,
)
from central.entrypoints.api.fields import Money, Price, Quantity
from central.entrypoints.api.schemas import RESPONSE_CONFIG, RequestBody, ResponseBody, response_body_of
from central.service_layer.costing import inputs, stock

__all__ = [
    "router", "GoodsReceiptIn", "MaterialIssueIn", "LaborBookingIn", "OverheadActualIn",
    "InputRecordItem", "InputRecordOut", "GoodsReceiptOut", "GoodsReceiptsOut", "LaborBookingsOut",
    "OverheadActualsOut",
    "StockMoveOut", "StockMovesOut",
]

router = APIRouter(tags=["ledger"])

Operator = Annotated[Principal, Depends(require_role("operator"))]
Controller = Annotated[Principal, Depends(require_role("controller"))]
Limit = Annotated[int, Query(ge=1, le=1000)]


class GoodsReceiptIn(RequestBody):
    item: str
    qty: Quantity
    unit_price: Price
    ref: str = Field(default="", max_length=200)
    posting_date: Day | None = None
    entity: str | None = None
    purchase_order_line: Int64 | None = Field(default=None, ge=1, description="the purchase-order line received "
                                              "against (optional); over its quantity + tolerance is a 409")


class MaterialIssueIn(RequestBody):
    item: str
    qty: Quantity
    posting_date: Day | None = None


class LaborBookingIn(RequestBody):
    work_center: str
    period: str
    hours: Quantity
    amount: Money


class OverheadActualIn(RequestBody):
    work_center: str
    period: str
    kind: Literal["variable", "fixed"]
    amount: Money


class InputRecordItem(inputs.InputRecordView):
    """The service's :class:`~central.service_layer.costing.inputs.InputRecordView` inside a list or
    another answer (one definition of the shape)."""

    __pydantic_config__ = RESPONSE_CONFIG  # type: ignore[misc]


InputRecordOut = response_body_of(inputs.InputRecordView, "InputRecordOut")
GoodsReceiptOut = response_body_of(inputs.GoodsReceiptView, "GoodsReceiptOut")


class GoodsReceiptsOut(ResponseBody):
    goods_receipts: list[InputRecordItem]


class LaborBookingsOut(ResponseBody):
    labor_bookings: list[InputRecordItem]


class OverheadActualsOut(ResponseBody):
    overhead_actuals: list[InputRecordItem]


class StockMoveOut(ResponseBody):
    """One quantity movement (positive in, negative out; a plain decimal string) and its lineage:
    the operational record, the journal entry posted with it, the move it reverses, the events."""

    id: int
    kind: str
    item: str
    qty: str
    work_order: str | None
    machine: str | None
    period: str
    posting_date: str
    late: bool
    record: int | None
    entry: int | None
    reverses: int | None
    events: list[int]
    user: str
    created: str
    memo: str | None


class StockMovesOut(ResponseBody):
    """Moves oldest first; ``next`` is the ``after`` of the next page (None on the last)."""

    stock_moves: list[StockMoveOut]
    next: int | None


@router.get("/goods-receipts", response_model=GoodsReceiptsOut, response_model_exclude_unset=True)
def list_goods_receipts(session: SessionDep, _who: PrincipalDep, limit: Limit = 100,
                        offset: OffsetQuery = 0) -> object:
    return {"goods_receipts": inputs.list_records(session, "goods_receipt", limit, offset)}


@router.post("/goods-receipts", status_code=201, response_model=GoodsReceiptOut, response_model_exclude_unset=True)
def post_goods_receipt(body: GoodsReceiptIn, uow: UnitOfWorkDep, who: Operator) -> object:
    return inputs.record_goods_receipt(RecordGoodsReceipt(body.item, body.qty, body.unit_price, body.ref, who.user,
                                                          body.posting_date, body.entity,
                                                          body.purchase_order_line), uow)


@router.post("/work-orders/{order_id}/material-issues", status_code=201, response_model=InputRecordOut,
             response_model_exclude_unset=True)
def post_material_issue(order_id: str, body: MaterialIssueIn, uow: UnitOfWorkDep, who: Operator) -> object:
    return inputs.issue_material(IssueMaterial(order_id, body.item, body.qty, who.user, body.posting_date), uow)


@router.get("/labor-bookings", response_model=LaborBookingsOut, response_model_exclude_unset=True)
def list_labor_bookings(session: SessionDep, _who: PrincipalDep, limit: Limit = 100,
                        offset: OffsetQuery = 0) -> object:
    return {"labor_bookings": inputs.list_records(session, "labor_booking", limit, offset)}


@router.post("/labor-bookings", status_code=201, response_model=InputRecordOut, response_model_exclude_unset=True)
def post_labor_booking(body: LaborBookingIn, uow: UnitOfWorkDep, who: Controller) -> object:
    return inputs.book_labour(BookLabour(body.work_center, body.period, body.hours, body.amount, who.user), uow)


@router.get("/overhead-actuals", response_model=OverheadActualsOut, response_model_exclude_unset=True)
def list_overhead_actuals(session: SessionDep, _who: PrincipalDep, limit: Limit = 100,
                          offset: OffsetQuery = 0) -> object:
    return {"overhead_actuals": inputs.list_records(session, "overhead_actual", limit, offset)}


@router.post("/overhead-actuals", status_code=201, response_model=InputRecordOut, response_model_exclude_unset=True)
def post_overhead_actual(body: OverheadActualIn, uow: UnitOfWorkDep, who: Controller) -> object:
    command = RecordOverheadActual(body.work_center, body.period, body.kind, body.amount, who.user)
    return inputs.record_overhead_actual(command, uow)


@router.get("/stock-moves", response_model=StockMovesOut, response_model_exclude_unset=True)
def get_stock_moves(
    session: SessionDep, _who: PrincipalDep, item: str | None = None, work_order: str | None = None,
    limit: Limit = 100, after: AfterQuery = None,
) -> object:
    return stock.list_moves(session, item=item, work_order=work_order, limit=limit, after=after)
