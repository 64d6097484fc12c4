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
    """State events of ``machine`` in [lo, hi], plus the last one before ``lo`` (the state at ``lo``)."""
    base = select(EventPostingRow).where(EventPostingRow.machine == machine, EventPostingRow.kind == "state",
                                         EventPostingRow.status != "suspect")
    rows = list(session.scalars(base.where(EventPostingRow.ts <= hi).where(
        EventPostingRow.ts >= lo if lo is not None else EventPostingRow.ts.is_not(None)
    ).order_by(EventPostingRow.ts, EventPostingRow.event_id)))
    if lo is not None:
        before = session.scalars(base.where(EventPostingRow.ts < lo).order_by(
            EventPostingRow.ts.desc(), EventPostingRow.event_id.desc()).limit(1)).first()
        if before is not None:
            rows.insert(0, before)
    return [StateEvent(r.ts, MachineState(r.state), r.reason) for r in rows if r.state is not None]


def _dispatches(session: Session, machines: Iterable[str]) -> list[Dispatch]:
    stmt = select(DispatchRow).where(DispatchRow.machine.in_(set(machines)))
    return [Dispatch(d.work_order, d.machine, d.start, d.end) for d in session.scalars(stmt)]


def intervals(
    session: Session, snap: Snapshot, machines: Iterable[str], lo: datetime | None, hi: datetime
) -> list[Interval]:
    """Run / planned / downtime intervals of ``machines`` up to ``hi`` (split by dispatch)."""
    machines = list(machines)
    dispatches = _dispatches(session, machines)
    reasons = snap.master.downtime_reasons_by_code
    out: list[Interval] = []
    for machine in machines:
        events = state_events(session, machine, lo, hi)
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
