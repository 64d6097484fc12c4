"""The audit log reads time from a clock, not ``datetime.now``: a record queued without ``at`` is
stamped by the clock its transaction was given (``attach_request``), else by the production clock;
an explicit ``at`` (a handler's ``uow.clock()``) wins. Queuing runs no SQL, so an unbound session
is enough here; writing the chain is covered by tests/integration/test_governance_*.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from central.service_layer.governance import audit

T = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)


def _queued(session: Session) -> list[tuple[str, datetime]]:
    state = session.info["sfsync.audit"]
    return [(q.action, q.at) for q in state.queued]


def test_records_are_stamped_by_the_transactions_clock() -> None:
    with Session() as session:
        ctx = audit.RequestContext("POST", "/api/v1/x", "", "d" * 64, None)
        audit.attach_request(session, ctx, clock=lambda: T)
        audit.record(session, "alice", "thing.do", "thing/1")
        audit.record(session, "alice", "thing.redo", "thing/1", at=T + timedelta(hours=1))
        assert _queued(session) == [("thing.do", T), ("thing.redo", T + timedelta(hours=1))]


def test_without_a_clock_the_production_clock_stamps() -> None:
    before = datetime.now(UTC)
    with Session() as session:
        audit.record(session, "alice", "thing.do", "thing/1")
        ((_, at),) = _queued(session)
    assert before <= at <= datetime.now(UTC)


def test_the_session_audit_log_passes_the_handlers_time() -> None:
    with Session() as session:
        audit.SessionAuditLog(session).record("alice", "thing.do", "thing/1", {"n": 1}, at=T)
        assert _queued(session) == [("thing.do", T)]
