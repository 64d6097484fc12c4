"""Approval, period-reopen and manual-journal handlers on a fake unit of work (no database).

Segregation of duties (the requester never approves; the approver needs the required role), a
decided request staying decided, the applier running in the approving unit of work with the
approval's time, reopening only what is closed and only by an admin, and a manual entry that is
validated in full (accounts, balance, open period) before anyone is asked to approve it. Posting
an approved manual entry writes the journal through the session, so that path is covered by the
integration tests (tests/integration/test_governance_*.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

import pytest

from central.adapters.db.models_costing import PeriodRow
from central.bootstrap import APPLIERS
from central.domain.commands import ApproveRequest, ProposeManualEntry, RejectRequest, RequestPeriodReopen
from central.domain.errors import DomainError, InputError, PeriodError
from central.errors import Conflict, Forbidden, InvalidInput, NotFound
from central.service_layer.governance.appliers import request_reopen
from central.service_layer.governance.approvals import (
    ApprovedRequest,
    approve_request,
    park_for_approval,
    register_appliers,
    reject_request,
)
from central.service_layer.governance.manual_journal import MANUAL_JOURNAL, propose_entry
from central.service_layer.unit_of_work import AbstractUnitOfWork
from tests.support.domain import worked_example_master
from tests.support.fake_uow import NOW, FakeUnitOfWork

KIND = "test_fake_uow_change"
applied: list[tuple[ApprovedRequest, str]] = []


def _apply(uow: AbstractUnitOfWork, req: ApprovedRequest) -> Mapping[str, Any]:
    applied.append((req, uow.clock().isoformat()))
    if req.payload.get("refuse"):
        raise Conflict("the change no longer applies", code="stale_change")
    return {"applied": req.payload["n"]}


register_appliers(APPLIERS)  # the production map, as bootstrap() registers it
register_appliers({KIND: _apply})


def _uow() -> FakeUnitOfWork:
    uow = FakeUnitOfWork(worked_example_master())
    for pid, start, end, status in [("2026-11", date(2026, 11, 1), date(2026, 11, 30), "open"),
                                    ("2026-10", date(2026, 10, 1), date(2026, 10, 31), "closed")]:
        uow.periods.rows[pid] = PeriodRow(id=pid, entity=None, start=start, end=end, status=status,
                                          closed_at=NOW - timedelta(days=2) if status == "closed" else None,
                                          closed_by="ctl" if status == "closed" else None)
    return uow


def _request(uow: FakeUnitOfWork, payload: dict[str, Any] | None = None, by: str = "alice") -> int:
    row = park_for_approval(uow, by, KIND, payload or {"n": 1}, "controller", summary="a change", target="thing/1")
    return row.id


# --- request ---------------------------------------------------------------------------------


def test_a_request_is_pending_stamped_and_audited() -> None:
    uow = _uow()
    row = uow.approvals.rows[_request(uow)]
    assert (row.status, row.requested_by, row.required_role, row.requested_at) == ("pending", "alice", "controller",
                                                                                   NOW)
    assert [(r.action, r.target, r.at) for r in uow.audit.records] == [("approval.request", f"approval/{row.id}", NOW)]


def test_the_same_pending_request_twice_is_one() -> None:
    uow = _uow()
    assert _request(uow) == _request(uow, by="bob")
    assert len(uow.approvals.rows) == 1
    assert _request(uow, {"n": 2}) != _request(uow)


def test_a_kind_nobody_applies_is_refused_before_anyone_waits() -> None:
    uow = _uow()
    with pytest.raises(Conflict, match="no applier is registered for approval kind 'nope'"):
        park_for_approval(uow, "alice", "nope", {}, "controller")
    assert uow.approvals.rows == {}


# --- approve / reject ------------------------------------------------------------------------


def test_approving_applies_in_the_unit_of_work_with_the_approval_time() -> None:
    uow = _uow()
    approval = _request(uow, {"n": 7})
    applied.clear()
    row = approve_request(ApproveRequest(approval, "bob", "controller", "fine"), uow)
    assert (row.status, row.decided_by, row.decided_role, row.decided_at, row.comment) == (
        "approved", "bob", "controller", NOW, "fine")
    assert row.result == {"applied": 7}
    (req, now_in_applier), = applied
    assert (req.requested_by, req.approved_by, req.approved_at, now_in_applier) == ("alice", "bob", NOW,
                                                                                  NOW.isoformat())
    assert uow.commits == 1
    assert uow.audit.records[-1].action == "approval.approve"


def test_the_requester_cannot_approve_their_own_request() -> None:
    uow = _uow()
    approval = _request(uow)
    applied.clear()
    with pytest.raises(Forbidden, match="segregation of duties") as caught:
        approve_request(ApproveRequest(approval, "alice", "controller"), uow)
    assert caught.value.code == "segregation_of_duties"
    assert (uow.approvals.rows[approval].status, applied, uow.commits) == ("pending", [], 0)


def test_the_approver_needs_the_required_role() -> None:
    uow = _uow()
    approval = _request(uow)
    with pytest.raises(Forbidden, match="needs the role 'controller'"):
        approve_request(ApproveRequest(approval, "bob", "planner"), uow)
    assert uow.approvals.rows[approval].status == "pending"


def test_a_refusing_applier_leaves_the_request_pending() -> None:
    uow = _uow()
    approval = _request(uow, {"n": 1, "refuse": True})
    with pytest.raises(Conflict, match="no longer applies"):
        approve_request(ApproveRequest(approval, "bob", "controller"), uow)
    row = uow.approvals.rows[approval]
    assert (row.status, row.decided_by, uow.commits) == ("pending", None, 0)
    assert uow.clock() == NOW  # the approval-time clock is put back


def test_a_decided_request_cannot_be_decided_again() -> None:
    uow = _uow()
    approval = _request(uow)
    approve_request(ApproveRequest(approval, "bob", "controller"), uow)
    with pytest.raises(Conflict, match="already approved") as caught:
        reject_request(RejectRequest(approval, "carol", "controller", "too late"), uow)
    assert caught.value.code == "approval_decided"


def test_an_unknown_request_is_not_found() -> None:
    with pytest.raises(NotFound, match="no approval request 99"):
        approve_request(ApproveRequest(99, "bob", "controller"), _uow())


def test_rejecting_needs_a_reason_and_the_requester_withdraws() -> None:
    uow = _uow()
    approval = _request(uow)
    with pytest.raises(InvalidInput, match="needs a reason"):
        reject_request(RejectRequest(approval, "bob", "controller", "  "), uow)
    row = reject_request(RejectRequest(approval, "alice", "controller", "changed my mind"), uow)
    assert (row.status, row.comment, uow.audit.records[-1].action) == ("rejected", "changed my mind",
                                                                       "approval.withdraw")


# --- period reopen ---------------------------------------------------------------------------


def test_reopening_needs_an_admin_and_a_closed_period() -> None:
    uow = _uow()
    with pytest.raises(Forbidden, match="needs the admin role"):
        request_reopen(RequestPeriodReopen("2026-10", "late invoice", "ctl", "controller"), uow)
    with pytest.raises(Conflict, match="2026-11 is open: nothing to reopen"):
        request_reopen(RequestPeriodReopen("2026-11", "late invoice", "root", "admin"), uow)
    with pytest.raises(NotFound, match="no period '2026-99'"):
        request_reopen(RequestPeriodReopen("2026-99", "late invoice", "root", "admin"), uow)
    assert (uow.approvals.rows, uow.commits) == ({}, 0)


def test_an_approved_reopen_opens_the_period() -> None:
    uow = _uow()
    asked = request_reopen(RequestPeriodReopen("2026-10", "late invoice", "root", "admin", "tok-root"), uow)
    assert (asked["period"], asked["status"], asked["approval"]["required_role"]) == ("2026-10", "closed",
                                                                                      "controller")
    assert uow.audit.records[-1].role == "admin"
    row = approve_request(ApproveRequest(asked["approval"]["id"], "ctl", "controller"), uow)
    period = uow.periods.rows["2026-10"]
    assert (period.status, period.closed_at, period.closed_by) == ("open", None, None)
    assert row.result is not None and row.result["was_closed_by"] == "ctl"


# --- manual journal --------------------------------------------------------------------------


def _entry(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"posting_date": "2026-11-10", "memo": "scrap sale",
                           "lines": [{"account": "1400", "debit": "12.50"}, {"account": "1300", "credit": "12.50"}]}
    doc.update(changes)
    return doc


def test_a_manual_entry_is_validated_and_parked_for_a_second_controller() -> None:
    uow = _uow()
    out = propose_entry(ProposeManualEntry(_entry(), "alice", "controller", "tok-a"), uow)
    assert out["entry"] == {"period": "2026-11", "entry_date": "2026-11-10", "entity": "E1", "total": "12.50",
                            "lines": 2}
    row = uow.approvals.rows[out["approval"]["id"]]
    assert (row.kind, row.required_role, row.target, row.payload["entity"]) == (MANUAL_JOURNAL, "controller",
                                                                                "period/2026-11", "E1")
    assert uow.commits == 1


@pytest.mark.parametrize(("changes", "error", "message"), [
    ({"lines": [{"account": "1400", "debit": "12.50"}, {"account": "1300", "credit": "12.49"}]}, DomainError,
     "balance|unbalanced|debits"),
    ({"lines": [{"account": "1400", "debit": "1.00"}]}, InputError, "at least two lines"),
    ({"lines": [{"account": "9999", "debit": "1.00"}, {"account": "1300", "credit": "1.00"}]}, InputError,
     r"lines\[0\].account: '9999' is not an account"),
    ({"posting_date": "2026-10-15"}, PeriodError, "period 2026-10 is closed"),
    ({"posting_date": "2027-03-01"}, PeriodError, "no accounting period covers 2027-03-01"),
])
def test_a_manual_entry_that_cannot_post_is_refused_before_approval(
    changes: dict[str, Any], error: type[Exception], message: str
) -> None:
    uow = _uow()
    with pytest.raises(error, match=message):
        propose_entry(ProposeManualEntry(_entry(**changes), "alice", "controller"), uow)
    assert (uow.approvals.rows, uow.commits) == ({}, 0)
