"""Tables of issue 14's decision support (migration ``0011_recommendations``):

* ``anomaly_points``: every observation of a metric (per machine, item, component, order window),
  with its place in the baseline (``status``: normal, flagged, dismissed_normal, excluded);
* ``anomaly_cursors``: per running order, the cumulative figures at its last observation (the
  next window starts there);
* ``recommendations``: what the detectors suggest, with baseline, value, threshold and evidence,
  and the person's decision (acknowledged, dismissed with a reason, escalated to an alert).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from central.adapters.db.base import Base, BigId, UtcDateTime
from central.adapters.db.models_costing import ID, Micros

__all__ = ["AnomalyPointRow", "AnomalyCursorRow", "RecommendationRow"]


class AnomalyPointRow(Base):
    __tablename__ = "anomaly_points"
    __table_args__ = (Index("ix_anomaly_points_series", "metric", "machine", "item", "component", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    metric: Mapped[str] = mapped_column(String(32))
    machine: Mapped[str] = mapped_column(ID)
    item: Mapped[str] = mapped_column(ID)
    component: Mapped[str] = mapped_column(ID, default="")  # material_per_unit only; "" otherwise
    work_order: Mapped[str] = mapped_column(ID)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    shift: Mapped[int] = mapped_column(Integer)
    value: Mapped[Decimal] = mapped_column(Micros)
    units: Mapped[Decimal] = mapped_column(Micros)
    status: Mapped[str] = mapped_column(String(20))
    recommendation_id: Mapped[int | None] = mapped_column(BigId, nullable=True, index=True)


class AnomalyCursorRow(Base):
    __tablename__ = "anomaly_cursors"

    work_order: Mapped[str] = mapped_column(ID, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    figures: Mapped[dict[str, Any]] = mapped_column(JSON)  # good, scrap, run_hours, issued {item: qty}


class RecommendationRow(Base):
    __tablename__ = "recommendations"
    __table_args__ = (Index("ix_recommendations_status_id", "status", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))  # anomaly
    metric: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(200), index=True)
    machine: Mapped[str | None] = mapped_column(ID, nullable=True)
    item: Mapped[str | None] = mapped_column(ID, nullable=True)
    component: Mapped[str | None] = mapped_column(ID, nullable=True)
    work_order: Mapped[str | None] = mapped_column(ID, nullable=True)
    plant: Mapped[str | None] = mapped_column(ID, nullable=True)
    message: Mapped[str] = mapped_column(Text)
    value: Mapped[str] = mapped_column(String(40))
    threshold: Mapped[str] = mapped_column(String(40))
    baseline: Mapped[dict[str, Any]] = mapped_column(JSON)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    count: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # open | acknowledged | dismissed | escalated
    created: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    alert_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
