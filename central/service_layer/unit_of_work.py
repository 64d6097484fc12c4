"""The unit of work: one transaction, the repositories that read and write in it, and the clock.

Handlers take ``(command, uow)`` and never see a ``Session``: inside ``with uow:`` they load
aggregates through the repositories, change them, and call ``uow.commit()`` once; leaving the
block without it rolls back. Time comes from ``uow.clock`` so a test can fix it.
:class:`central.adapters.unit_of_work.SqlAlchemyUnitOfWork` is the database implementation;
handler tests use small fakes of the same interface.

``session`` is a transitional seam: deeper costing calls (production posting, the journal
writer, stock moves) still take a SQLAlchemy session until they are converted; a fake unit of
work refuses it, so a handler test shows which paths still need the database.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime
from types import TracebackType
from typing import Any, Protocol, Self

from sqlalchemy.orm import Session

from central.adapters.db.models_access import ApiTokenRow
from central.adapters.db.models_costing import DispatchRow, EventPostingRow, OpRecordRow, PeriodRow, WorkOrderRow
from central.adapters.db.models_governance import ApprovalRow
from central.adapters.db.models_ingest import AlertRow, EdgeRow
from central.adapters.db.models_purchasing import (
    PurchaseOrderLineRow,
    PurchaseOrderReceiptRow,
    PurchaseOrderRow,
    WebhookDeliveryRow,
    WebhookRow,
)
from central.adapters.db.models_recommendations import AnomalyPointRow, RecommendationRow
from central.domain.master_snapshot import Snapshot
from central.domain.selling_prices import SellingPrice
from central.service_layer.access import Principal
from central.service_layer.clock import Clock, utc_now
from central.service_layer.event_store import EventRepository

__all__ = [
    "Clock",
    "utc_now",
    "AbstractUnitOfWork",
    "WorkOrderRepository",
    "DispatchRepository",
    "EventPostingRepository",
    "RecordRepository",
    "PeriodRepository",
    "MasterDataRepository",
    "MasterChange",
    "ApprovalRepository",
    "TokenRepository",
    "AlertRepository",
    "WebhookRepository",
    "PurchaseOrderRepository",
    "SellingPriceRepository",
    "EdgeRepository",
    "RecommendationRepository",
    "AuditLog",
    "Actor",
]

Actor = Principal | str
"""Who acted: the API principal, or a plain user name (CLI, background jobs)."""


class WorkOrderRepository(Protocol):
    """Work orders by id."""

    def get(self, order_id: str, *, lock: bool = True) -> WorkOrderRow | None:
        """The order, locked for the transaction where the dialect locks rows (``lock``)."""
        ...

    def add(self, order: WorkOrderRow) -> None:
        """Store a new order (flushed: a duplicate id fails here, not at commit)."""
        ...


class DispatchRepository(Protocol):
    """Which order runs on which machine from when to when."""

    def running_on(self, machine: str, at: datetime) -> DispatchRow | None:
        """A dispatch on ``machine`` still open, or ending after ``at``."""
        ...

    def open_for(self, order_id: str) -> DispatchRow | None:
        """The order's dispatch that has not ended."""
        ...

    def add(self, dispatch: DispatchRow) -> None:
        """Store a dispatch, flushed with the transaction's other changes: the postings that
        follow find the order by its dispatches."""
        ...


class EventPostingRepository(Protocol):
    """How each stored event posted (or why it waits)."""

    def get(self, event_id: int) -> EventPostingRow | None: ...

    def unassigned_since(self, machine: str, since: datetime) -> list[EventPostingRow]:
        """``machine``'s unassigned events at or after ``since``, oldest first."""
        ...

    def posted_since(self, order_id: str, machine: str, since: datetime) -> list[EventPostingRow]:
        """The order's events posted from ``machine`` at or after ``since``."""
        ...


class RecordRepository(Protocol):
    """Operational records (goods receipts, issues, bookings, overhead actuals)."""

    def add(self, record: OpRecordRow) -> None:
        """Store a record; its ``id`` is assigned on return."""
        ...


class PeriodRepository(Protocol):
    def get(self, period_id: str, *, lock: bool = False) -> PeriodRow | None:
        """The period; ``lock`` reads it again row-locked (a reopen, a close)."""
        ...

    def covering(self, entity: str | None, day: date) -> PeriodRow | None:
        """The period of ``entity`` (or of every entity) that ``day`` falls in."""
        ...

    def add(self, period: PeriodRow) -> None:
        """Store a new period (flushed)."""
        ...

    def add_if_absent(self, period: PeriodRow) -> PeriodRow:
        """Store ``period`` unless a period with its id exists (another process may create the same
        month at the same moment); the stored one either way."""
        ...


MasterChange = tuple[str, str, dict[str, Any], bool]
"""One master record to write: ``(section, key, record, created)``."""


class MasterDataRepository(Protocol):
    def snapshot(self) -> Snapshot:
        """The current master data as domain values."""
        ...

    def stored(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Every stored master record as JSON, by section and key."""
        ...

    def period_records(self) -> list[dict[str, Any]]:
        """Every period as JSON (``id``, ``start``, ``end``, ``entity``, ``status``), oldest first."""
        ...

    def entity_has_entries(self, entity: str) -> bool:
        """Whether any journal entry is posted in ``entity``."""
        ...

    def current_version(self) -> int: ...

    def save(
        self, changes: Sequence[MasterChange], periods: Sequence[Mapping[str, Any]],
        machines: Sequence[Mapping[str, Any]], *, user: str, now: datetime,
    ) -> None:
        """Write the changed records (version 0 until :meth:`add_version`), the file's periods
        (``id``, ``entity``, ``start``, ``end``) and machines (``id``, ``plant``, ``edge``,
        ``work_center``, ``max_event_qty``; an unknown edge is registered)."""
        ...

    def add_version(self, *, user: str, source: str, sections: dict[str, dict[str, int]], now: datetime) -> int:
        """A new master version holding every record written since the last one; its id."""
        ...


class ApprovalRepository(Protocol):
    """Approval requests."""

    def get(self, approval_id: int, *, lock: bool = False) -> ApprovalRow | None:
        """The request; ``lock`` reads it again row-locked (a decision)."""
        ...

    def pending(self, kind: str, digest: str) -> ApprovalRow | None:
        """The oldest pending request of ``kind`` for the same payload digest."""
        ...

    def add(self, row: ApprovalRow) -> None:
        """Store a new request; its ``id`` is assigned on return."""
        ...


class TokenRepository(Protocol):
    """API tokens (their hashes; never the secret)."""

    def get(self, token_id: str, *, lock: bool = False) -> ApiTokenRow | None:
        """The token; ``lock`` reads it again row-locked (a revocation)."""
        ...

    def add(self, row: ApiTokenRow) -> None:
        """Store a new token (flushed: a duplicate id fails here)."""
        ...


class AlertRepository(Protocol):
    """Alerts: raised and decided (the evaluator's findings still go through the session)."""

    def get(self, alert_id: int, *, lock: bool = False) -> AlertRow | None:
        """The alert; ``lock`` reads it row-locked (a decision)."""
        ...

    def open_with_key(self, key: str) -> AlertRow | None:
        """The oldest open, unacknowledged alert with this stored key (an occurrence merges into it)."""
        ...

    def add(self, row: AlertRow) -> None:
        """Store a new alert (flushed: its ``id`` is assigned on return)."""
        ...

    def plant_of_machine(self, machine: str) -> str | None:
        """The plant of a known machine."""
        ...


class WebhookRepository(Protocol):
    """Webhook subscriptions and the outbox of deliveries."""

    def get(self, webhook_id: int) -> WebhookRow | None: ...

    def add(self, row: WebhookRow) -> None:
        """Store a new subscription; its ``id`` is assigned on return."""
        ...

    def active(self) -> list[WebhookRow]:
        """The active subscriptions, by id."""
        ...

    def add_delivery(self, row: WebhookDeliveryRow) -> None:
        """Queue a delivery in the transaction."""
        ...


class PurchaseOrderRepository(Protocol):
    """Purchase orders, their lines and the receipts against the lines."""

    def get(self, po_id: str) -> PurchaseOrderRow | None: ...

    def add(self, po: PurchaseOrderRow, lines: Sequence[PurchaseOrderLineRow]) -> None:
        """Store an order with its lines (flushed: the lines get their ids)."""
        ...

    def lines(self, po_id: str) -> list[PurchaseOrderLineRow]:
        """The order's lines by line number."""
        ...

    def line(self, line_id: int, *, lock: bool = False) -> PurchaseOrderLineRow | None:
        """A line; ``lock`` reads it row-locked (a receipt against it)."""
        ...

    def receipts(self, line_ids: Sequence[int]) -> list[PurchaseOrderReceiptRow]:
        """The receipts against these lines, by receipt record."""
        ...

    def add_receipt(self, row: PurchaseOrderReceiptRow) -> None: ...


class SellingPriceRepository(Protocol):
    """Selling prices (their own table), as domain values."""

    def all(self, product: str | None = None) -> list[SellingPrice]:
        """Every stored price (of ``product`` when named), by product and day."""
        ...

    def save(self, price: SellingPrice, *, version: int, user: str, now: datetime) -> None:
        """Create or replace the price of ``(product, valid_from)``, stamped with the master-data
        ``version`` that loaded it."""
        ...


class EdgeRepository(Protocol):
    """Registered edge boxes."""

    def get(self, edge: str) -> EdgeRow | None: ...

    def add(self, row: EdgeRow) -> None:
        """Store a new edge (flushed)."""
        ...


class RecommendationRepository(Protocol):
    """Recommendations, for people's decisions (the detector writes them on its session)."""

    def get(self, rec_id: int, *, lock: bool = False) -> RecommendationRow | None:
        """The recommendation; ``lock`` reads it row-locked (a decision)."""
        ...

    def flagged_points(self, rec_id: int) -> list[AnomalyPointRow]:
        """The points behind it that are still flagged."""
        ...


class AuditLog(Protocol):
    """The audit log of the transaction: a record exists exactly when the transaction commits."""

    def record(self, actor: Actor, action: str, target: str, detail: Mapping[str, Any] | None = None, *,
               at: datetime, describes_request: bool = True) -> None:
        """Queue a record (see :func:`central.service_layer.governance.audit.record`)."""
        ...


class AbstractUnitOfWork(abc.ABC):
    """One transaction: ``with uow: ...; uow.commit()``; leaving without a commit rolls back."""

    work_orders: WorkOrderRepository
    dispatches: DispatchRepository
    event_postings: EventPostingRepository
    records: RecordRepository
    periods: PeriodRepository
    master: MasterDataRepository
    approvals: ApprovalRepository
    tokens: TokenRepository
    alerts: AlertRepository
    webhooks: WebhookRepository
    purchase_orders: PurchaseOrderRepository
    selling_prices: SellingPriceRepository
    edges: EdgeRepository
    recommendations: RecommendationRepository
    audit: AuditLog
    #: stored events and stream cursors, in bulk (the ingest handler's)
    events: EventRepository
    clock: Clock

    def __enter__(self) -> Self:
        return self

    def savepoint(self) -> AbstractContextManager[object]:
        """A nested transaction: leaving it by an exception undoes only what was done inside."""
        return self.session.begin_nested()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.rollback()

    @abc.abstractmethod
    def commit(self) -> None: ...

    @abc.abstractmethod
    def rollback(self) -> None: ...

    @property
    @abc.abstractmethod
    def session(self) -> Session:
        """The transaction's session, for costing calls not yet converted to repositories."""
