"""Read models of the console pages that no API report gives whole: the plant's live figures per
machine, a machine's timeline for a shift, the OEE trend and the period-close checklist. Every
figure comes from the same service functions the API's reports use (``costing.reports``,
``costing.timeline``, ``ingest.queries``), so the console and the API never disagree."""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import datetime, timedelta
from time import monotonic
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central.adapters.db.models_costing import DispatchRow, EventPostingRow, OpRecordRow, WorkOrderRow
from central.adapters.db.models_governance import ApprovalRow
from central.adapters.db.models_ingest import AlertRow, EventRow, GapRow, RejectedEventRow
from central.errors import InvalidInput, NotFound
from central.service_layer.clock import Clock, utc_now
from central.service_layer.costing import reports
from central.service_layer.costing.journal import local_date
from central.service_layer.costing.master_data import Snapshot, snapshot
from central.service_layer.costing.timeline import intervals
from central.service_layer.ingest import queries

__all__ = ["plant_overview", "machine_timeline", "oee_trend", "close_checklist", "today_window", "MAX_TIMELINE"]

MAX_TIMELINE = timedelta(days=7)
"""The longest window a machine timeline draws."""


def _entity(snap: Snapshot) -> str | None:
    return snap.master.entities[0].id if snap.master.entities else None


def today_window(session: Session, snap: Snapshot, clock: Clock = utc_now) -> reports.Window:
    """From local midnight (the first entity's zone) to now."""
    today = local_date(snap, _entity(snap), clock())
    return reports.window(session, snap, None, today.isoformat(), None, clock=clock)


def _last_states(session: Session, machines: list[str]) -> dict[str, EventPostingRow]:
    out: dict[str, EventPostingRow] = {}
    for machine in machines:
        row = session.scalars(select(EventPostingRow).where(
            EventPostingRow.machine == machine, EventPostingRow.kind == "state", EventPostingRow.status != "suspect")
            .order_by(EventPostingRow.ts.desc(), EventPostingRow.event_id.desc()).limit(1)).first()
        if row is not None:
            out[machine] = row
    return out


def plant_overview(session: Session, *, clock: Clock = utc_now) -> dict[str, Any]:
    """Every machine live: state and reason, current order, good and scrap today, OEE with
    availability/performance/quality, downtime by reason today; and per edge its streams (last seq,
    acked through, held behind gaps, last seen) — what central knows of each edge's backlog."""
    snap = snapshot(session)
    w = today_window(session, snap, clock)
    machines = [m.id for m in snap.master.machines]
    states = _last_states(session, machines)
    running = dict(session.execute(select(DispatchRow.machine, DispatchRow.work_order)
                                   .where(DispatchRow.end.is_(None))).tuples().all())
    downtime = reports.downtime(session, w, None, clock=clock)
    by_machine: dict[str, list[Any]] = defaultdict(list)
    for row in downtime["rows"]:
        by_machine[row["machine"]].append(row)
    streams = queries.list_streams(session)
    edges = {e["id"]: e for e in queries.list_edges(session)}
    rows = []
    for m in snap.master.machines:
        st = states.get(m.id)
        rows.append({
            "machine": m.id, "work_center": m.work_center, "edge": m.edge,
            "state": st.state if st is not None else None, "reason": st.reason if st is not None else None,
            "since": st.ts.isoformat() if st is not None else None, "work_order": running.get(m.id),
            "oee": reports.oee(session, w, m.id, clock=clock), "downtime": by_machine.get(m.id, []),
        })
    return {"from": w.start.isoformat(), "to": w.end.isoformat(), "machines": rows, "streams": streams,
            "edges": edges, "downtime_total_hours": downtime["total_hours"],
            "downtime_total_cost": downtime["total_cost"], "oee": reports.oee(session, w, None, clock=clock)}


TREND_CACHE_SECONDS = 300.0
"""How long a finished day's OEE stays cached per process (a late event for that day shows then)."""
_trend_cache: dict[tuple[str, str | None, str], tuple[float, dict[str, Any]]] = {}
_trend_lock = threading.Lock()


def oee_trend(session: Session, days: int = 7, machine: str | None = None, *,
              clock: Clock = utc_now) -> list[dict[str, Any]]:
    """OEE per local day over the last ``days`` days (today last, up to now). Finished days are
    cached for :data:`TREND_CACHE_SECONDS` per process and database; today is always computed."""
    if not 1 <= days <= 31:
        raise InvalidInput("the OEE trend covers 1 to 31 days")
    snap = snapshot(session)
    today = local_date(snap, _entity(snap), clock())
    database = str(session.get_bind().engine.url)
    out = []
    for back in range(days - 1, -1, -1):
        day = (today - timedelta(days=back)).isoformat()
        key = (database, machine, day)
        with _trend_lock:
            hit = _trend_cache.get(key) if back else None
        if hit is not None and hit[0] > monotonic():
            figures = hit[1]
        else:
            figures = dict(reports.oee(session, reports.window(session, snap, None, day, day, clock=clock), machine,
                                       clock=clock))
            if back:
                with _trend_lock:
                    if len(_trend_cache) > 10_000:  # drop the expired ones now and then
                        for stale in [k for k, (until, _) in _trend_cache.items() if until <= monotonic()]:
                            del _trend_cache[stale]
                    _trend_cache[key] = (monotonic() + TREND_CACHE_SECONDS, figures)
        out.append({"day": day, **figures})
    return out


def machine_timeline(session: Session, machine: str, start: datetime, end: datetime, *,
                     clock: Clock = utc_now) -> dict[str, Any]:
    """One machine's states (run, planned stop, downtime with reason, per order) and its scrap and
    counts in [start, end) — a shift, typically."""
    snap = snapshot(session)
    if machine not in snap.master.machines_by_id:
        raise NotFound(f"no machine {machine!r}")
    if end <= start:
        raise InvalidInput("the timeline's end must be after its start")
    if end - start > MAX_TIMELINE:
        raise InvalidInput(f"a timeline covers at most {MAX_TIMELINE.days} days")
    hi = min(end, clock())
    spans = [] if hi <= start else intervals(session, snap, [machine], start, hi)
    rows = list(session.scalars(select(EventPostingRow).where(
        EventPostingRow.machine == machine, EventPostingRow.kind.in_(("count", "scrap")),
        EventPostingRow.ts >= start, EventPostingRow.ts < end).order_by(EventPostingRow.ts)))
    good = sum(r.qty for r in rows if r.kind == "count")
    scrap_rows = [{"ts": r.ts.isoformat(), "qty": r.qty, "reason": r.reason, "work_order": r.work_order,
                   "event_id": r.event_id, "status": r.status} for r in rows if r.kind == "scrap"]
    return {
        "machine": machine, "from": start.isoformat(), "to": end.isoformat(),
        "intervals": [{"start": i.start.isoformat(), "end": i.end.isoformat(), "state": i.state.value,
                       "kind": i.kind.value, "work_order": i.work_order, "reason": i.reason,
                       "hours": f"{(i.end - i.start).total_seconds() / 3600:.2f}",
                       "offset": (i.start - start).total_seconds(), "length": (i.end - i.start).total_seconds()}
                      for i in spans if i.end > i.start],
        "good": good, "scrap": sum(r["qty"] for r in scrap_rows), "scrap_events": scrap_rows[-200:],
        "seconds": (end - start).total_seconds(),
    }


def _count(session: Session, stmt: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)


def close_checklist(session: Session, period_id: str | None) -> dict[str, Any]:
    """What stands between a period and its close: open orders, unposted inputs (events held,
    suspect or unassigned, rejected events not replayed, open gaps), labour and overhead not yet
    booked per work centre, and open queues (approvals, alerts). ``ready`` when nothing blocks."""
    snap = snapshot(session)
    open_orders = [str(o) for o in session.scalars(
        select(WorkOrderRow.id).where(WorkOrderRow.status != "closed").order_by(WorkOrderRow.id).limit(50))]
    checks = [
        {"name": "open work orders", "count": _count(session, select(WorkOrderRow.id).where(
            WorkOrderRow.status != "closed")), "detail": ", ".join(open_orders), "blocks": False},
        {"name": "events held behind gaps", "count": _count(session, select(EventRow.id).where(
            EventRow.status == "pending")), "blocks": True},
        {"name": "open gaps", "count": _count(session, select(GapRow.id).where(GapRow.closed.is_(None))),
         "blocks": True},
        {"name": "suspect events", "count": _count(session, select(EventPostingRow.event_id).where(
            EventPostingRow.status == "suspect")), "blocks": True},
        {"name": "unassigned events", "count": _count(session, select(EventPostingRow.event_id).where(
            EventPostingRow.status == "unassigned")), "blocks": True},
        {"name": "rejected events not replayed", "count": _count(session, select(RejectedEventRow.id).where(
            RejectedEventRow.status == "open")), "blocks": True},
        {"name": "pending approvals", "count": _count(session, select(ApprovalRow.id).where(
            ApprovalRow.status == "pending")), "blocks": True},
        {"name": "open alerts", "count": _count(session, select(AlertRow.id).where(AlertRow.acked_at.is_(None))),
         "blocks": False},
    ]
    if period_id:
        for kind, label in (("labor_booking", "labour booked"), ("overhead_actual", "overhead actuals")):
            booked = set(session.scalars(select(OpRecordRow.work_center).where(
                OpRecordRow.kind == kind, OpRecordRow.period == period_id)))
            missing = [wc.id for wc in snap.master.work_centers if wc.id not in booked]
            checks.append({"name": f"work centres without {label}", "count": len(missing),
                           "detail": ", ".join(missing), "blocks": False})
    for c in checks:
        c.setdefault("detail", "")
    return {"period": period_id, "checks": checks,
            "ready": all(c["count"] == 0 for c in checks if c["blocks"])}

