"""Operational records past a threshold, written in the ingest transaction with the events that
cause them: quality exceptions (a machine's scrap rate over its rolling window of units) and
maintenance requests (an unplanned stop of a maintenance category longer than its threshold).
Each new record raises an alert (``quality_exception`` / ``maintenance_request``). The rules are
in :mod:`central.domain.thresholds`; the thresholds come from master data.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, TypedDict, cast

from sqlalchemy import BigInteger, Integer, String, Table, TextClause, bindparam, select, text
from sqlalchemy.orm import Session

from central.adapters.db.models_costing import (
    EventPostingRow,
    EventPostingStatus,
    MaintenanceRequestRow,
    QualityExceptionRow,
)
from central.adapters.unit_of_work import SqlAlchemyUnitOfWork
from central.domain.money import format_amount, to_unit
from central.domain.thresholds import (
    ScrapChange,
    StateMark,
    Stop,
    Thresholds,
    UnitEvent,
    WindowUnit,
    ended_stops,
    may_open,
    needs_maintenance,
    scrap_changes,
    stop_category,
    thresholds_of,
)
from central.domain.time_accounting import order_at
from central.service_layer.alerts import raise_alert_in
from central.service_layer.costing.master_data import Snapshot
from central.service_layer.costing.orders import dispatches_for

log = logging.getLogger(__name__)

__all__ = ["check_events", "list_quality_exceptions", "list_maintenance_requests", "quality_exception_view",
           "maintenance_request_view", "QualityExceptionView", "MaintenanceRequestView"]


class QualityExceptionView(TypedDict):
    """A quality exception as the API shows it: rates at 4 places, times ISO."""

    id: int
    machine: str
    work_center: str | None
    work_order: str | None
    status: str
    opened_at: str | None
    opened_event: int
    rate: str | None
    peak_rate: str | None
    scrap_qty: int
    window_units: int
    threshold: str | None
    clear_rate: str | None
    reasons: dict[str, Any]
    cleared_at: str | None
    cleared_event: int | None
    cleared_rate: str | None
    created: str | None


class MaintenanceRequestView(TypedDict):
    """A maintenance request as the API shows it: minutes with 2 places, times ISO."""

    id: int
    machine: str
    work_center: str | None
    work_order: str | None
    state: str
    reason: str | None
    category: str
    stop_start: str | None
    stop_end: str | None
    minutes: str
    threshold_minutes: str
    start_event: int
    end_event: int
    status: str
    created: str | None

_COUNTED = (EventPostingStatus.POSTED, EventPostingStatus.UNASSIGNED)
_STATE_HISTORY = 200
"""State events read before a batch's first one to find where a stop began (a longer run of
repeated identical states is measured from the oldest of these: a lower bound)."""


def check_events(session: Session, snap: Snapshot, rows: Sequence[Mapping[str, Any]], now: datetime) -> None:
    """Check the machines of newly stored ``event_postings`` rows (dicts) against their thresholds;
    records and alerts they open are stamped ``now``. The scrap windows of every machine of the
    batch are read in one statement per :data:`_HISTORY_CHUNK` machines, their open exceptions in one."""
    units: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    states: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        if row["kind"] == "state" and row["status"] == EventPostingStatus.OPERATIONAL and row["state"]:
            states[row["machine"]].append(row)
        elif row["kind"] in ("count", "scrap") and row["status"] in _COUNTED and row["qty"] > 0:
            units[row["machine"]].append(row)
    thresholds = thresholds_of(snap.records, sorted(units.keys() | states.keys()))  # not in master data: unchecked
    checked = sorted(m for m in units if m in thresholds)
    if checked:
        first = {m: (_unit(min(units[m], key=_unit_order)), thresholds[m].scrap_window_units) for m in checked}
        history = _scrap_history(session, first)
        current = _open_exceptions(session, checked)
        for machine in checked:
            before = history.get(machine, [])
            is_open = current.get(machine)
            rows_in_order = sorted(units[machine], key=_unit_order)
            if is_open is None and not may_open(
                    [(u.kind, u.qty) for u in before] + [(r["kind"], r["qty"]) for r in rows_in_order],
                    thresholds[machine]):
                continue  # no window of these units can reach the rate: nothing opens, nothing to clear
            new = [_unit(r) for r in rows_in_order]
            _check_scrap(session, snap, machine, thresholds[machine], before, new, is_open, now)
    for machine in sorted(states):
        if machine in thresholds:
            _check_stops(session, snap, machine, thresholds[machine], states[machine], now)


def _unit_order(r: Mapping[str, Any]) -> tuple[datetime, int]:
    return r["ts"], int(r["event_id"])


def _unit(r: Mapping[str, Any]) -> UnitEvent:
    return UnitEvent(int(r["event_id"]), r["ts"], str(r["kind"]), int(r["qty"]), r["reason"], r["work_order"])


def _work_center(snap: Snapshot, machine: str) -> str | None:
    m = snap.master.machines_by_id.get(machine)
    return None if m is None else m.work_center


_HISTORY_CHUNK = 100
"""Machines whose scrap-window history one statement reads (a UNION ALL of one indexed,
limited read per machine)."""


@lru_cache(maxsize=8)
def _history_statement(n: int) -> TextClause:
    """The units before ``:t{i}/:k{i}`` of machines ``:m{i}`` (``i < n``), newest first, at most
    ``:n{i}`` each: one limited index read per machine (``ix_event_postings_machine_ts``), numbered."""
    ts_type = cast(Table, EventPostingRow.__table__).c.ts.type
    parts, params = [], []
    for i in range(n):
        parts.append(
            f"SELECT machine, kind, qty, reason, ROW_NUMBER() OVER (ORDER BY ts DESC, event_id DESC) AS rn "
            f"FROM (SELECT machine, event_id, ts, kind, qty, reason FROM event_postings WHERE machine = :m{i} "
            f"AND kind IN ('count', 'scrap') AND status IN ('{EventPostingStatus.POSTED}', "
            f"'{EventPostingStatus.UNASSIGNED}') AND qty > 0 AND ts <= :t{i} AND (ts < :t{i} OR event_id < :k{i}) "
            f"ORDER BY ts DESC, event_id DESC LIMIT :n{i}) AS h{i}")
        params += [bindparam(f"m{i}", type_=String()), bindparam(f"t{i}", type_=ts_type),
                   bindparam(f"k{i}", type_=BigInteger()), bindparam(f"n{i}", type_=Integer())]
    return text(" UNION ALL ".join(parts)).bindparams(*params)


def _scrap_history(session: Session, first: Mapping[str, tuple[UnitEvent, int]]) -> dict[str, list[WindowUnit]]:
    """Per machine: the counted units before its first new one (``first``: that unit and the
    window size), at most a window's worth, oldest first (what fills the rolling window)."""
    found: dict[str, list[tuple[int, WindowUnit]]] = defaultdict(list)
    machines = sorted(first)
    for lo in range(0, len(machines), _HISTORY_CHUNK):
        chunk = machines[lo:lo + _HISTORY_CHUNK]
        params: dict[str, Any] = {}
        for i, machine in enumerate(chunk):
            unit, window = first[machine]
            params |= {f"m{i}": machine, f"t{i}": unit.ts, f"k{i}": unit.key, f"n{i}": window}
        for row in session.execute(_history_statement(len(chunk)), params):
            found[str(row.machine)].append((-int(row.rn), WindowUnit(str(row.kind), int(row.qty), row.reason)))
    return {m: [u for _, u in sorted(units, key=lambda x: x[0])] for m, units in found.items()}


def _open_exceptions(session: Session, machines: Iterable[str]) -> dict[str, QualityExceptionRow]:
    """The open quality exception of each machine (the newest, should there be several)."""
    wanted = sorted(set(machines))
    out: dict[str, QualityExceptionRow] = {}
    for lo in range(0, len(wanted), 500):
        for row in session.scalars(select(QualityExceptionRow).where(
                QualityExceptionRow.machine.in_(wanted[lo:lo + 500]), QualityExceptionRow.status == "open"
        ).order_by(QualityExceptionRow.id)):
            out[row.machine] = row  # ascending ids: the newest wins
    return out


def _check_scrap(
    session: Session, snap: Snapshot, machine: str, t: Thresholds, history: Sequence[WindowUnit],
    new: Sequence[UnitEvent], current: QualityExceptionRow | None, now: datetime,
) -> None:
    changes, peak = scrap_changes(history, new, t, current is not None)
    for change in changes:
        if change.opened:
            current = _open_exception(session, snap, machine, t, change, now)
        elif current is not None:
            _clear_exception(current, change)
            current = None
    if current is not None and peak is not None and to_unit(peak) > current.peak_rate:
        current.peak_rate = to_unit(peak)


def _open_exception(session: Session, snap: Snapshot, machine: str, t: Thresholds,
                    change: ScrapChange, now: datetime) -> QualityExceptionRow:
    w, ev = change.window, change.event
    row = QualityExceptionRow(
        machine=machine, work_center=_work_center(snap, machine), work_order=ev.work_order, status="open",
        opened_at=ev.ts, opened_event=ev.key, rate=to_unit(w.rate), peak_rate=to_unit(w.rate), scrap_qty=w.scrap,
        window_units=w.units, threshold=t.scrap_rate, clear_rate=to_unit(t.clear_rate), reasons=dict(w.reasons),
        created=now,
    )
    session.add(row)
    session.flush()
    raise_alert_in(SqlAlchemyUnitOfWork.joining(session, lambda: now), "quality_exception",
                   f"quality_exception:{row.id}",
                   f"machine {machine}: scrap rate {w.reported_rate} over its last {w.units} units reached the "
                   f"threshold {t.scrap_rate} at {ev.ts.isoformat()} (quality exception {row.id})",
                   detail={"quality_exception": row.id, "machine": machine, "work_order": ev.work_order,
                 "rate": str(w.reported_rate), "threshold": str(t.scrap_rate), "reasons": dict(w.reasons)})
    return row


def _clear_exception(row: QualityExceptionRow, change: ScrapChange) -> None:
    if change.peak is not None and to_unit(change.peak) > row.peak_rate:  # reached in this batch, before the clearing
        row.peak_rate = to_unit(change.peak)
    row.status, row.cleared_at, row.cleared_event = "cleared", change.event.ts, change.event.key
    row.cleared_rate = to_unit(change.window.rate)
    log.info("quality exception %s on %s cleared at %s (rate %s)", row.id, row.machine, change.event.ts,
             change.window.reported_rate)


def _check_stops(
    session: Session, snap: Snapshot, machine: str, t: Thresholds, new_rows: Sequence[Mapping[str, Any]],
    now: datetime,
) -> None:
    new_keys = {int(r["event_id"]) for r in new_rows}
    hi = max(r["ts"] for r in new_rows)
    rows = session.execute(select(
        EventPostingRow.event_id, EventPostingRow.ts, EventPostingRow.state, EventPostingRow.reason).where(
        EventPostingRow.machine == machine, EventPostingRow.kind == "state",
        EventPostingRow.status == EventPostingStatus.OPERATIONAL, EventPostingRow.ts <= hi,
    ).order_by(EventPostingRow.ts.desc(), EventPostingRow.event_id.desc()).limit(len(new_keys) + _STATE_HISTORY))
    marks = sorted((StateMark(int(k), ts, str(st), reason) for k, ts, st, reason in rows if st),
                   key=lambda m: (m.ts, m.key))
    reasons = snap.master.downtime_reasons_by_code
    for stop in ended_stops(marks, new_keys):
        if needs_maintenance(stop, reasons, t):
            _request_maintenance(session, snap, machine, t, stop, now)


def _request_maintenance(
    session: Session, snap: Snapshot, machine: str, t: Thresholds, stop: Stop, now: datetime
) -> None:
    exists = session.scalars(select(MaintenanceRequestRow.id).where(
        MaintenanceRequestRow.machine == machine, MaintenanceRequestRow.start_event == stop.start.key)).first()
    if exists is not None:
        return
    category, _planned = stop_category(stop, snap.master.downtime_reasons_by_code)
    order = order_at(dispatches_for(session, [machine], stop.start.ts, stop.start.ts), machine, stop.start.ts)
    minutes = to_unit(stop.minutes)
    row = MaintenanceRequestRow(
        machine=machine, work_center=_work_center(snap, machine), work_order=order, state=stop.start.state,
        reason=stop.start.reason, category=category.value, stop_start=stop.start.ts, stop_end=stop.end.ts,
        minutes=minutes, threshold_minutes=t.downtime_minutes, start_event=stop.start.key, end_event=stop.end.key,
        status="open", created=now,
    )
    session.add(row)
    session.flush()
    raise_alert_in(SqlAlchemyUnitOfWork.joining(session, lambda: now), "maintenance_request",
                   f"maintenance_request:{row.id}",
                   f"machine {machine}: {stop.start.state} ({stop.start.reason or 'no reason'}, {category.value}) for "
                   f"{format_amount(minutes, 1)} min from {stop.start.ts.isoformat()}, over the "
                   f"{t.downtime_minutes} min threshold (maintenance request {row.id})",
                   detail={"maintenance_request": row.id, "machine": machine, "reason": stop.start.reason,
                 "minutes": format_amount(minutes, 1), "work_order": order})


# --- views -----------------------------------------------------------------------------------


def _iso(v: datetime | None) -> str | None:
    return v.isoformat() if v else None


def _ratio(v: Decimal | None) -> str | None:
    return None if v is None else format_amount(v, 4)


def quality_exception_view(r: QualityExceptionRow) -> QualityExceptionView:
    return {
        "id": r.id, "machine": r.machine, "work_center": r.work_center, "work_order": r.work_order,
        "status": r.status, "opened_at": _iso(r.opened_at), "opened_event": r.opened_event, "rate": _ratio(r.rate),
        "peak_rate": _ratio(r.peak_rate), "scrap_qty": r.scrap_qty, "window_units": r.window_units,
        "threshold": _ratio(r.threshold), "clear_rate": _ratio(r.clear_rate), "reasons": r.reasons,
        "cleared_at": _iso(r.cleared_at), "cleared_event": r.cleared_event, "cleared_rate": _ratio(r.cleared_rate),
        "created": _iso(r.created),
    }


def maintenance_request_view(r: MaintenanceRequestRow) -> MaintenanceRequestView:
    return {
        "id": r.id, "machine": r.machine, "work_center": r.work_center, "work_order": r.work_order,
        "state": r.state, "reason": r.reason, "category": r.category, "stop_start": _iso(r.stop_start),
        "stop_end": _iso(r.stop_end), "minutes": format_amount(r.minutes, 2),
        "threshold_minutes": format_amount(r.threshold_minutes, 2), "start_event": r.start_event,
        "end_event": r.end_event, "status": r.status, "created": _iso(r.created),
    }


def _filtered(stmt: Any, model: Any, machine: str | None, status: str | None) -> Any:
    if machine:
        stmt = stmt.where(model.machine == machine)
    if status:
        stmt = stmt.where(model.status == status)
    return stmt


def list_quality_exceptions(session: Session, machine: str | None, status: str | None, limit: int,
                            offset: int) -> list[QualityExceptionView]:
    stmt = _filtered(select(QualityExceptionRow), QualityExceptionRow, machine, status)
    rows: Iterable[QualityExceptionRow] = session.scalars(
        stmt.order_by(QualityExceptionRow.id).limit(limit).offset(offset))
    return [quality_exception_view(r) for r in rows]


def list_maintenance_requests(session: Session, machine: str | None, status: str | None, limit: int,
                              offset: int) -> list[MaintenanceRequestView]:
    stmt = _filtered(select(MaintenanceRequestRow), MaintenanceRequestRow, machine, status)
    rows: Iterable[MaintenanceRequestRow] = session.scalars(
        stmt.order_by(MaintenanceRequestRow.id).limit(limit).offset(offset))
    return [maintenance_request_view(r) for r in rows]
