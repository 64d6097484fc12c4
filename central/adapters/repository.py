"""The repositories the unit of work carries, as protocols: what the handlers are written against.

As in cosmicpython's ``adapters/repository.py``, the abstraction lives beside its implementations:
:mod:`central.adapters.repositories` and :mod:`central.adapters.event_repository` implement these
in SQL, ``tests/support/fake_uow.py`` over dicts and lists. The service layer imports them (its
face is :mod:`central.service_layer.unit_of_work`); nothing here imports the service layer.

Most repositories hand out ORM rows, loaded and changed in the unit of work's session. The events
repository is set-level instead: the ingest stores hundreds of events per batch, and the pure
:class:`~central.domain.stream_cursor.StreamCursor` decides what happens to each; every method is
one or two Core statements, applying its decisions (values of :mod:`central.domain.stored_events`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Protocol

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
from central.domain.principal import Actor
from central.domain.selling_prices import SellingPrice
from central.domain.stored_events import MachineLimit, OpenGap, RejectedEvent, StoredEvent, StreamState

__all__ = [
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
    "EventRepository",
]


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
    """Alerts: raised (occurrences and the rule evaluator's findings) and decided."""

    def get(self, alert_id: int, *, lock: bool = False) -> AlertRow | None:
        """The alert; ``lock`` reads it row-locked (a decision)."""
        ...

    def open_with_key(self, key: str) -> AlertRow | None:
        """The oldest open, unacknowledged alert with this stored key (an occurrence merges into it)."""
        ...

    def active_with_key(self, key: str) -> AlertRow | None:
        """The oldest active (open or acknowledged) alert with this stored key (a rule's finding
        refreshes it)."""
        ...

    def any_with_key(self, key: str) -> bool:
        """Whether any alert, in any state, ever had this stored key (a one-off fact opens once)."""
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
        """Queue a record (see :func:`central.adapters.audit_log.record`)."""
        ...



class EventRepository(Protocol):
    def edge_plant(self, edge: str) -> str | None:
        """The plant ``edge`` is registered in, or None when it is not registered."""
        ...

    def lock_stream(self, stream: str) -> StreamState | None:
        """The stream's cursor row, locked for the transaction (``FOR UPDATE`` where rows lock)."""
        ...

    def create_stream(self, stream: str, edge: str, plant: str, now: datetime) -> None:
        """Insert the cursor row of a new stream (nothing when a concurrent batch just did)."""
        ...

    def save_stream(self, stream: str, *, acked_through: int, last_seq: int, accepted: int, duplicates: int,
                    rejected: int, now: datetime) -> None:
        """Write the cursor a batch reached and add its counts (one ``UPDATE``)."""
        ...

    def held(self, edge: str, stream: str, above: int) -> list[tuple[int, str]]:
        """``(seq, status)`` of the stream's events stored above seq ``above``."""
        ...

    def stored_seqs(self, edge: str, stream: str, lo: int, hi: int) -> set[int]:
        """Which seqs in ``[lo, hi]`` are stored."""
        ...

    def machines(self, machines: Collection[str]) -> list[MachineLimit]:
        """Owner and qty bound of each known machine among ``machines``."""
        ...

    def insert(self, rows: Sequence[Mapping[str, Any]]) -> dict[int, int]:
        """Insert event rows of one stream (column values, ``seq`` ascending); their ids by seq."""
        ...

    def accept_pending(self, edge: str, stream: str, above: int, through: int, now: datetime) -> list[StoredEvent]:
        """Accept the stream's pending events with seq in ``(above, through]`` (a gap filled);
        they are returned accepted, in seq order."""
        ...

    def close_gaps(self, stream: str, through: int, now: datetime) -> None:
        """Close the stream's open gaps that end at or below ``through`` (filled)."""
        ...

    def open_gaps(self, edge: str, stream: str, gaps: Sequence[tuple[int, int]], now: datetime) -> None:
        """Record the runs of missing seqs a batch opened."""
        ...

    def reject(self, rows: Sequence[Mapping[str, Any]], *, mark: bool = False) -> None:
        """Insert ``rejected_events`` rows; ``mark``: also set those events' status to rejected
        (a posting the costing layer refused after they were stored as accepted)."""
        ...

    # --- a controller's operations (accept a gap, replay a rejected event): one stream, rarely

    def open_gaps_of(self, stream: str) -> list[OpenGap]:
        """The stream's open gaps, by first seq."""
        ...

    def settle_gap(self, gap_id: int, *, resolution: str, by: str, reason: str, now: datetime) -> None:
        """Close a gap a controller's acceptance settled (``accepted`` or ``filled``)."""
        ...

    def trim_gap(self, gap_id: int, from_seq: int) -> None:
        """Move an open gap's first seq up (the cursor moved into it)."""
        ...

    def advance_stream(self, stream: str, *, accepted: int, skipped: int = 0, acked_through: int | None = None) -> None:
        """Add to the stream's ``accepted`` and ``skipped`` counts; move its cursor to
        ``acked_through`` when given."""
        ...

    def rejected(self, rejected_id: int) -> RejectedEvent | None:
        """A stored rejection, locked for the transaction."""
        ...

    def replace_event(self, event_id: int, values: Mapping[str, Any]) -> StoredEvent:
        """Overwrite the stored event's columns with ``values`` (a replay's corrected event,
        ``status`` and ``accepted_at`` included); the event as it is now."""
        ...

    def mark_replayed(self, rejected_id: int, by: str, now: datetime) -> None:
        """Mark a rejection replayed by ``by`` at ``now``."""
        ...
