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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from itertools import groupby
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from central.adapters.db.dialect import for_update, insert_rows
from central.adapters.db.models_costing import (
    EventPostingRow,
    EventPostingStatus,
    OpRecordRow,
    RecordEventRow,
    StockMoveRow,
    WorkOrderRow,
)
from central.domain.accruals import OrderAccruals
from central.domain.ledger import JournalEntry, Tags
from central.domain.money import ZERO, to_unit
from central.domain.postings import post_production
from central.domain.stock import move_deltas, production_targets
from central.domain.stored_events import StoredEvent
from central.domain.time_accounting import Dispatch, order_at
from central.service_layer.clock import Clock, utc_now
from central.service_layer.costing.closing import adjust_closed_order
from central.service_layer.costing.journal import (
    PeriodChoice,
    insert_entries,
    local_zone,
    period_for_event,
    save_entries,
)
from central.service_layer.costing.lineage import link as link_events
from central.service_layer.costing.master_data import Snapshot, snapshot
from central.service_layer.costing.operations import check_events
from central.service_layer.costing.orders import dispatches_for
from central.service_layer.costing.stock import (
    MoveSource,
    add_move,
    alert_negative,
    check_negative,
    increment_item_stocks,
    moved_for_order,
    moved_for_orders,
    stored_qty,
)

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
    span = _spans(pending)
    lo = min(first for first, _ in span.values())
    hi = max(last for _, last in span.values())
    by_machine: dict[str, list[Dispatch]] = {}
    for d in dispatches_for(session, span.keys(), lo, hi):
        by_machine.setdefault(d.machine, []).append(d)
    # the common case, one dispatch covering all of a machine's events, is decided once per machine
    whole = _whole_machine_orders(span, by_machine)
    by_order: dict[str, list[Pending]] = {}
    for p in pending:
        order = whole[p.machine] if p.machine in whole else order_at(by_machine.get(p.machine, ()), p.machine, p.ts)
        if order is not None:
            by_order.setdefault(order, []).append(p)
    orders = _load_orders(session, by_order)
    out: dict[int, Attached] = {}
    plans: list[tuple[WorkOrderRow, OrderAccruals, list[Pending]]] = []
    for order_id, items in by_order.items():
        row = orders.get(order_id)
        if row is None:  # pragma: no cover - dispatch rows reference orders
            log.error("dispatch references unknown order %s", order_id)
            continue
        accruals = OrderAccruals.from_data(row.accruals)
        if accruals.closed:  # a late event adjusts the close: one order at a time
            out |= post_to_order(session, snap, row, items, user, memo, now, link=link)
        else:
            plans.append((row, accruals, items))
    if plans:
        out |= _post_orders(session, snap, plans, user, memo, now, link=link)
    return out


def _load_orders(session: Session, order_ids: Iterable[str]) -> dict[str, WorkOrderRow]:
    """The orders, row-locked in id order (two posting processes lock them in the same order)."""
    wanted = sorted(set(order_ids))
    out: dict[str, WorkOrderRow] = {}
    for lo in range(0, len(wanted), 500):
        stmt = select(WorkOrderRow).where(WorkOrderRow.id.in_(wanted[lo:lo + 500])).order_by(WorkOrderRow.id)
        out |= {row.id: row for row in session.scalars(for_update(session, stmt))}
    return out


class _Run(NamedTuple):
    """The events of one order in one period: one production record and its entries."""

    order: WorkOrderRow
    entity: str | None
    choice: PeriodChoice
    events: list[Pending]
    good: Decimal
    scrap: Decimal


class _Move(NamedTuple):
    kind: str
    item: str
    qty: Decimal
    source: MoveSource
    entry: int | None  # index of its journal entry in the batch's entries


def _post_orders(
    session: Session, snap: Snapshot, plans: Sequence[tuple[WorkOrderRow, OrderAccruals, list[Pending]]], user: str,
    memo: str,
    now: datetime, *, link: bool,
) -> dict[int, Attached]:
    """:func:`post_to_order` (``sign=1``) for many open orders at once, set-based: the records of
    every order and period in one insert, the domain postings computed per order in turn (the
    cumulative rule per order, exactly as one order at a time), then one insert each for the
    journal entries, their lines, the stock moves (and ``record_events`` when ``link``), one upsert
    for the running stock of every item touched, and the negative-stock check read once. Stock
    that goes below zero raises one ``negative_inventory`` occurrence per item per batch (after
    the last order that took it below zero), where one order at a time raised one per order."""
    runs: list[_Run] = []
    periods: dict[tuple[str | None, date], PeriodChoice] = {}
    for order, _, items in plans:
        ordered = sorted(items, key=lambda p: (p.ts, p.event_id))
        entity = snap.entity_of_machine(ordered[0].machine)
        for choice, run in _runs_by_period(session, snap, entity, ordered, periods):
            good = Decimal(sum(p.qty for p in run if p.kind == "count"))
            scrap = Decimal(sum(p.qty for p in run if p.kind == "scrap"))
            runs.append(_Run(order, entity, choice, run, good, scrap))
    record_table = cast(Table, OpRecordRow.__table__)
    records: list[dict[str, Any]] = []
    for r in runs:
        first, last, good, scrap = r.events[0], r.events[-1], r.good, r.scrap
        records.append({
            "kind": "production", "work_order": r.order.id, "machine": first.machine, "item": r.order.item,
            "period": r.choice.period, "posting_date": r.choice.entry_date, "qty": good, "created": last.ts,
            "user": user, "data": {"good": str(good), "scrap": str(scrap), "events": len(r.events),
                                   "first_ts": first.ts.isoformat(), "last_ts": last.ts.isoformat(),
                                   "late": r.choice.late, "memo": memo},
        })
    record_ids = [int(i) for i in session.scalars(
        insert(record_table).returning(record_table.c.id, sort_by_parameter_order=True), records)]
    # the domain postings, order by order (each order's runs in time order: the cumulative rule)
    moved = moved_for_orders(session, {o.id for o, _, _ in plans})
    accruals = {o.id: a for o, a, _ in plans}
    entries: list[tuple[JournalEntry, int | None, str | None]] = []
    moves: list[_Move] = []
    out: dict[int, Attached] = {}
    for r, record_id in zip(runs, record_ids, strict=True):
        order_id = r.order.id
        ctx = snap.context(r.entity)
        header = replace(r.choice.header(r.entity, memo), original_date=r.choice.original_date)
        posted = post_production(ctx, header, accruals[order_id], r.good, r.scrap,
                                 Tags(memo=memo, refs=(f"record:{record_id}",)))
        index = {entry.kind: len(entries) + n for n, entry in enumerate(posted.entries)}
        entries += [(entry, record_id, order_id) for entry in posted.entries]
        source = MoveSource(record_id, r.choice.period, r.choice.entry_date, user, order_id, r.events[0].machine,
                            late=r.choice.late, memo=memo)
        done = moved[order_id]
        for (kind, item), delta in move_deltas(production_targets(ctx, posted.accruals), done).items():
            moves.append(_Move(kind, item, to_unit(delta), source, index.get(kind)))
            done[(kind, item)] = done.get((kind, item), ZERO) + delta
        accruals[order_id] = posted.accruals
        attached = Attached(order_id, record_id, r.choice.late)
        for p in r.events:
            out[p.event_id] = attached
    entry_ids, values = insert_entries(session, entries, user, now)
    insert_rows(session, cast(Table, StockMoveRow.__table__), [
        {"kind": m.kind, "item": m.item, "qty": m.qty, "work_order": m.source.work_order,
         "machine": m.source.machine, "record_id": m.source.record_id,
         "entry_id": None if m.entry is None else entry_ids[m.entry], "reverses": None, "period": m.source.period,
         "posting_date": m.source.posting_date, "late": m.source.late, "created": now, "user": m.source.user,
         "memo": m.source.memo}
        for m in moves])
    stock: dict[str, tuple[Decimal, Decimal]] = {}
    for m in moves:
        q, v = stock.get(m.item, (ZERO, ZERO))
        stock[m.item] = (q + m.qty, v)
    for item, value in values.items():
        q, v = stock.get(item, (ZERO, ZERO))
        stock[item] = (q, v + value)
    increment_item_stocks(session, stock)
    # on hand before the batch: read after the upsert (which row-locks the items, so no other
    # writer moves them until the commit), minus what the batch moved
    after = stored_qty(session, {m.item for m in moves})
    before = {item: qty - stock[item][0] for item, qty in after.items()}
    if link:
        insert_rows(session, cast(Table, RecordEventRow.__table__), [
            {"record_id": record_id, "event_id": p.event_id}
            for r, record_id in zip(runs, record_ids, strict=True) for p in r.events])
    for order, _, _ in plans:
        order.accruals = accruals[order.id].to_data()
    _check_negative(session, before, moves, now)
    return out


def _check_negative(session: Session, before: dict[str, Decimal], moves: Sequence[_Move], now: datetime) -> None:
    """The negative-stock check of one order at a time, replayed on the quantities on hand
    ``before`` the batch's ``moves`` (in posting order, one order's moves together): an item an
    order's backflush takes is checked after that order's moves; each item found below zero
    raises one alert occurrence (its quantity and order: the last time it was found below)."""
    on_hand = dict(before)
    below: dict[str, tuple[Decimal, str | None]] = {}
    for work_order, group in groupby(moves, key=lambda m: m.source.work_order):
        taken: set[str] = set()
        for m in group:
            on_hand[m.item] += m.qty
            if m.qty < 0:
                taken.add(m.item)
        below |= {item: (on_hand[item], work_order) for item in sorted(taken) if on_hand[item] < 0}
    for item, (qty, work_order) in sorted(below.items()):
        alert_negative(session, item, qty, "backflush", {"work_order": work_order}, now)


def _spans(pending: Sequence[Pending]) -> dict[str, tuple[datetime, datetime]]:
    """Per machine: its first and last pending event's time (one pass)."""
    span: dict[str, tuple[datetime, datetime]] = {}
    for p in pending:
        lo_hi = span.get(p.machine)
        if lo_hi is None:
            span[p.machine] = (p.ts, p.ts)
        elif p.ts > lo_hi[1]:  # events mostly come in time order: the common case first
            span[p.machine] = (lo_hi[0], p.ts)
        elif p.ts < lo_hi[0]:
            span[p.machine] = (p.ts, lo_hi[1])
    return span


def _whole_machine_orders(
    span: dict[str, tuple[datetime, datetime]], by_machine: dict[str, list[Dispatch]]
) -> dict[str, str | None]:
    """Per machine (``span``: its first and last pending event): the order of all its pending
    events when that needs no per-event look-up (no dispatch in the window: None; exactly one,
    covering its first and last event: that order). Machines not in the result need
    :func:`order_at` per event (several dispatches)."""
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
    session: Session, snap: Snapshot, entity: str | None, ordered: Sequence[Pending],
    cache: dict[tuple[str | None, date], PeriodChoice] | None = None,
) -> list[tuple[PeriodChoice, list[Pending]]]:
    """``ordered`` split into runs of one period each; ``cache`` keeps the period of each
    (entity, local day) across calls (the orders of one batch)."""
    runs: list[tuple[PeriodChoice, list[Pending]]] = []
    cache = {} if cache is None else cache
    zone = local_zone(snap, entity)

    def choice_of(p: Pending) -> PeriodChoice:
        key = (entity, p.ts.astimezone(zone).date())  # local_date, the zone looked up once
        found = cache.get(key)
        if found is None:
            found = cache[key] = period_for_event(session, snap, entity, p.ts)
        return found

    if ordered and ordered[0].ts.astimezone(zone).date() == ordered[-1].ts.astimezone(zone).date():
        # ``ordered`` is in time order: first and last on one local day means every event is
        return [(choice_of(ordered[0]), list(ordered))]
    for p in ordered:
        choice = choice_of(p)
        if runs and runs[-1][0] == choice:
            runs[-1][1].append(p)
        else:
            runs.append((choice, [p]))
    return runs
