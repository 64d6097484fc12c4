"""Selling prices (master data ``selling_prices``, issue 15's margin report): one row per product
and ``valid_from`` day. The price is a unit price in the currency of the product's entity, stored
as integer millionths (:class:`~central.adapters.db.models_costing.Micros`) like every price."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from central.adapters.db.base import Base, UtcDateTime
from central.adapters.db.models_costing import Micros

__all__ = ["SellingPriceRow"]


class SellingPriceRow(Base):
    """The price of ``product`` per good unit from ``valid_from`` on (until the next row's day)."""

    __tablename__ = "selling_prices"

    product: Mapped[str] = mapped_column(String(64), primary_key=True)
    valid_from: Mapped[date] = mapped_column(Date, primary_key=True)
    price: Mapped[Decimal] = mapped_column(Micros)
    currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    version: Mapped[int] = mapped_column(Integer)
    updated: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_by: Mapped[str] = mapped_column(String(64))
