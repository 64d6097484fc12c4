"""Commands: what a caller asks the service layer to do, as plain immutable values.

Each command names an intent in the imperative; its handler (``central.service_layer``) takes it
with a unit of work. Fields are already parsed by the entry point (the API's request models);
the handler still validates what only it can judge (a positive quantity, a known machine).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from central.domain.anomaly import DismissReason

__all__ = [
    "CreateWorkOrder", "ReleaseWorkOrder", "StartWorkOrder", "StopWorkOrder", "CompleteWorkOrder",
    "AssignEvent", "AcceptSuspectEvent", "RejectSuspectEvent",
    "RecordGoodsReceipt", "IssueMaterial", "BookLabour", "RecordOverheadActual",
    "CloseWorkOrder", "ClosePeriod", "RequestPeriodReopen",
    "ProposeManualEntry", "ReverseJournalEntry",
    "LoadMasterData", "AddMasterRecord", "ReplaceMasterRecord",
    "ApproveRequest", "RejectRequest",
    "IssueToken", "RevokeToken",
    "AcknowledgeAlert", "AssignAlert", "ResolveAlert", "DismissAlert",
    "CreateWebhook", "DeactivateWebhook",
    "RegisterEdge", "AcceptGap", "ReplayRejectedEvent",
    "AcknowledgeRecommendation", "DismissRecommendation", "EscalateRecommendation",
]


# Work orders and dispatch (central.service_layer.costing.work_orders)


@dataclass(frozen=True, slots=True)
class CreateWorkOrder:
    item: str
    qty: Decimal
    user: str
    order_id: str | None = None
    """Default: a generated ``WO-...`` id."""
    due: date | None = None


@dataclass(frozen=True, slots=True)
class ReleaseWorkOrder:
    order_id: str
    user: str


@dataclass(frozen=True, slots=True)
class StartWorkOrder:
    order_id: str
    machine: str
    user: str
    at: datetime | None = None
    """When the order started on the machine (default now); a past ``at`` posts waiting events."""


@dataclass(frozen=True, slots=True)
class StopWorkOrder:
    order_id: str
    user: str
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CompleteWorkOrder:
    order_id: str
    user: str
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AssignEvent:
    """A controller assigns an unassigned count/scrap event to a work order."""

    event_id: int
    order_id: str
    user: str


@dataclass(frozen=True, slots=True)
class AcceptSuspectEvent:
    event_id: int
    user: str


@dataclass(frozen=True, slots=True)
class RejectSuspectEvent:
    event_id: int
    user: str


# Inputs that post (central.service_layer.costing.inputs)


@dataclass(frozen=True, slots=True)
class RecordGoodsReceipt:
    item: str
    qty: Decimal
    unit_price: Decimal
    ref: str
    user: str
    posting_date: date | None = None
    entity: str | None = None
    purchase_order_line: int | None = None
    """The purchase-order line this receipt is against (optional; the unit price stays the actual)."""


@dataclass(frozen=True, slots=True)
class IssueMaterial:
    """Issue a component to an order (a negative quantity returns it)."""

    order_id: str
    item: str
    qty: Decimal
    user: str
    posting_date: date | None = None


@dataclass(frozen=True, slots=True)
class BookLabour:
    work_center: str
    period: str
    hours: Decimal
    amount: Decimal
    user: str


@dataclass(frozen=True, slots=True)
class RecordOverheadActual:
    work_center: str
    period: str
    kind: str
    """``variable`` or ``fixed``."""
    amount: Decimal
    user: str


# Closing (central.service_layer.costing.closing, governance.appliers)


@dataclass(frozen=True, slots=True)
class CloseWorkOrder:
    """Close a completed order: post its variances and clear its WIP."""

    order_id: str
    user: str
    posting_date: date | None = None


@dataclass(frozen=True, slots=True)
class ClosePeriod:
    """Close an open period: per work centre, open orders' efficiency to date, then its variances;
    seal the ledger."""

    period_id: str
    user: str


@dataclass(frozen=True, slots=True)
class RequestPeriodReopen:
    """An admin asks to reopen a closed period (a controller other than them approves)."""

    period_id: str
    reason: str
    user: str
    role: str
    token_id: str | None = None


# Ledger (central.service_layer.costing.ledger, governance.manual_journal)


@dataclass(frozen=True, slots=True)
class ProposeManualEntry:
    """A controller proposes a manual journal entry; another controller approves it."""

    document: Mapping[str, Any]
    """The entry as JSON: ``entity``, ``posting_date``, ``memo``, ``lines`` (account, debit/credit, tags)."""
    user: str
    role: str
    token_id: str | None = None


@dataclass(frozen=True, slots=True)
class ReverseJournalEntry:
    entry_id: int
    reason: str
    user: str


# Master data (central.service_layer.costing.master_data)


@dataclass(frozen=True, slots=True)
class LoadMasterData:
    """Merge a master-data document into the stored set (a guarded change waits for approval)."""

    document: object
    """The document: its JSON mapping, or an already parsed ``MasterFile``."""
    user: str
    source: str = "api"
    routing_first: bool = True
    """Every manufactured item of the document needs its routing (a file); False for one record."""
    approved: bool = False
    """Applied by an approval: a guarded change is written, not parked again."""


@dataclass(frozen=True, slots=True)
class AddMasterRecord:
    """Add one record to a master-data section (``items``, ``boms``, ...); its key must be new."""

    section: str
    record: Mapping[str, Any]
    user: str


@dataclass(frozen=True, slots=True)
class ReplaceMasterRecord:
    """Replace the record of a section that ``record_id`` names."""

    section: str
    record_id: str
    record: Mapping[str, Any]
    user: str


# Approvals (central.service_layer.governance.approvals)


@dataclass(frozen=True, slots=True)
class ApproveRequest:
    approval_id: int
    user: str
    role: str
    comment: str | None = None
    token_id: str | None = None


@dataclass(frozen=True, slots=True)
class RejectRequest:
    """Reject a pending request (by its requester: withdraw it)."""

    approval_id: int
    user: str
    role: str
    reason: str
    token_id: str | None = None


# API tokens (central.service_layer.token_revocation)


@dataclass(frozen=True, slots=True)
class IssueToken:
    """Issue an API token for ``user`` with ``role`` that expires ``expires_in`` from now."""

    user: str
    role: str
    expires_in: timedelta


@dataclass(frozen=True, slots=True)
class RevokeToken:
    """An admin revokes a token (audited as ``token.revoke``)."""

    token_id: str
    user: str
    """Who revokes."""
    role: str | None = None
    actor_token_id: str | None = None
    """The revoking admin's own token (API), for the audit record."""


# Alerts (central.service_layer.alerts): people's decisions; the actor is ``user`` (with the
# ``role`` and ``token_id`` of an API caller, for the audit record)


@dataclass(frozen=True, slots=True)
class AcknowledgeAlert:
    """``open -> acknowledged``."""

    alert_id: int
    user: str
    comment: str | None = None
    role: str | None = None
    token_id: str | None = None


@dataclass(frozen=True, slots=True)
class AssignAlert:
    """Set the assignee of an open or acknowledged alert."""

    alert_id: int
    assignee: str
    user: str
    comment: str | None = None
    role: str | None = None
    token_id: str | None = None


@dataclass(frozen=True, slots=True)
class ResolveAlert:
    """``open|acknowledged -> resolved``."""

    alert_id: int
    user: str
    comment: str | None = None
    role: str | None = None
    token_id: str | None = None


@dataclass(frozen=True, slots=True)
class DismissAlert:
    """``open|acknowledged -> dismissed`` (not a real problem)."""

    alert_id: int
    user: str
    comment: str | None = None
    role: str | None = None
    token_id: str | None = None


# Webhook subscriptions (central.service_layer.webhooks)


@dataclass(frozen=True, slots=True)
class CreateWebhook:
    """Subscribe ``url`` to alert changes of ``kinds`` (empty: every kind) from ``min_severity`` up."""

    url: str
    secret: str
    kinds: tuple[str, ...]
    min_severity: str
    user: str


@dataclass(frozen=True, slots=True)
class DeactivateWebhook:
    """Stop sending to a webhook (its deliveries and their log stay)."""

    webhook_id: int
    user: str


# Edges (central.service_layer.ingest.operations)


@dataclass(frozen=True, slots=True)
class RegisterEdge:
    """Register an edge box in a plant (the same plant again: nothing changes)."""

    edge: str
    plant: str
    user: str


@dataclass(frozen=True, slots=True)
class AcceptGap:
    """Give up on the missing seqs of ``stream`` up to ``through`` (a controller, with a reason)."""

    stream: str
    through: int
    reason: str
    user: str


@dataclass(frozen=True, slots=True)
class ReplayRejectedEvent:
    """Validate a rejected event again (its stored body, or a corrected ``body`` keeping its
    seq) and post it when it passes."""

    rejected_id: int
    user: str
    body: Mapping[str, Any] | None = None


# Recommendations (central.service_layer.recommendations): people's decisions


@dataclass(frozen=True, slots=True)
class AcknowledgeRecommendation:
    """``open -> acknowledged``: someone is looking at it."""

    rec_id: int
    user: str
    comment: str | None = None
    role: str | None = None
    token_id: str | None = None


@dataclass(frozen=True, slots=True)
class DismissRecommendation:
    """``open|acknowledged -> dismissed``; ``reason`` decides what becomes of the flagged points."""

    rec_id: int
    reason: DismissReason
    user: str
    comment: str | None = None
    role: str | None = None
    token_id: str | None = None


@dataclass(frozen=True, slots=True)
class EscalateRecommendation:
    """``open|acknowledged -> escalated``: an ``anomaly`` alert with its evidence."""

    rec_id: int
    user: str
    comment: str | None = None
    role: str | None = None
    token_id: str | None = None
