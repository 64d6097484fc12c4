"""Inputs that post and the ledger: goods receipts, material issues, labour bookings, overhead
actuals, the journal (with lineage and reversal), the trial balance, periods and their close,
the controller's queues of unassigned and suspect events, and the operational records past a
threshold (quality exceptions, maintenance requests). Thin: the work is in
``central.service_layer.costing``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from central.entrypoints.api.deps import (
    AfterQuery,
    Day,
    IdPath,
    OffsetQuery,
    Principal,
    PrincipalDep,
    SessionDep,
    require_role,
)
from central.entrypoints.api.fields import Money, Price, Quantity
from central.service_layer.costing import closing, inputs, ledger, operations, stock, work_orders
from central.service_layer.costing.periods import list_periods

__all__ = ["router"]

router = APIRouter(tags=["ledger"])

Operator = Annotated[Principal, Depends(require_role("operator"))]
Controller = Annotated[Principal, Depends(require_role("controller"))]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = OffsetQuery


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GoodsReceiptIn(_Body):
    item: str
    qty: Quantity
    unit_price: Price
    ref: str = Field(default="", max_length=200)
    posting_date: Day | None = None
    entity: str | None = None


class MaterialIssueIn(_Body):
    item: str
    qty: Quantity
    posting_date: Day | None = None


class LaborBookingIn(_Body):
    work_center: str
    period: str
    hours: Quantity
    amount: Money


class OverheadActualIn(_Body):
    work_center: str
    period: str
    kind: Literal["variable", "fixed"]
    amount: Money


class ReverseIn(_Body):
    reason: str = Field(min_length=1, max_length=2000)


class AssignIn(_Body):
    work_order: str


@router.get("/goods-receipts")
def list_goods_receipts(session: SessionDep, _who: PrincipalDep, limit: Limit = 100, offset: Offset = 0) -> Any:
    return {"goods_receipts": inputs.list_records(session, "goods_receipt", limit, offset)}


@router.post("/goods-receipts", status_code=201)
def post_goods_receipt(body: GoodsReceiptIn, session: SessionDep, who: Operator) -> dict[str, Any]:
    return inputs.goods_receipt(session, body.item, body.qty, body.unit_price, body.ref, who.user,
                                body.posting_date, body.entity)


@router.post("/work-orders/{order_id}/material-issues", status_code=201)
def post_material_issue(order_id: str, body: MaterialIssueIn, session: SessionDep, who: Operator) -> dict[str, Any]:
    return inputs.material_issue(session, order_id, body.item, body.qty, who.user, body.posting_date)


@router.get("/labor-bookings")
def list_labor_bookings(session: SessionDep, _who: PrincipalDep, limit: Limit = 100, offset: Offset = 0) -> Any:
    return {"labor_bookings": inputs.list_records(session, "labor_booking", limit, offset)}


@router.post("/labor-bookings", status_code=201)
def post_labor_booking(body: LaborBookingIn, session: SessionDep, who: Controller) -> dict[str, Any]:
    return inputs.labor_booking(session, body.work_center, body.period, body.hours, body.amount, who.user)


@router.get("/overhead-actuals")
def list_overhead_actuals(session: SessionDep, _who: PrincipalDep, limit: Limit = 100, offset: Offset = 0) -> Any:
    return {"overhead_actuals": inputs.list_records(session, "overhead_actual", limit, offset)}


@router.post("/overhead-actuals", status_code=201)
def post_overhead_actual(body: OverheadActualIn, session: SessionDep, who: Controller) -> dict[str, Any]:
    return inputs.overhead_actual(session, body.work_center, body.period, body.kind, body.amount, who.user)


@router.get("/journal")
def get_journal(
    session: SessionDep, _who: PrincipalDep, period: str | None = None, account: str | None = None,
    work_order: str | None = None, entity: str | None = None, kind: str | None = None,
    limit: Limit = 100, offset: Offset = 0,
) -> dict[str, Any]:
    """Entries with lines; ``account`` matches an account code or a role."""
    return ledger.list_journal(session, period=period, account=account, work_order=work_order, entity=entity,
                               kind=kind, limit=limit, offset=offset)


@router.get("/journal/{entry_id}")
def get_journal_entry(entry_id: IdPath, session: SessionDep, _who: PrincipalDep) -> dict[str, Any]:
    return ledger.get_entry(session, entry_id)


@router.post("/journal/{entry_id}/reverse", status_code=201)
def reverse_journal_entry(entry_id: IdPath, body: ReverseIn, session: SessionDep, who: Controller) -> dict[str, Any]:
    return ledger.reverse_entry(session, entry_id, body.reason, who.user)


@router.get("/stock-moves")
def get_stock_moves(
    session: SessionDep, _who: PrincipalDep, item: str | None = None, work_order: str | None = None,
    limit: Limit = 100, after: AfterQuery = None,
) -> dict[str, Any]:
    return stock.list_moves(session, item=item, work_order=work_order, limit=limit, after=after)


@router.get("/trial-balance")
def get_trial_balance(
    session: SessionDep, _who: PrincipalDep, entity: str | None = None, period: str | None = None
) -> dict[str, Any]:
    return ledger.trial_balance(session, entity, period)


@router.get("/periods")
def get_periods(session: SessionDep, _who: PrincipalDep) -> dict[str, Any]:
    return {"periods": list_periods(session)}


@router.post("/periods/{period_id}/close")
def close_period(period_id: str, session: SessionDep, who: Controller) -> dict[str, Any]:
    return closing.close_period(session, period_id, who.user)


@router.get("/unassigned")
def get_unassigned(session: SessionDep, _who: PrincipalDep, limit: Limit = 100, offset: Offset = 0) -> Any:
    return {"events": work_orders.list_event_postings(session, "unassigned", limit, offset)}


@router.post("/unassigned/{event_id}/assign")
def assign_unassigned(event_id: IdPath, body: AssignIn, session: SessionDep, who: Controller) -> dict[str, Any]:
    return work_orders.event_view(work_orders.assign_event(session, event_id, body.work_order, who.user))


@router.get("/suspect-events")
def get_suspect_events(session: SessionDep, _who: PrincipalDep, limit: Limit = 100, offset: Offset = 0) -> Any:
    return {"events": work_orders.list_event_postings(session, "suspect", limit, offset)}


@router.post("/suspect-events/{event_id}/accept")
def accept_suspect_event(event_id: IdPath, session: SessionDep, who: Controller) -> dict[str, Any]:
    return work_orders.event_view(work_orders.accept_suspect(session, event_id, who.user))


@router.post("/suspect-events/{event_id}/reject")
def reject_suspect_event(event_id: IdPath, session: SessionDep, who: Controller) -> dict[str, Any]:
    return work_orders.event_view(work_orders.reject_suspect(session, event_id, who.user))


@router.get("/quality-exceptions")
def get_quality_exceptions(
    session: SessionDep, _who: PrincipalDep, machine: str | None = None,
    status: Literal["open", "cleared"] | None = None, limit: Limit = 100, offset: Offset = 0,
) -> dict[str, Any]:
    """A machine's scrap rate over its rolling window of units reached its threshold."""
    return {"quality_exceptions": operations.list_quality_exceptions(session, machine, status, limit, offset)}


@router.get("/maintenance-requests")
def get_maintenance_requests(
    session: SessionDep, _who: PrincipalDep, machine: str | None = None, status: Literal["open"] | None = None,
    limit: Limit = 100, offset: Offset = 0,
) -> dict[str, Any]:
    """Unplanned stops of a maintenance category longer than their threshold."""
    return {"maintenance_requests": operations.list_maintenance_requests(session, machine, status, limit, offset)}
