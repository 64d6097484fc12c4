"""Purchase orders: expected receipts (issue 14). Pure: no I/O.

A line orders ``qty`` of ``item`` at ``unit_price`` due on ``due``. Goods receipts may name a
line; they add to its ``received_qty`` (partial receipts are normal). A receipt that would take
the line beyond ``qty x (1 + tolerance)`` is refused (:class:`OverReceiptError`, 409).
``open_qty`` is what is still expected (never negative). The receipt keeps its own actual price:
the PO price is the expectation, the price variance is still taken at receipt against standard.
``invoiced_qty`` is kept on the line for the supplier-invoice matching that comes later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from central.domain.errors import DomainError, InputError

__all__ = ["DEFAULT_OVER_RECEIPT_TOLERANCE", "OverReceiptError", "PoLine", "check_receipt", "open_qty", "is_past_due",
           "check_line"]

DEFAULT_OVER_RECEIPT_TOLERANCE = Decimal("0.05")
"""A line may be received up to 5 % over its ordered quantity unless master data says otherwise."""


class OverReceiptError(DomainError):
    """A receipt beyond the ordered quantity plus the tolerance."""

    status = 409
    code = "over_receipt"


@dataclass(frozen=True)
class PoLine:
    purchase_order: str
    line_no: int
    item: str
    qty: Decimal
    received_qty: Decimal
    due: date


def check_line(item: str, qty: Decimal, unit_price: Decimal) -> None:
    if qty <= 0:
        raise InputError(f"a purchase order line needs a positive quantity, got {qty} of {item}")
    if unit_price < 0:
        raise InputError(f"a purchase order line's unit_price cannot be negative, got {unit_price} for {item}")


def open_qty(line: PoLine) -> Decimal:
    """What is still expected on ``line`` (zero once fully or over-received)."""
    return max(line.qty - line.received_qty, Decimal(0))


def check_receipt(line: PoLine, item: str, qty: Decimal, tolerance: Decimal) -> Decimal:
    """The line's received quantity after receiving ``qty`` of ``item``; refuses a wrong item (400)
    and an over-receipt beyond ``tolerance`` (409)."""
    if item != line.item:
        raise InputError(f"purchase order line {line.purchase_order}/{line.line_no} orders {line.item}, not {item}")
    if qty <= 0:
        raise InputError(f"a receipt against a purchase order line needs a positive quantity, got {qty}")
    after = line.received_qty + qty
    limit = line.qty * (1 + tolerance)
    if after > limit:
        raise OverReceiptError(
            f"receiving {qty} would bring purchase order line {line.purchase_order}/{line.line_no} to {after} "
            f"of {line.qty} ordered (at most {limit} with the {tolerance * 100}% tolerance)",
            {"ordered": str(line.qty), "received": str(line.received_qty), "qty": str(qty), "limit": str(limit)})
    return after


def is_past_due(line: PoLine, today: date, grace_days: int = 0) -> bool:
    """Not fully received and more than ``grace_days`` past its due date."""
    return open_qty(line) > 0 and (today - line.due).days > grace_days
