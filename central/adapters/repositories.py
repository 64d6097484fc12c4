"""SQLAlchemy repositories behind :mod:`central.service_layer.unit_of_work`'s interfaces.

Each takes the unit of work's session; the queries are the ones the services ran inline before.
Nothing here imports the service layer. :func:`load_order` is the one copy of the work-order
query (``costing.orders`` re-exports it); the master data is read through the cached
:func:`central.adapters.master_snapshot.snapshot`. A locked read is ``FOR UPDATE`` on
PostgreSQL; SQLite's write transactions already hold the database lock (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central.adapters.db.dialect import for_update, upsert_insert
from central.adapters.db.models_access import ApiTokenRow
from central.adapters.db.models_costing import (
    DispatchRow,
    EventPostingRow,
    EventPostingStatus,
    JournalEntryRow,
    MasterRecordRow,
    MasterVersionRow,
    OpRecordRow,
    PeriodRow,
    WorkOrderRow,
)
from central.adapters.db.models_governance import ApprovalRow
from central.adapters.db.models_ingest import AlertRow, EdgeRow, MachineRow
from central.adapters.db.models_pricing import SellingPriceRow
from central.adapters.db.models_purchasing import (
    PurchaseOrderLineRow,
    PurchaseOrderReceiptRow,
    PurchaseOrderRow,
    WebhookDeliveryRow,
    WebhookRow,
)
from central.adapters.db.models_recommendations import AnomalyPointRow, RecommendationRow
from central.adapters.master_snapshot import snapshot
from central.domain.anomaly import PointStatus
from central.domain.governance import Status
from central.domain.master_snapshot import Snapshot
from central.domain.selling_prices import SellingPrice

__all__ = [
    "SqlWorkOrderRepository",
    "SqlDispatchRepository",
    "SqlEventPostingRepository",
    "SqlRecordRepository",
    "SqlPeriodRepository",
    "SqlMasterDataRepository",
    "SqlApprovalRepository",
    "SqlTokenRepository",
    "SqlAlertRepository",
    "SqlWebhookRepository",
    "SqlPurchaseOrderRepository",
    "SqlSellingPriceRepository",
    "SqlEdgeRepository",
    "SqlRecommendationRepository",
    "load_order",
]


def load_order(session: Session, order_id: str, *, lock: bool = True) -> WorkOrderRow | None:
    """The order, row-locked (``lock``) where the database has row locks (SQLite locks the whole
    database for the writing transaction instead)."""
    stmt = select(WorkOrderRow).where(WorkOrderRow.id == order_id)
    return session.scalars(for_update(session, stmt) if lock else stmt).first()


class SqlWorkOrderRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, order_id: str, *, lock: bool = True) -> WorkOrderRow | None:
        return load_order(self._session, order_id, lock=lock)

    def add(self, order: WorkOrderRow) -> None:
        self._session.add(order)
        self._session.flush()


class SqlDispatchRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def running_on(self, machine: str, at: datetime) -> DispatchRow | None:
        return self._session.scalars(select(DispatchRow).where(
            DispatchRow.machine == machine, (DispatchRow.end.is_(None)) | (DispatchRow.end > at))).first()

    def open_for(self, order_id: str) -> DispatchRow | None:
        return self._session.scalars(select(DispatchRow).where(
            DispatchRow.work_order == order_id, DispatchRow.end.is_(None))).first()

    def add(self, dispatch: DispatchRow) -> None:
        self._session.add(dispatch)
        self._session.flush()


class SqlEventPostingRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, event_id: int) -> EventPostingRow | None:
        return self._session.get(EventPostingRow, event_id)

    def unassigned_since(self, machine: str, since: datetime) -> list[EventPostingRow]:
        return list(self._session.scalars(select(EventPostingRow).where(
            EventPostingRow.machine == machine, EventPostingRow.status == EventPostingStatus.UNASSIGNED,
            EventPostingRow.ts >= since).order_by(EventPostingRow.ts)))

    def posted_since(self, order_id: str, machine: str, since: datetime) -> list[EventPostingRow]:
        return list(self._session.scalars(select(EventPostingRow).where(
            EventPostingRow.work_order == order_id, EventPostingRow.machine == machine,
            EventPostingRow.status == EventPostingStatus.POSTED, EventPostingRow.ts >= since)))


class SqlRecordRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, record: OpRecordRow) -> None:
        self._session.add(record)
        self._session.flush()


class SqlPeriodRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, period_id: str, *, lock: bool = False) -> PeriodRow | None:
        if lock:
            return self._session.get(PeriodRow, period_id, with_for_update=True, populate_existing=True)
        return self._session.get(PeriodRow, period_id)

    def covering(self, entity: str | None, day: date) -> PeriodRow | None:
        stmt = select(PeriodRow).where(PeriodRow.start <= day, PeriodRow.end >= day)
        rows = [p for p in self._session.scalars(stmt) if p.entity in (None, entity)]
        return rows[0] if rows else None

    def add(self, period: PeriodRow) -> None:
        self._session.add(period)
        self._session.flush()

    def add_if_absent(self, period: PeriodRow) -> PeriodRow:
        values = {"id": period.id, "entity": period.entity, "start": period.start, "end": period.end,
                  "status": period.status}
        self._session.execute(upsert_insert(self._session, PeriodRow).values(**values)
                              .on_conflict_do_nothing(index_elements=["id"]))
        stored = self._session.get(PeriodRow, period.id, populate_existing=True)
        if stored is None:  # pragma: no cover - the insert or the other writer's row is there
            raise RuntimeError(f"period {period.id} neither inserted nor found")
        return stored


class SqlMasterDataRepository:
    """Master records, periods and versions; the snapshot is the cached one."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def snapshot(self) -> Snapshot:
        return snapshot(self._session)

    def stored(self) -> dict[str, dict[str, dict[str, Any]]]:
        stored: dict[str, dict[str, dict[str, Any]]] = {}
        for row in self._session.scalars(select(MasterRecordRow)):
            stored.setdefault(row.section, {})[row.key] = row.data
        return stored

    def period_records(self) -> list[dict[str, Any]]:
        return [
            {"id": p.id, "start": p.start.isoformat(), "end": p.end.isoformat(), "entity": p.entity,
             "status": p.status}
            for p in self._session.scalars(select(PeriodRow).order_by(PeriodRow.start))
        ]

    def entity_has_entries(self, entity: str) -> bool:
        found = self._session.scalar(select(JournalEntryRow.id).where(JournalEntryRow.entity == entity).limit(1))
        return found is not None

    def current_version(self) -> int:
        return int(self._session.scalar(select(func.max(MasterVersionRow.id))) or 0)

    def save(
        self, changes: Sequence[tuple[str, str, dict[str, Any], bool]], periods: Sequence[Mapping[str, Any]],
        machines: Sequence[Mapping[str, Any]], *, user: str, now: datetime,
    ) -> None:
        session = self._session
        for section, key, record, created in changes:
            row = None if created else session.get(MasterRecordRow, (section, key))
            if row is None:
                session.add(MasterRecordRow(section=section, key=key, data=record, version=0, updated=now,
                                            updated_by=user))
            else:
                row.data, row.version, row.updated, row.updated_by = record, 0, now, user
        for p in periods:
            period = session.get(PeriodRow, p["id"])
            if period is None:
                session.add(PeriodRow(id=p["id"], entity=p["entity"], start=p["start"], end=p["end"], status="open"))
            else:
                period.start, period.end, period.entity = p["start"], p["end"], p["entity"]
        for m in machines:
            machine = session.get(MachineRow, m["id"])
            if machine is None:
                session.add(MachineRow(id=m["id"], plant=m["plant"], edge=m["edge"], work_center=m["work_center"],
                                       max_event_qty=m["max_event_qty"]))
            else:
                machine.plant, machine.edge, machine.work_center = m["plant"], m["edge"], m["work_center"]
                machine.max_event_qty = m["max_event_qty"]
            if m["edge"] is not None and session.get(EdgeRow, m["edge"]) is None:
                session.add(EdgeRow(id=m["edge"], plant=m["plant"], registered=now))
                session.flush()

    def add_version(self, *, user: str, source: str, sections: dict[str, dict[str, int]], now: datetime) -> int:
        session = self._session
        version = MasterVersionRow(created=now, user=user, source=source, summary=sections)
        session.add(version)
        session.flush()
        for row in session.scalars(select(MasterRecordRow).where(MasterRecordRow.version == 0)):
            row.version = version.id
        return version.id


class SqlApprovalRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, approval_id: int, *, lock: bool = False) -> ApprovalRow | None:
        if lock:
            return self._session.get(ApprovalRow, approval_id, with_for_update=True, populate_existing=True)
        return self._session.get(ApprovalRow, approval_id)

    def pending(self, kind: str, digest: str) -> ApprovalRow | None:
        return self._session.scalars(
            select(ApprovalRow).where(ApprovalRow.payload_digest == digest, ApprovalRow.kind == kind,
                                      ApprovalRow.status == Status.PENDING).order_by(ApprovalRow.id).limit(1)
        ).first()

    def add(self, row: ApprovalRow) -> None:
        self._session.add(row)
        self._session.flush()


class SqlTokenRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, token_id: str, *, lock: bool = False) -> ApiTokenRow | None:
        if lock:
            return self._session.get(ApiTokenRow, token_id, with_for_update=True, populate_existing=True)
        return self._session.get(ApiTokenRow, token_id)

    def add(self, row: ApiTokenRow) -> None:
        self._session.add(row)
        self._session.flush()


class SqlAlertRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, alert_id: int, *, lock: bool = False) -> AlertRow | None:
        return self._session.get(AlertRow, alert_id, with_for_update=lock)

    def open_with_key(self, key: str) -> AlertRow | None:
        return self._session.scalar(select(AlertRow).where(AlertRow.key == key, AlertRow.acked_at.is_(None),
                                                           AlertRow.status == "open").order_by(AlertRow.id).limit(1))

    def active_with_key(self, key: str) -> AlertRow | None:
        return self._session.scalar(select(AlertRow).where(AlertRow.key == key,
                                                           AlertRow.status.in_(("open", "acknowledged")))
                                    .order_by(AlertRow.id).limit(1))

    def any_with_key(self, key: str) -> bool:
        return self._session.scalar(select(AlertRow.id).where(AlertRow.key == key).limit(1)) is not None

    def add(self, row: AlertRow) -> None:
        self._session.add(row)
        self._session.flush()

    def plant_of_machine(self, machine: str) -> str | None:
        row = self._session.get(MachineRow, machine)
        return row.plant if row is not None else None


class SqlWebhookRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, webhook_id: int) -> WebhookRow | None:
        return self._session.get(WebhookRow, webhook_id)

    def add(self, row: WebhookRow) -> None:
        self._session.add(row)
        self._session.flush()

    def active(self) -> list[WebhookRow]:
        return list(self._session.scalars(select(WebhookRow).where(WebhookRow.active.is_(True))
                                          .order_by(WebhookRow.id)))

    def add_delivery(self, row: WebhookDeliveryRow) -> None:
        self._session.add(row)


class SqlPurchaseOrderRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, po_id: str) -> PurchaseOrderRow | None:
        return self._session.get(PurchaseOrderRow, po_id)

    def add(self, po: PurchaseOrderRow, lines: Sequence[PurchaseOrderLineRow]) -> None:
        self._session.add(po)
        self._session.flush()
        self._session.add_all(lines)
        self._session.flush()

    def lines(self, po_id: str) -> list[PurchaseOrderLineRow]:
        return list(self._session.scalars(select(PurchaseOrderLineRow)
                                          .where(PurchaseOrderLineRow.purchase_order == po_id)
                                          .order_by(PurchaseOrderLineRow.line_no)))

    def line(self, line_id: int, *, lock: bool = False) -> PurchaseOrderLineRow | None:
        stmt = select(PurchaseOrderLineRow).where(PurchaseOrderLineRow.id == line_id)
        return self._session.scalar(for_update(self._session, stmt) if lock else stmt)

    def receipts(self, line_ids: Sequence[int]) -> list[PurchaseOrderReceiptRow]:
        if not line_ids:
            return []
        return list(self._session.scalars(select(PurchaseOrderReceiptRow)
                                          .where(PurchaseOrderReceiptRow.line_id.in_(line_ids))
                                          .order_by(PurchaseOrderReceiptRow.record_id)))

    def add_receipt(self, row: PurchaseOrderReceiptRow) -> None:
        self._session.add(row)
        self._session.flush()


class SqlSellingPriceRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def all(self, product: str | None = None) -> list[SellingPrice]:
        stmt = select(SellingPriceRow).order_by(SellingPriceRow.product, SellingPriceRow.valid_from)
        if product is not None:
            stmt = stmt.where(SellingPriceRow.product == product)
        return [SellingPrice(r.product, r.price, r.valid_from, r.currency) for r in self._session.scalars(stmt)]

    def save(self, price: SellingPrice, *, version: int, user: str, now: datetime) -> None:
        row = self._session.get(SellingPriceRow, (price.product, price.valid_from))
        if row is None:
            self._session.add(SellingPriceRow(product=price.product, valid_from=price.valid_from, price=price.price,
                                              currency=price.currency, version=version, updated=now, updated_by=user))
        else:
            row.price, row.currency, row.version, row.updated, row.updated_by = (
                price.price, price.currency, version, now, user)
        self._session.flush()


class SqlEdgeRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, edge: str) -> EdgeRow | None:
        return self._session.get(EdgeRow, edge)

    def add(self, row: EdgeRow) -> None:
        self._session.add(row)
        self._session.flush()


class SqlRecommendationRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, rec_id: int, *, lock: bool = False) -> RecommendationRow | None:
        return self._session.get(RecommendationRow, rec_id, with_for_update=lock)

    def flagged_points(self, rec_id: int) -> list[AnomalyPointRow]:
        return list(self._session.scalars(select(AnomalyPointRow).where(
            AnomalyPointRow.recommendation_id == rec_id, AnomalyPointRow.status == PointStatus.FLAGGED.value)))
