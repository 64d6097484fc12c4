"""Machine events -> production records -> journal, inside the ingest transaction.

:class:`CostingHandler` is the posting seam's handler (``central.service_layer.ingest.seam.PostingHandler``).
Each accepted event gets one ``event_postings`` row saying what costing made of it:

* ``state`` events and zero counts (baselines): ``operational`` (time accounting reads them);
* events the edge flagged ``suspect``, and events whose qty is over their machine's
  ``max_event_qty`` (central's flag ``qty_over_limit``): ``suspect``, held unposted for a
  controller (``hold_reason`` says which);
* count / scrap with an order dispatched to the machine at their timestamp: ``posted``;
  with none: ``unassigned``, until a dispatch after the fact or a controller assigns them.

Posted events of one order in one batch (and one period) make one production record, linked
to every event, and up to three entries (backflush, conversion applied, finished goods) whose
amounts follow the cumulative rule, so batching never changes the ledger.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple, cast

from sqlalchemy import Table
from sqlalchemy.orm import Session

from central.adapters.db.dialect import insert_rows
from central.adapters.db.models_costing import (
    EventPostingRow,
    EventPostingStatus,
    OpRecordRow,
    WorkOrderRow,
)
from central.domain.accruals import OrderAccruals
from central.domain.ledger import Tags
from central.domain.money import ZERO
from central.domain.postings import post_production
from central.domain.stock import move_deltas, production_targets
from central.domain.stored_events import StoredEvent
from central.domain.time_accounting import Dispatch, order_at
from central.service_layer.clock import Clock, utc_now
from central.service_layer.costing.closing import adjust_closed_order
from central.service_layer.costing.journal import local_zone, period_for_event, save_entries
from central.service_layer.costing.lineage import link as link_events
from central.service_layer.costing.master_data import Snapshot, snapshot
from central.service_layer.costing.operations import check_events
from central.service_layer.costing.orders import dispatches_for, load_order
from central.service_layer.costing.stock import MoveSource, add_move, check_negative, moved_for_order

log = logging.getLogger(__name__)

__all__ = ["CostingHandler", "Pending", "attach", "post_to_order"]

SYSTEM_USER = "ingest"


class Pending(NamedTuple):
    """A count or scrap event waiting to post (a named tuple: one per event on the hot path)."""

    event_id: int
    machine: str
    kind: str
    ts: datetime
    qty: int
    reason: str | None = None


@dataclass(frozen=True)
class Attached:
    work_order: str
    record_id: int
    late: bool


class CostingHandler:
    """The posting seam handler: record and post a stream's newly accepted events (see module
    doc), inside the ingest transaction. ``central.service_layer.ingest.posting.post_events`` is
    the one way events reach it; ``clock`` stamps what it writes (journal entries, stock moves,
    alerts), while production records keep the time of their last event."""

    name = "costing"

    def __init__(self, clock: Clock = utc_now) -> None:
        self.clock = clock

    def __call__(self, session: Session, events: Sequence[StoredEvent]) -> None:
        if events:
            _post(session, events, self.clock())


def _post(session: Session, events: Sequence[StoredEvent], now: datetime) -> None:
    snap = snapshot(session)
    rows: list[dict[str, Any]] = []
    pending: list[Pending] = []
    for ev in events:
        machine, kind, ev_ts = ev.machine, ev.kind, ev.ts
        if machine is None or kind is None or ev_ts is None:
            continue  # a rejected body: nothing to post
        event_id, reason = ev.id, ev.reason
        ts = ev.posting_ts or ev_ts
        qty = int(ev.qty or 0)
        flags = ev.flags or ()
        hold_reason = "qty_over_limit" if "qty_over_limit" in flags else "edge_suspect" if "suspect" in flags else None
        if hold_reason is not None:
            status = EventPostingStatus.SUSPECT
        elif kind == "state" or qty == 0:
            status = EventPostingStatus.OPERATIONAL
        else:
            status = EventPostingStatus.UNASSIGNED
            pending.append(Pending(event_id, machine, kind, ts, qty, reason))
        rows.append({
            "event_id": event_id, "machine": machine, "kind": kind, "ts": ts, "qty": qty, "state": ev.state,
            "reason": reason, "work_order": None, "record_id": None, "late": False, "decided_by": None,
            "status": status, "hold_reason": hold_reason,
        })
    attached = attach(session, snap, pending, SYSTEM_USER, "", now) if pending else {}
    for row in rows:
        a = attached.get(row["event_id"])
        if a is not None:
            row.update(status=EventPostingStatus.POSTED, work_order=a.work_order, record_id=a.record_id, late=a.late)
    if rows:  # event_postings.record_id is the record -> events link of these postings
        insert_rows(session, cast(Table, EventPostingRow.__table__), rows)
        check_events(session, snap, rows, now)  # quality exceptions, maintenance requests past thresholds


def attach(
    session: Session, snap: Snapshot, pending: Sequence[Pending], user: str, memo: str, now: datetime,
    link: bool = False,
) -> dict[int, Attached]:
    """Post the events dispatch covers; the rest stay unassigned. ``link`` writes ``record_events``
    lineage rows (the ingest path links through ``event_postings.record_id`` instead)."""
    lo = min(p.ts for p in pending)
    hi = max(p.ts for p in pending)
    by_machine: dict[str, list[Dispatch]] = {}
    for d in dispatches_for(session, {p.machine for p in pending}, lo, hi):
        by_machine.setdefault(d.machine, []).append(d)
    # the common case, one dispatch covering all of a machine's events, is decided once per machine
    whole = _whole_machine_orders(pending, by_machine)
    by_order: dict[str, list[Pending]] = {}
    for p in pending:
        order = whole[p.machine] if p.machine in whole else order_at(by_machine.get(p.machine, ()), p.machine, p.ts)
        if order is not None:
            by_order.setdefault(order, []).append(p)
    out: dict[int, Attached] = {}
    for order_id, items in by_order.items():
        row = load_order(session, order_id)
        if row is None:  # pragma: no cover - dispatch rows reference orders
            log.error("dispatch references unknown order %s", order_id)
            continue
        out |= post_to_order(session, snap, row, items, user, memo, now, link=link)
    return out


def _whole_machine_orders(pending: Sequence[Pending], by_machine: dict[str, list[Dispatch]]) -> dict[str, str | None]:
    """Per machine: the order of all its pending events when that needs no per-event look-up (no
    dispatch in the window: None; exactly one, covering its first and last event: that order).
    Machines not in the result need :func:`order_at` per event (several dispatches)."""
    span: dict[str, tuple[datetime, datetime]] = {}
    for p in pending:
        lo_hi = span.get(p.machine)
        span[p.machine] = (p.ts, p.ts) if lo_hi is None else (min(lo_hi[0], p.ts), max(lo_hi[1], p.ts))
    out: dict[str, str | None] = {}
    for machine, (first, last) in span.items():
        found = by_machine.get(machine, ())
        if not found:
            out[machine] = None
        elif len(found) == 1 and found[0].machine == machine and found[0].covers(first) and found[0].covers(last):
            out[machine] = found[0].work_order  # an interval: covering both ends covers everything between
    return out


def post_to_order(
    session: Session,
    snap: Snapshot,
    order: WorkOrderRow,
    items: Sequence[Pending],
    user: str,
    memo: str,
    now: datetime,
    *,
    sign: int = 1,
    link: bool = False,
) -> dict[int, Attached]:
    """Post events to ``order`` (``sign=-1`` takes them back out: re-attribution)."""
    ordered = sorted(items, key=lambda p: (p.ts, p.event_id))
    entity = snap.entity_of_machine(ordered[0].machine)
    ctx = snap.context(entity)
    accruals = OrderAccruals.from_data(order.accruals)
    moved = moved_for_order(session, order.id)
    taken: set[str] = set()
    out: dict[int, Attached] = {}
    for choice, run in _runs_by_period(session, snap, entity, ordered):
        good = Decimal(sum(p.qty for p in run if p.kind == "count") * sign)
        scrap = Decimal(sum(p.qty for p in run if p.kind == "scrap") * sign)
        record = OpRecordRow(
            kind="production" if sign > 0 else "production_reversal", work_order=order.id, machine=run[0].machine,
            item=order.item, period=choice.period, posting_date=choice.entry_date, qty=good,
            created=run[-1].ts, user=user,
            data={"good": str(good), "scrap": str(scrap), "events": len(run), "first_ts": run[0].ts.isoformat(),
                  "last_ts": run[-1].ts.isoformat(), "late": choice.late, "memo": memo},
        )
        session.add(record)
        session.flush()
        header = replace(choice.header(entity, memo), original_date=choice.original_date)
        posted = post_production(ctx, header, accruals, good, scrap, Tags(memo=memo, refs=(f"record:{record.id}",)))
        saved = save_entries(session, posted.entries, user, now, record_id=record.id, work_order=order.id)
        entry_ids = {entry.kind: entry_id for entry, entry_id in zip(posted.entries, saved, strict=True)}
        source = MoveSource(record.id, choice.period, choice.entry_date, user, order.id, run[0].machine,
                            late=choice.late, memo=memo)
        for (kind, item), delta in move_deltas(production_targets(ctx, posted.accruals), moved).items():
            add_move(session, kind, item, delta, replace(source, entry_id=entry_ids.get(kind)), now)
            moved[(kind, item)] = moved.get((kind, item), ZERO) + delta
            if delta < 0:
                taken.add(item)
        accruals = posted.accruals
        if accruals.closed:
            accruals = adjust_closed_order(session, snap, order, accruals, choice, user, now)
        if link:
            link_events(session, record.id, (p.event_id for p in run))
        attached = Attached(order.id, record.id, choice.late)  # frozen: one value for the whole run
        for p in run:
            out[p.event_id] = attached
    order.accruals = accruals.to_data()
    # backflush (or finished goods taken back out) may take stock below zero: production does not wait
    check_negative(session, taken, "backflush" if sign > 0 else "re-attribution", {"work_order": order.id}, now)
    return out


def _runs_by_period(
    session: Session, snap: Snapshot, entity: str | None, ordered: Sequence[Pending]
) -> list[tuple[Any, list[Pending]]]:
    runs: list[tuple[Any, list[Pending]]] = []
    cache: dict[Any, Any] = {}
    zone = local_zone(snap, entity)
    if ordered and ordered[0].ts.astimezone(zone).date() == ordered[-1].ts.astimezone(zone).date():
        # ``ordered`` is in time order: first and last on one local day means every event is
        return [(period_for_event(session, snap, entity, ordered[0].ts), list(ordered))]
    for p in ordered:
        day = p.ts.astimezone(zone).date()  # local_date, the zone looked up once
        choice = cache.get(day)
        if choice is None:
            choice = period_for_event(session, snap, entity, p.ts)
            cache[day] = choice
        if runs and runs[-1][0] == choice:
            runs[-1][1].append(p)
        else:
            runs.append((choice, [p]))
    return runs
