"""The SQLAlchemy unit of work: one session, one transaction per ``with``.

Two ways to get one:

* ``SqlAlchemyUnitOfWork(session_factory, clock)`` owns its transaction: ``with uow:`` (the
  handler's) opens a session from the factory and begins; ``uow.commit()`` commits; leaving the
  block without a commit (or by an exception) rolls back. So
  ``handler(command, SqlAlchemyUnitOfWork(container.write_sessions))`` is one transaction; the
  write sessions begin ``IMMEDIATE`` on SQLite, exactly as ``SessionDep`` does for a write
  request.
* ``SqlAlchemyUnitOfWork.joining(session, clock)`` works inside a transaction someone else owns,
  the API request's (``UnitOfWorkDep``): authentication and the audit row of a write request
  share that transaction with the handler, so there is still one transaction per request.
  ``with uow:`` neither begins nor ends anything and ``commit()`` flushes; the owner commits
  when the route returns (before the response is sent) and rolls back when it raises, as before.

:class:`AbstractUnitOfWork` is what handlers are written against (the service layer names it
``central.service_layer.unit_of_work.AbstractUnitOfWork``); the handler tests' fake implements
it over dicts. Like every adapter, this module imports nothing of the service layer: the
repositories' protocols are :mod:`central.adapters.repository`, the audit log that queues records
on the session is :class:`central.adapters.audit_log.SessionAuditLog`, the clock
:mod:`central.adapters.clock`.

``session`` is a transitional seam: deeper costing calls (production posting, the journal
writer, stock moves) still take a SQLAlchemy session until they are converted; a fake unit of
work refuses it, so a handler test shows which paths still need the database.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Self

from sqlalchemy.orm import Session

from central.adapters.audit_log import SessionAuditLog
from central.adapters.clock import Clock, utc_now
from central.adapters.event_repository import SqlEventRepository
from central.adapters.repositories import (
    SqlAlertRepository,
    SqlApprovalRepository,
    SqlDispatchRepository,
    SqlEdgeRepository,
    SqlEventPostingRepository,
    SqlMasterDataRepository,
    SqlPeriodRepository,
    SqlPurchaseOrderRepository,
    SqlRecommendationRepository,
    SqlRecordRepository,
    SqlSellingPriceRepository,
    SqlTokenRepository,
    SqlWebhookRepository,
    SqlWorkOrderRepository,
)
from central.adapters.repository import (
    AlertRepository,
    ApprovalRepository,
    AuditLog,
    DispatchRepository,
    EdgeRepository,
    EventPostingRepository,
    EventRepository,
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

__all__ = ["AbstractUnitOfWork", "SqlAlchemyUnitOfWork"]


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


class SqlAlchemyUnitOfWork(AbstractUnitOfWork):
    def __init__(self, session_factory: Callable[[], Session], clock: Clock = utc_now) -> None:
        self._factory = session_factory
        self._joined = False
        self._session: Session | None = None
        self.clock = clock

    @classmethod
    def joining(cls, session: Session, clock: Clock = utc_now) -> SqlAlchemyUnitOfWork:
        """A unit of work inside ``session``'s current transaction (its owner commits)."""
        uow = cls(lambda: session, clock)
        uow._joined = True
        uow._session = session
        uow._bind(session)
        return uow

    def _bind(self, session: Session) -> None:
        self.work_orders = SqlWorkOrderRepository(session)
        self.dispatches = SqlDispatchRepository(session)
        self.event_postings = SqlEventPostingRepository(session)
        self.records = SqlRecordRepository(session)
        self.periods = SqlPeriodRepository(session)
        self.master = SqlMasterDataRepository(session)
        self.approvals = SqlApprovalRepository(session)
        self.tokens = SqlTokenRepository(session)
        self.alerts = SqlAlertRepository(session)
        self.webhooks = SqlWebhookRepository(session)
        self.purchase_orders = SqlPurchaseOrderRepository(session)
        self.selling_prices = SqlSellingPriceRepository(session)
        self.edges = SqlEdgeRepository(session)
        self.recommendations = SqlRecommendationRepository(session)
        self.audit = SessionAuditLog(session)
        self.events = SqlEventRepository(session)

    @property
    def session(self) -> Session:
        if self._session is None:
            raise RuntimeError("the unit of work is not entered (use 'with uow:')")
        return self._session

    def __enter__(self) -> Self:
        if self._joined:
            return self
        if self._session is not None:
            raise RuntimeError("this unit of work is already in a transaction")
        self._session = self._factory()
        self._session.begin()
        self._bind(self._session)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._joined:
            return  # the owner of the joined transaction decides
        session, self._session = self._session, None
        if session is not None:
            try:
                if session.in_transaction():
                    session.rollback()
            finally:
                session.close()

    def commit(self) -> None:
        if self._joined:
            self.session.flush()
            return
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()
