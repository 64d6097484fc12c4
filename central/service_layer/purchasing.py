"""Purchase orders (issue 14): create and read, and receipts against their lines.

``create_purchase_order`` is a handler on the unit of work (it validates items and the plant
against master data and refuses a duplicate id with 409). ``receive_against_line`` runs inside
the goods receipt's unit of work (``costing.inputs.record_goods_receipt``): it locks the line,
applies the domain's over-receipt rule (:mod:`central.domain.purchasing`) and links the receipt
record to the line (``purchase_order_receipts``), the link a supplier invoice will match later.
Both go through ``uow.purchase_orders``; the read views (``get_purchase_order``,
``list_purchase_orders``) read the same repository on the request's session.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.adapters.db.models_purchasing import PurchaseOrderLineRow, PurchaseOrderReceiptRow, PurchaseOrderRow
from central.adapters.repositories import SqlPurchaseOrderRepository
from central.domain.alert_rules import resolve_alert_thresholds
from central.domain.errors import InputError
from central.domain.master_snapshot import Snapshot
from central.domain.money import format_price, format_quantity, parse_decimal, parse_price
from central.domain.purchasing import PoLine, check_line, check_receipt, open_qty
from central.errors import Conflict, NotFound
from central.service_layer.unit_of_work import AbstractUnitOfWork, PurchaseOrderRepository

__all__ = [
    "PoLineIn", "CreatePurchaseOrder", "create_purchase_order", "get_purchase_order", "list_purchase_orders",
    "receive_against_line", "over_receipt_tolerance", "po_view",
]


@dataclass(frozen=True, slots=True)
class PoLineIn:
    item: str
    qty: Decimal
    unit_price: Decimal
    due: date


@dataclass(frozen=True, slots=True)
class CreatePurchaseOrder:
    id: str
    supplier: str
    lines: Sequence[PoLineIn]
    user: str
    plant: str | None = None
    ref: str = ""


def _q(value: Decimal) -> str:
    return format_quantity(value)


def _line_domain(row: PurchaseOrderLineRow) -> PoLine:
    return PoLine(row.purchase_order, row.line_no, row.item, row.qty, row.received_qty, row.due)


def _line_view(row: PurchaseOrderLineRow, receipts: Sequence[PurchaseOrderReceiptRow]) -> dict[str, Any]:
    return {"id": row.id, "line_no": row.line_no, "item": row.item, "qty": _q(row.qty),
            "unit_price": format_price(row.unit_price), "due": row.due.isoformat(),
            "received_qty": _q(row.received_qty), "open_qty": _q(open_qty(_line_domain(row))),
            "invoiced_qty": _q(row.invoiced_qty),
            "receipts": [{"record": r.record_id, "qty": _q(r.qty), "received_at": r.received_at.isoformat()}
                         for r in receipts]}


def po_view(session: Session, po: PurchaseOrderRow) -> dict[str, Any]:
    return _view(SqlPurchaseOrderRepository(session), po)


def _view(orders: PurchaseOrderRepository, po: PurchaseOrderRow) -> dict[str, Any]:
    lines = orders.lines(po.id)
    receipts: dict[int, list[PurchaseOrderReceiptRow]] = {}
    for r in orders.receipts([ln.id for ln in lines]):
        receipts.setdefault(r.line_id, []).append(r)
    status = "received" if lines and all(open_qty(_line_domain(ln)) == 0 for ln in lines) else po.status
    return {"id": po.id, "supplier": po.supplier, "plant": po.plant, "entity": po.entity, "status": status,
            "ref": po.ref, "created": po.created.isoformat(), "created_by": po.created_by,
            "lines": [_line_view(ln, receipts.get(ln.id, [])) for ln in lines]}


def create_purchase_order(cmd: CreatePurchaseOrder, uow: AbstractUnitOfWork) -> dict[str, Any]:
    with uow:
        now = uow.clock()
        if not cmd.lines:
            raise InputError("a purchase order needs at least one line")
        if not cmd.supplier.strip():
            raise InputError("a purchase order needs a supplier")
        snap = uow.master.snapshot()
        entity: str | None = None
        if cmd.plant is not None:
            plant = next((p for p in snap.master.plants if p.id == cmd.plant), None)
            if plant is None:
                raise InputError(f"unknown plant {cmd.plant!r}")
            entity = plant.entity
        for i, line in enumerate(cmd.lines):
            if line.item not in snap.master.items_by_id:
                raise InputError(f"lines[{i}]: unknown item {line.item!r}")
            check_line(line.item, parse_decimal(line.qty, 6), parse_price(line.unit_price))
        if uow.purchase_orders.get(cmd.id) is not None:
            raise Conflict(f"purchase order {cmd.id} exists already")
        po = PurchaseOrderRow(id=cmd.id, supplier=cmd.supplier, plant=cmd.plant, entity=entity, status="open",
                              ref=cmd.ref, created=now, created_by=cmd.user)
        uow.purchase_orders.add(po, [
            PurchaseOrderLineRow(purchase_order=po.id, line_no=no, item=line.item, qty=line.qty,
                                 unit_price=line.unit_price, due=line.due, received_qty=Decimal(0),
                                 invoiced_qty=Decimal(0))
            for no, line in enumerate(cmd.lines, start=1)])
        view = _view(uow.purchase_orders, po)
        uow.commit()
        return view


def get_purchase_order(session: Session, po_id: str) -> dict[str, Any]:
    po = session.get(PurchaseOrderRow, po_id)
    if po is None:
        raise NotFound(f"no purchase order {po_id!r}")
    return po_view(session, po)


def list_purchase_orders(session: Session, *, limit: int, offset: int = 0, supplier: str | None = None,
                         item: str | None = None, open_only: bool = False) -> list[dict[str, Any]]:
    stmt = select(PurchaseOrderRow).order_by(PurchaseOrderRow.created, PurchaseOrderRow.id)
    if supplier is not None:
        stmt = stmt.where(PurchaseOrderRow.supplier == supplier)
    if item is not None or open_only:
        sub = select(PurchaseOrderLineRow.purchase_order)
        if item is not None:
            sub = sub.where(PurchaseOrderLineRow.item == item)
        if open_only:
            sub = sub.where(PurchaseOrderLineRow.received_qty < PurchaseOrderLineRow.qty)
        stmt = stmt.where(PurchaseOrderRow.id.in_(sub))
    return [po_view(session, po) for po in session.scalars(stmt.limit(limit).offset(offset))]


def receive_against_line(uow: AbstractUnitOfWork, line_id: int, item: str, qty: Decimal, record_id: int,
                         now: datetime, tolerance: Decimal | None = None) -> dict[str, Any]:
    """Add a goods receipt to a PO line in the receipt's unit of work (entered by the caller, which
    commits); 404 unknown line, 400 other item, 409 a cancelled order or an over-receipt beyond
    ``tolerance`` (None: the master-data setting ``over_receipt_tolerance`` of the order's plant,
    default 5 %)."""
    line = uow.purchase_orders.line(line_id, lock=True)
    if line is None:
        raise NotFound(f"no purchase order line {line_id}")
    po = uow.purchase_orders.get(line.purchase_order)
    if po is not None and po.status == "cancelled":
        raise Conflict(f"purchase order {po.id} is cancelled")
    if tolerance is None:
        tolerance = over_receipt_tolerance(uow.master.snapshot(), po.plant if po is not None else None)
    line.received_qty = check_receipt(_line_domain(line), item, qty, tolerance)
    uow.purchase_orders.add_receipt(PurchaseOrderReceiptRow(record_id=record_id, line_id=line.id, qty=qty,
                                                            received_at=now))
    return {"purchase_order": line.purchase_order, "line_no": line.line_no, "line_id": line.id,
            "received_qty": _q(line.received_qty), "open_qty": _q(open_qty(_line_domain(line)))}


def over_receipt_tolerance(snap: Snapshot, plant: str | None) -> Decimal:
    """The plant's ``alert_thresholds.over_receipt_tolerance`` from master data (a PO without a
    plant, or a plant without the key: the default)."""
    rec = next((r for r in snap.records.get("plants", []) if plant is not None and r.get("id") == plant), None)
    return resolve_alert_thresholds((rec or {}).get("alert_thresholds")).over_receipt_tolerance
