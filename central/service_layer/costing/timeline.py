"""Machine timelines from stored state events and dispatches (feeds efficiency, idle, OEE)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.adapters.db.models_costing import DispatchRow, EventPostingRow
from central.domain.money import ZERO
from central.domain.time_accounting import (
    Dispatch,
    Interval,
    MachineState,
    StateEvent,
    machine_intervals,
    run_hours_by_order,
)
from central.service_layer.costing.master_data import Snapshot

__all__ = ["state_events", "intervals", "order_run_hours"]


def state_events(session: Session, machine: str, lo: datetime | None, hi: datetime) -> list[StateEvent]:
    """State events of ``machine`` in [lo, hi], plus the last one before ``lo`` (the state at ``lo``).

    Both reads are range scans / one seek on ``ix_event_postings_machine_kind_ts``: the cost follows
    the window, not the history before it. Only the three columns needed leave the database."""
    cols = select(EventPostingRow.ts, EventPostingRow.state, EventPostingRow.reason).where(
        EventPostingRow.machine == machine, EventPostingRow.kind == "state", EventPostingRow.status != "suspect")
    rows = list(session.execute(cols.where(EventPostingRow.ts <= hi).where(
        EventPostingRow.ts >= lo if lo is not None else EventPostingRow.ts.is_not(None)
    ).order_by(EventPostingRow.ts, EventPostingRow.event_id)).tuples())
    if lo is not None:
        before = session.execute(cols.where(EventPostingRow.ts < lo).order_by(
            EventPostingRow.ts.desc(), EventPostingRow.event_id.desc()).limit(1)).tuples().first()
        if before is not None:
            rows.insert(0, before)
    return [StateEvent(ts, MachineState(state), reason) for ts, state, reason in rows if state is not None]


def _dispatches(session: Session, machines: Iterable[str], lo: datetime | None = None,
                hi: datetime | None = None) -> list[Dispatch]:
    """Dispatches of ``machines`` that overlap [lo, hi] (None: unbounded on that side).

    With ``lo``: two seeks on ``ix_dispatches_machine_end`` (those ending at or after ``lo``, and
    those still open), not a range over every dispatch started before ``hi`` (one OR of the two
    made SQLite take ``ix_dispatches_machine_start``, i.e. every dispatch of the history)."""
    stmt = select(DispatchRow).where(DispatchRow.machine.in_(set(machines)))
    if hi is not None:
        stmt = stmt.where(DispatchRow.start <= hi)
    parts = [stmt] if lo is None else [stmt.where(DispatchRow.end >= lo), stmt.where(DispatchRow.end.is_(None))]
    return [Dispatch(d.work_order, d.machine, d.start, d.end) for part in parts for d in session.scalars(part)]


def intervals(
    session: Session, snap: Snapshot, machines: Iterable[str], lo: datetime | None, hi: datetime
) -> list[Interval]:
    """Run / planned / downtime intervals of ``machines`` up to ``hi`` (split by dispatch).

    The intervals start at the last state event before ``lo``; only the dispatches overlapping
    [that event, hi] are read (no other can split or attribute them), so the cost follows the window."""
    machines = list(machines)
    reasons = snap.master.downtime_reasons_by_code
    out: list[Interval] = []
    for machine in machines:
        events = state_events(session, machine, lo, hi)
        if not events:
            continue
        dispatches = _dispatches(session, [machine], min(e.ts for e in events), hi)
        out.extend(machine_intervals(machine, events, dispatches, reasons, hi))
    return out


def order_run_hours(session: Session, snap: Snapshot, order_id: str, until: datetime) -> Decimal:
    """Hours the machine ran while ``order_id`` was dispatched to it, up to ``until`` (the caller's
    now, or a period's end)."""
    rows = list(session.scalars(select(DispatchRow).where(DispatchRow.work_order == order_id)))
    if not rows:
        return ZERO
    hi = until
    lo = min(r.start for r in rows)
    ivs = intervals(session, snap, {r.machine for r in rows}, lo, hi)
    return run_hours_by_order(ivs, lo, hi).get(order_id, ZERO)
