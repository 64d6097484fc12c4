"""The unit of work: one transaction, the repositories that read and write in it, and the clock.

Handlers take ``(command, uow)`` and never see a ``Session``: inside ``with uow:`` they load
aggregates through the repositories, change them, and call ``uow.commit()`` once; leaving the
block without it rolls back. Time comes from ``uow.clock`` so a test can fix it.

This module is the service layer's name for the interface; the definitions live in the adapters
beside their implementations (as cosmicpython keeps its abstract repository in ``adapters``), so
no adapter imports the service layer: :class:`AbstractUnitOfWork` and the SQL implementation in
:mod:`central.adapters.unit_of_work`, the repositories' protocols in
:mod:`central.adapters.repository`, the clock in :mod:`central.adapters.clock`. Handler tests
use small fakes of the same interface (``tests/support/fake_uow.py``).
"""

from __future__ import annotations

from central.adapters.clock import Clock, utc_now
from central.adapters.repository import (
    AlertRepository,
    ApprovalRepository,
    AuditLog,
    DispatchRepository,
    EdgeRepository,
    EventPostingRepository,
    EventRepository,
    MasterChange,
    MasterDataRepository,
    PeriodRepository,
    PurchaseOrderRepository,
    RecommendationRepository,
    RecordRepository,
    SellingPriceRepository,
    TokenRepository,
    WebhookRepository,
    WorkOrderRepository,
)
from central.adapters.unit_of_work import AbstractUnitOfWork
from central.domain.principal import Actor

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
    "EventRepository",
    "AuditLog",
    "Actor",
]
