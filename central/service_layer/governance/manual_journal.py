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

from central.domain.errors import InputError
from central.domain.ledger import JournalEntry, JournalLine, Tags
from central.domain.money import ZERO, format_amount, parse_money
from central.service_layer.access import Principal
from central.service_layer.clock import Clock, utc_now
from central.service_layer.costing.journal import period_for_input, save_entry
from central.service_layer.costing.master_data import snapshot
from central.service_layer.governance.approvals import ApprovedRequest, request_approval

log = logging.getLogger(__name__)

__all__ = ["MANUAL_JOURNAL", "APPROVER_ROLE", "propose_manual_entry", "apply_manual_entry", "build_entry"]

MANUAL_JOURNAL: Final = "manual_journal"
APPROVER_ROLE: Final = "controller"


def build_entry(session: Session, doc: Mapping[str, Any], now: datetime) -> JournalEntry:
    """The balanced domain entry for a manual entry document (raises a domain error when it is not one);
    without a ``posting_date`` it is dated the day of ``now``."""
    snap = snapshot(session)
    entity = doc.get("entity")
    if entity is None and snap.master.entities:
        entity = snap.master.entities[0].id
    day = date.fromisoformat(doc["posting_date"]) if doc.get("posting_date") else None
    choice = period_for_input(session, snap, entity, day, now)
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


def propose_manual_entry(
    session: Session, principal: Principal, doc: Mapping[str, Any], *, clock: Clock = utc_now
) -> dict[str, Any]:
    """Validate the entry now and park it for approval; returns the pending request."""
    now = clock()
    entry = build_entry(session, doc, now)
    payload = {**doc, "posting_date": entry.entry_date.isoformat(), "entity": entry.entity}
    view = _view(entry)
    row = request_approval(session, principal, MANUAL_JOURNAL, payload, APPROVER_ROLE,
                           summary=f"manual entry {view['total']} in {entry.period}: {doc.get('memo') or ''}".strip(),
                           target=f"period/{entry.period}", now=now)
    return {"entry": view, "approval": {"id": row.id, "status": row.status, "required_role": row.required_role}}


def apply_manual_entry(session: Session, req: ApprovedRequest) -> Mapping[str, Any]:
    """Post an approved manual entry, stamped with the approval's time (the applier's clock)."""
    entry = build_entry(session, req.payload, req.approved_at)
    memo = f"{entry.memo} (approval {req.id} by {req.approved_by})".strip()
    entry_id = save_entry(session, JournalEntry(entry.entry_date, entry.period, entry.kind, entry.lines,
                                                entry.entity, memo), req.requested_by, req.approved_at)
    log.info("manual journal entry %s posted (approval %s by %s)", entry_id, req.id, req.approved_by)
    return {"entry_id": entry_id, **_view(entry)}

