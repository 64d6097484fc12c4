"""Purchase orders (issue 14): create (planner, controller), read (any role). Receipts against a
line are goods receipts naming ``purchase_order_line`` (:mod:`central.entrypoints.api.routers.inputs`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import Field

from central.entrypoints.api.deps import (
    Day,
    OffsetQuery,
    Principal,
    PrincipalDep,
    SessionDep,
    UnitOfWorkDep,
    require_role,
)
from central.entrypoints.api.fields import Price, Quantity
from central.entrypoints.api.schemas import RequestBody, ResponseBody
from central.service_layer import purchasing

__all__ = ["router", "PurchaseOrderIn", "PoLineIn", "PurchaseOrderOut", "PurchaseOrdersOut", "PoLineOut"]

router = APIRouter(tags=["purchasing"])

Buyer = Annotated[Principal, Depends(require_role("planner", "controller"))]
Limit = Annotated[int, Query(ge=1, le=1000)]
PoId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


class PoLineIn(RequestBody):
    item: str = Field(min_length=1, max_length=64)
    qty: Quantity
    unit_price: Price
    due: Day


class PurchaseOrderIn(RequestBody):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    supplier: str = Field(min_length=1, max_length=200)
    plant: str | None = Field(default=None, max_length=64)
    ref: str = Field(default="", max_length=200)
    lines: list[PoLineIn] = Field(min_length=1, max_length=500)


class PoReceiptOut(ResponseBody):
    record: int
    qty: str
    received_at: str


class PoLineOut(ResponseBody):
    """Quantities and prices are decimal strings; ``open_qty`` = ordered - received (never negative)."""

    id: int
    line_no: int
    item: str
    qty: str
    unit_price: str
    due: str
    received_qty: str
    open_qty: str
    invoiced_qty: str
    receipts: list[PoReceiptOut]


class PurchaseOrderOut(ResponseBody):
    id: str
    supplier: str
    plant: str | None
    entity: str | None
    status: str
    ref: str
    created: str
    created_by: str
    lines: list[PoLineOut]


class PurchaseOrdersOut(ResponseBody):
    purchase_orders: list[PurchaseOrderOut]


@router.post("/purchase-orders", status_code=201, response_model=PurchaseOrderOut, response_model_exclude_unset=True)
def post_purchase_order(body: PurchaseOrderIn, uow: UnitOfWorkDep, who: Buyer) -> object:
    return purchasing.create_purchase_order(purchasing.CreatePurchaseOrder(
        body.id, body.supplier, [purchasing.PoLineIn(ln.item, ln.qty, ln.unit_price, ln.due) for ln in body.lines],
        who.user, body.plant, body.ref), uow)


@router.get("/purchase-orders", response_model=PurchaseOrdersOut, response_model_exclude_unset=True)
def get_purchase_orders(session: SessionDep, _who: PrincipalDep, limit: Limit = 100, offset: OffsetQuery = 0,
                        supplier: str | None = None, item: str | None = None, open: bool = False) -> object:
    return {"purchase_orders": purchasing.list_purchase_orders(session, limit=limit, offset=offset, supplier=supplier,
                                                               item=item, open_only=open)}


@router.get("/purchase-orders/{po_id}", response_model=PurchaseOrderOut, response_model_exclude_unset=True)
def get_purchase_order(po_id: PoId, session: SessionDep, _who: PrincipalDep) -> object:
    return purchasing.get_purchase_order(session, po_id)
