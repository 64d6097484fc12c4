"""Manual journal entries (``POST /journal``): a controller proposes, another controller approves.

The entry is validated in full when proposed (accounts of the entity's chart, amounts in cents,
balance, an open period for its date) so nobody approves something that cannot post; the
applier validates it again against the data of the approving moment and posts it with the
costing layer's ``save_entry`` (kind ``manual``, by the requester, memo naming the approver).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, Final

from sqlalchemy.orm import Session

from central.adapters.unit_of_work import SqlAlchemyUnitOfWork
from central.domain.commands import ProposeManualEntry
from central.domain.errors import InputError
from central.domain.ledger import JournalEntry, JournalLine, Tags
from central.domain.money import ZERO, format_amount, parse_money
from central.service_layer.access import Principal
from central.service_layer.clock import Clock, utc_now
from central.service_layer.costing.journal import input_period, save_entry
from central.service_layer.governance.approvals import ApprovedRequest, park_for_approval
from central.service_layer.unit_of_work import AbstractUnitOfWork

log = logging.getLogger(__name__)

__all__ = ["MANUAL_JOURNAL", "APPROVER_ROLE", "propose_entry", "propose_manual_entry", "apply_manual_entry",
           "build_entry"]

MANUAL_JOURNAL: Final = "manual_journal"
APPROVER_ROLE: Final = "controller"


def build_entry(uow: AbstractUnitOfWork, doc: Mapping[str, Any], now: datetime) -> JournalEntry:
    """The balanced domain entry for a manual entry document (raises a domain error when it is not one);
    without a ``posting_date`` it is dated the day of ``now``."""
    snap = uow.master.snapshot()
    entity = doc.get("entity")
    if entity is None and snap.master.entities:
        entity = snap.master.entities[0].id
    day = date.fromisoformat(doc["posting_date"]) if doc.get("posting_date") else None
    choice = input_period(uow.periods, snap, entity, day, now)
    chart = snap.context(entity).chart
    lines: list[JournalLine] = []
    raw_lines: Sequence[Mapping[str, Any]] = doc.get("lines") or []
    if len(raw_lines) < 2:
        raise InputError("a journal entry needs at least two lines")
    for n, raw in enumerate(raw_lines, start=1):
        role = chart.role_of(str(raw.get("account")))
        if role is None:
            raise InputError(f"lines[{n - 1}].account: {raw.get('account')!r} is not an account of entity {entity}")
        debit = parse_money(raw["debit"]) if raw.get("debit") is not None else ZERO
        credit = parse_money(raw["credit"]) if raw.get("credit") is not None else ZERO
        tags = Tags(work_order=raw.get("work_order"), item=raw.get("item"), work_center=raw.get("work_center"),
                    memo=str(raw.get("memo") or ""))
        lines.append(JournalLine(role, debit=debit, credit=credit, account=str(raw["account"]), tags=tags))
    return JournalEntry(entry_date=choice.entry_date, period=choice.period, kind="manual", lines=tuple(lines),
                        entity=entity, memo=str(doc.get("memo") or ""))


def _view(entry: JournalEntry) -> dict[str, Any]:
    return {"period": entry.period, "entry_date": entry.entry_date.isoformat(), "entity": entry.entity,
            "total": format_amount(sum((line.debit for line in entry.lines), ZERO)), "lines": len(entry.lines)}


def propose_entry(cmd: ProposeManualEntry, uow: AbstractUnitOfWork) -> dict[str, Any]:
    """Validate the entry now and park it for approval; returns the pending request."""
    with uow:
        now = uow.clock()
        doc = cmd.document
        entry = build_entry(uow, doc, now)
        payload = {**doc, "posting_date": entry.entry_date.isoformat(), "entity": entry.entity}
        view = _view(entry)
        actor = Principal(cmd.user, cmd.role, cmd.token_id) if cmd.token_id is not None else cmd.user
        summary = f"manual entry {view['total']} in {entry.period}: {doc.get('memo') or ''}".strip()
        row = park_for_approval(uow, actor, MANUAL_JOURNAL, payload, APPROVER_ROLE, summary=summary,
                                target=f"period/{entry.period}")
        uow.commit()
        return {"entry": view, "approval": {"id": row.id, "status": row.status, "required_role": row.required_role}}


def propose_manual_entry(
    session: Session, principal: Principal, doc: Mapping[str, Any], *, clock: Clock = utc_now
) -> dict[str, Any]:
    """:func:`propose_entry` in ``session``'s transaction."""
    return propose_entry(ProposeManualEntry(doc, principal.user, principal.role, principal.token_id),
                         SqlAlchemyUnitOfWork.joining(session, clock))


def apply_manual_entry(uow: AbstractUnitOfWork, req: ApprovedRequest) -> Mapping[str, Any]:
    """Post an approved manual entry, stamped with the approval's time (the applier's clock)."""
    entry = build_entry(uow, req.payload, req.approved_at)
    memo = f"{entry.memo} (approval {req.id} by {req.approved_by})".strip()
    entry_id = save_entry(uow.session, JournalEntry(entry.entry_date, entry.period, entry.kind, entry.lines,
                                                    entry.entity, memo), req.requested_by, req.approved_at)
    log.info("manual journal entry %s posted (approval %s by %s)", entry_id, req.id, req.approved_by)
    return {"entry_id": entry_id, **_view(entry)}

