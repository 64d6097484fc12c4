"""Tables of issue 14: purchase orders and their lines (with the receipts against them), and
the webhook outbox (subscriptions, deliveries queued in the alert's transaction, the attempt log).

The alert lifecycle columns (status, assignee, comment, resolution) live on ``alerts`` itself
(``models_ingest.AlertRow``); migration ``0008_purchase_orders_alerts`` adds them and these tables.
A supplier invoice (a later step) will match ``purchase_order_lines`` through
``purchase_order_receipts`` (line, receipt record, qty) and its own ``invoiced_qty``.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from central.adapters.db.base import Base, BigId, UtcDateTime
from central.adapters.db.models_costing import ID, Micros

__all__ = [
    "PurchaseOrderRow",
    "PurchaseOrderLineRow",
    "PurchaseOrderReceiptRow",
    "WebhookRow",
    "WebhookDeliveryRow",
    "WebhookAttemptRow",
]


class PurchaseOrderRow(Base):
    __tablename__ = "purchase_orders"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    supplier: Mapped[str] = mapped_column(String(200))
    plant: Mapped[str | None] = mapped_column(ID, nullable=True)
    entity: Mapped[str | None] = mapped_column(ID, nullable=True)
    status: Mapped[str] = mapped_column(String(12))  # open | received | cancelled
    ref: Mapped[str] = mapped_column(String(200), default="")
    created: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(64))


class PurchaseOrderLineRow(Base):
    __tablename__ = "purchase_order_lines"
    __table_args__ = (UniqueConstraint("purchase_order", "line_no"), Index("ix_purchase_order_lines_item", "item"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    purchase_order: Mapped[str] = mapped_column(ForeignKey("purchase_orders.id"), index=True)
    line_no: Mapped[int] = mapped_column(Integer)
    item: Mapped[str] = mapped_column(ID)
    qty: Mapped[Decimal] = mapped_column(Micros)
    unit_price: Mapped[Decimal] = mapped_column(Micros)
    due: Mapped[date] = mapped_column(Date)
    received_qty: Mapped[Decimal] = mapped_column(Micros, default=Decimal(0))
    invoiced_qty: Mapped[Decimal] = mapped_column(Micros, default=Decimal(0))


class PurchaseOrderReceiptRow(Base):
    """One goods receipt (an ``op_records`` row) against one PO line."""

    __tablename__ = "purchase_order_receipts"

    record_id: Mapped[int] = mapped_column(ForeignKey("op_records.id"), primary_key=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("purchase_order_lines.id"), index=True)
    qty: Mapped[Decimal] = mapped_column(Micros)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)


class WebhookRow(Base):
    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(200))
    kinds: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty: every kind
    min_severity: Mapped[str] = mapped_column(String(8), default="warning")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(64))


class WebhookDeliveryRow(Base):
    """One alert change to send to one webhook: ``pending`` until ``sent`` or ``dead``."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_status_next", "status", "next_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id"), index=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    event: Mapped[str] = mapped_column(String(16))  # opened | acknowledged | resolved | ...
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(8))  # pending | sent | dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created: Mapped[datetime] = mapped_column(UtcDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class WebhookAttemptRow(Base):
    """The delivery log: one row per HTTP attempt."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    ok: Mapped[bool] = mapped_column(Boolean)
