"""The journal and its balances: ``GET /journal`` (entries with lines), ``GET /journal/{id}`` (with
lineage), ``POST /journal/{id}/reverse``, ``POST /journal`` (a controller proposes a manual entry,
another approves it) and ``GET /trial-balance``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import Field, StrictStr, StringConstraints

from central.domain.commands import ProposeManualEntry, ReverseJournalEntry
from central.entrypoints.api.deps import (
    Day,
    IdPath,
    OffsetQuery,
    Principal,
    PrincipalDep,
    SessionDep,
    UnitOfWorkDep,
    require_role,
)
from central.entrypoints.api.routers.approvals import PendingApprovalOut
from central.entrypoints.api.routers.inputs import InputRecordItem
from central.entrypoints.api.schemas import RESPONSE_CONFIG, RequestBody, ResponseBody, response_body_of
from central.service_layer.costing import ledger
from central.service_layer.costing.ledger import JournalEntryDetailView, JournalEntryView, JournalLineView
from central.service_layer.governance.manual_journal import propose_entry

__all__ = [
    "router", "ReverseIn", "JournalLineIn", "JournalIn", "ProposedEntryOut", "ManualEntryProposedOut",
    "JournalEntryOut", "JournalEntryDetailOut", "JournalPageOut", "TrialBalanceLineOut", "TrialBalanceOut",
    "JournalLineOut", "LineageEventOut", "LineageOut",
]

router = APIRouter(tags=["ledger"])

Controller = Annotated[Principal, Depends(require_role("controller"))]
Limit = Annotated[int, Query(ge=1, le=1000)]
Amount = Annotated[StrictStr, StringConstraints(pattern=r"^[0-9]{1,15}(\.[0-9]{1,2}0*)?$")]
"""A non-negative amount: plain notation, at most 15 integer digits and 2 places (API.md)."""


class ReverseIn(RequestBody):
    reason: str = Field(min_length=1, max_length=2000)


class JournalLineIn(RequestBody):
    account: str = Field(min_length=1, max_length=64)
    debit: Amount | None = None
    credit: Amount | None = None
    work_order: str | None = None
    item: str | None = None
    work_center: str | None = None
    memo: str | None = Field(default=None, max_length=500)


class JournalIn(RequestBody):
    lines: list[JournalLineIn] = Field(min_length=2, max_length=200)
    memo: str = Field(min_length=1, max_length=2000)
    posting_date: Day | None = None
    entity: str | None = None


class ProposedEntryOut(ResponseBody):
    """A manual entry as checked: its period, date, entity, total debit (money string) and line count."""

    period: str
    entry_date: str
    entity: str | None
    total: str
    lines: int


class ManualEntryProposedOut(ResponseBody):
    """The checked entry (as it will post) and the approval it waits for."""

    entry: ProposedEntryOut
    approval: PendingApprovalOut


class JournalLineOut(JournalLineView):
    """The service's :class:`~central.service_layer.costing.ledger.JournalLineView`."""

    __pydantic_config__ = RESPONSE_CONFIG  # type: ignore[misc]


class LineageEventOut(ResponseBody):
    """A machine event behind an entry, with the raw tag values the edge derived it from."""

    id: int
    edge: str
    stream: str
    seq: int
    machine: str | None
    kind: str | None
    ts: str | None
    qty: int | None
    state: str | None
    reason: str | None
    flags: list[str]
    raw: dict[str, Any] | None


class LineageOut(ResponseBody):
    """The operational record an entry posted from (None for manual entries) and its events."""

    record: InputRecordItem | None
    events: list[LineageEventOut]


class JournalEntryOut(JournalEntryView):
    """The service's :class:`~central.service_layer.costing.ledger.JournalEntryView` (its lines
    validate as the service's ``JournalLineView``)."""

    __pydantic_config__ = RESPONSE_CONFIG  # type: ignore[misc]


JournalEntryDetailOut = response_body_of(JournalEntryDetailView, "JournalEntryDetailOut", lines=list[JournalLineOut],
                                        lineage=LineageOut)
"""An entry with its lineage (the service's ``JournalEntryDetailView``): the operational record and
the machine events behind it."""


class JournalPageOut(ResponseBody):
    entries: list[JournalEntryOut]
    total: int
    limit: int
    offset: int


class TrialBalanceLineOut(ledger.TrialBalanceLine):
    __pydantic_config__ = RESPONSE_CONFIG  # type: ignore[misc]


TrialBalanceOut = response_body_of(ledger.TrialBalance, "TrialBalanceOut", lines=list[TrialBalanceLineOut])


@router.get("/journal", response_model=JournalPageOut, response_model_exclude_unset=True)
def get_journal(
    session: SessionDep, _who: PrincipalDep, period: str | None = None, account: str | None = None,
    work_order: str | None = None, entity: str | None = None, kind: str | None = None,
    limit: Limit = 100, offset: OffsetQuery = 0,
) -> object:
    """Entries with lines; ``account`` matches an account code or a role."""
    return ledger.list_journal(session, period=period, account=account, work_order=work_order, entity=entity,
                               kind=kind, limit=limit, offset=offset)


@router.get("/journal/{entry_id}", response_model=JournalEntryDetailOut, response_model_exclude_unset=True)
def get_journal_entry(entry_id: IdPath, session: SessionDep, _who: PrincipalDep) -> object:
    return ledger.get_entry(session, entry_id)


@router.post("/journal/{entry_id}/reverse", status_code=201, response_model=JournalEntryDetailOut,
             response_model_exclude_unset=True)
def reverse_journal_entry(entry_id: IdPath, body: ReverseIn, uow: UnitOfWorkDep, who: Controller) -> object:
    return ledger.reverse_journal_entry(ReverseJournalEntry(entry_id, body.reason, who.user), uow)


@router.post("/journal", status_code=202, response_model=ManualEntryProposedOut, response_model_exclude_unset=True)
def post_manual_journal(body: JournalIn, uow: UnitOfWorkDep, who: Controller) -> object:
    """Validated now, posted when another controller approves (amounts are decimal strings)."""
    document = body.model_dump(mode="json", exclude_none=True)
    return propose_entry(ProposeManualEntry(document, who.user, who.role, who.token_id), uow)


@router.get("/trial-balance", response_model=TrialBalanceOut, response_model_exclude_unset=True)
def get_trial_balance(
    session: SessionDep, _who: PrincipalDep, entity: str | None = None, period: str | None = None
) -> object:
    return ledger.trial_balance(session, entity, period)
