"""Read models of the console pages that no API report gives whole: the plant's live figures per
machine, the cost page's downtime and cost of quality, a machine's timeline for a shift, the OEE
trend, the streams and the period-close checklist. The figures come from the domain functions the
API's reports use (``costing.reports``), read once per window instead of once per figure, and are
tested equal to those reports, so the console and the API never disagree."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central.adapters.db.dialect import unindexed
from central.adapters.db.models_costing import (
    DispatchRow,
    EventPostingRow,
    EventPostingStatus,
    OpRecordRow,
    WorkOrderRow,
)
from central.adapters.db.models_governance import ApprovalRow
from central.adapters.db.models_ingest import AlertRow, EventRow, EventStatus, GapRow, RejectedEventRow, StreamRow
from central.domain.money import ZERO, format_amount, format_quantity
from central.domain.operations_reports import DowntimeCost, OrderOutput, ScrapRecord, downtime_cost, ideal_hours
from central.domain.operations_reports import cost_of_quality as domain_coq
from central.domain.operations_reports import oee as domain_oee
from central.domain.postings import PostingContext
from central.domain.time_accounting import (
    DowntimeKey,
    MachineTime,
    downtime_hours,
    downtime_of,
    downtime_totals,
    machine_time,
)
from central.errors import InvalidInput, NotFound
from central.service_layer.clock import Clock, utc_now
from central.service_layer.costing import reports
from central.service_layer.costing.executive import read_intervals
from central.service_layer.costing.journal import local_date
from central.service_layer.costing.master_data import Snapshot, snapshot
from central.service_layer.costing.past_cache import cached, past_key
from central.service_layer.ingest import queries

__all__ = ["plant_overview", "window_figures", "cost_figures", "stream_summaries", "machine_timeline", "oee_trend",
           "close_checklist", "today_window", "MAX_TIMELINE"]

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


@dataclass(frozen=True)
class _Units:
    """Units of one kind of one order on one machine for one reason in a window (what the OEE and
    cost-of-quality reports sum)."""

    kind: str
    work_order: str | None
    machine: str
    reason: str | None
    qty: Decimal


_OEE_STATUSES = (EventPostingStatus.POSTED, EventPostingStatus.UNASSIGNED)
"""The postings the OEE report counts (cost of quality: posted only)."""


def _units(session: Session, start: datetime, end: datetime, machines: list[str],
           statuses: tuple[str, ...] = _OEE_STATUSES) -> list[_Units]:
    """Counted and scrapped units in [start, end) with ``statuses``, summed in SQL per kind, order,
    machine and reason: one read of the window for all machines."""
    if not machines:
        return []
    stmt = select(EventPostingRow.kind, EventPostingRow.work_order, EventPostingRow.machine, EventPostingRow.reason,
                  func.sum(EventPostingRow.qty)).where(
        EventPostingRow.machine.in_(machines), EventPostingRow.kind.in_(("count", "scrap")),
        EventPostingRow.ts >= start, EventPostingRow.ts < end, unindexed(EventPostingRow.status).in_(statuses),
    ).group_by(EventPostingRow.kind, EventPostingRow.work_order, EventPostingRow.machine, EventPostingRow.reason)
    return [_Units(str(kind), wo, str(m), reason, Decimal(int(total or 0)))
            for kind, wo, m, reason, total in session.execute(stmt)]


def _oee(ctx: PostingContext, times: list[MachineTime], units: list[_Units], items_of: dict[str, str],
         machine: str | None, start: datetime, end: datetime) -> dict[str, Any]:
    """The OEE report's figures (``costing.reports.oee``, same domain functions, same format) from
    machine times and units already read."""
    total = MachineTime(
        window_hours=sum((t.window_hours for t in times), ZERO), run_hours=sum((t.run_hours for t in times), ZERO),
        planned_stop_hours=sum((t.planned_stop_hours for t in times), ZERO),
        downtime_hours=sum((t.downtime_hours for t in times), ZERO),
    )
    good = scrap = ZERO
    processed: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for u in units:
        if u.kind == "count":
            good += u.qty
        else:
            scrap += u.qty
        item = items_of.get(u.work_order or "")
        if item is not None:
            processed[item] += u.qty
    figures = domain_oee(total, ideal_hours(ctx, processed), good, scrap)
    ratios = figures.rounded()
    return {"machine": machine, "from": start.isoformat(), "to": end.isoformat(),
            "availability": str(ratios["availability"]), "performance": str(ratios["performance"]),
            "quality": str(ratios["quality"]), "oee": str(ratios["oee"]),
            "planned_time_h": format_amount(figures.planned_time_h, 4),
            "run_time_h": format_amount(figures.run_time_h, 4),
            "good": format_quantity(good), "scrap": format_quantity(scrap)}


def _downtime_data(report: DowntimeCost) -> dict[str, Any]:
    """``reports.downtime``'s format."""
    return {"rows": [{"machine": r.machine, "reason": r.reason, "category": r.category.value,
                      "hours": format_amount(r.hours, 4), "cost": format_amount(r.cost)} for r in report.rows],
            "total_hours": format_amount(report.total_hours, 4), "total_cost": format_amount(report.total_cost)}


def _items_of(session: Session, orders: set[str]) -> dict[str, str]:
    if not orders:
        return {}
    return dict(session.execute(select(WorkOrderRow.id, WorkOrderRow.item).where(
        WorkOrderRow.id.in_(sorted(orders)))).tuples().all())


def window_figures(session: Session, snap: Snapshot, w: reports.Window, *, machines: list[str] | None = None,
                   clock: Clock = utc_now) -> dict[str, Any]:
    """OEE per machine and for the plant, and downtime by machine and reason, over ``w``: the figures
    of ``reports.oee`` and ``reports.downtime`` (tested equal), from ONE read of the machines' intervals
    and ONE summed read of their units (the reports read both once per call: the plant page needs
    ``2 + machines`` calls). ``machines``: only these (default every machine; the plant figure
    then covers them)."""
    if machines is None:
        machines = [m.id for m in snap.master.machines]
    end = min(w.end, clock())
    ivs = read_intervals(session, snap, machines, w.start, end) if machines else []
    units = _units(session, w.start, end, machines) if machines else []
    hours = downtime_hours(ivs, w.start, w.end)
    items_of = _items_of(session, {u.work_order for u in units if u.work_order}
                         | {h.work_order for h in hours if h.work_order})
    ctx = snap.context(_entity(snap))
    cost = downtime_cost(ctx, hours, items_of)
    times = {m: machine_time(ivs, m, w.start, end) for m in machines}
    per_machine = {m: _oee(ctx, [times[m]], [u for u in units if u.machine == m], items_of, m, w.start, end)
                   for m in machines}
    return {
        "oee": per_machine, "plant_oee": _oee(ctx, list(times.values()), units, items_of, None, w.start, end),
        "downtime": _downtime_data(cost),
    }


def _cost_part(session: Session, snap: Snapshot, machines: list[str], start: datetime,
               end: datetime) -> tuple[dict[DowntimeKey, timedelta], list[_Units]]:
    """Exact downtime per machine, reason, category and order, and posted units, of [start, end):
    what the cost figures sum; the parts of adjoining windows add up to their union's."""
    if not machines:
        return {}, []
    return (downtime_totals(read_intervals(session, snap, machines, start, end), start, end),
            _units(session, start, end, machines, (EventPostingStatus.POSTED,)))


def cost_figures(session: Session, snap: Snapshot, w: reports.Window, *, clock: Clock = utc_now,
                 split: datetime | None = None) -> dict[str, Any]:
    """Downtime cost and cost of quality over ``w`` (e.g. a monthly period): the figures of
    ``reports.downtime`` and ``reports.cost_of_quality`` (tested equal). The finished days before
    today's local midnight come from the past cache
    (:func:`~central.service_layer.costing.past_cache.cached`) as totals (downtime time per
    machine, reason and order; units per order, machine and reason), so a request sums a few dozen
    of them, not a month of intervals; today's part is read on every request. Time and units add
    up exactly across the split (``split``: another instant than today's midnight, for a test)."""
    machines = [m.id for m in snap.master.machines]
    now = clock()
    end = min(w.end, now)
    midnight = min(max(split or today_window(session, snap, clock).start, w.start), end)
    down: dict[DowntimeKey, timedelta] = defaultdict(timedelta)
    units: list[_Units] = []
    parts: list[tuple[dict[DowntimeKey, timedelta], list[_Units]]] = []
    if midnight > w.start:
        parts.append(cached(("console-cost", past_key(session, midnight), tuple(machines), w.start, midnight),
                            lambda: _cost_part(session, snap, machines, w.start, midnight)))
    if end > midnight:
        parts.append(_cost_part(session, snap, machines, midnight, end))
    for part_down, part_units in parts:
        for key, span in part_down.items():
            down[key] += span
        units += part_units
    hours = downtime_of(down)
    good: dict[str, Decimal] = defaultdict(lambda: ZERO)
    scrap: dict[tuple[str, str, str | None], Decimal] = defaultdict(lambda: ZERO)
    for u in units:
        if u.work_order is None:
            continue
        if u.kind == "count":
            good[u.work_order] += u.qty
        else:
            scrap[(u.work_order, u.machine, u.reason)] += u.qty
    items_of = _items_of(session, {h.work_order for h in hours if h.work_order} | {wo for wo, _, _ in scrap})
    ctx = snap.context(_entity(snap))
    cost = downtime_cost(ctx, hours, items_of)
    coq = domain_coq(ctx, [ScrapRecord(wo, m, reason, qty) for (wo, m, reason), qty in scrap.items()],
                     [OrderOutput(wo, items_of[wo], good[wo]) for wo in {wo for wo, _, _ in scrap}])
    return {
        "downtime": _downtime_data(cost),
        "coq": {"rows": [{"machine": r.machine, "reason": r.reason, "qty": str(r.qty),
                          "amount": format_amount(r.amount)} for r in coq.rows],
                "normal": format_amount(coq.normal), "abnormal": format_amount(coq.abnormal),
                "total": format_amount(coq.total)},
    }


def stream_summaries(session: Session) -> list[dict[str, Any]]:
    """Per edge stream: last seq, acked through, events held behind its gaps, the gaps, last seen.

    ``held`` counts the pending events above the stream's ``acked_through`` (a held event always
    is: the ingest's own cursor reads them so) through the ``(edge, stream, seq)`` key, so it costs
    the held events, not a scan of every event ever stored."""
    gaps: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for g in session.scalars(select(GapRow).where(GapRow.closed.is_(None)).order_by(GapRow.id)):
        gaps[g.stream].append({"id": g.id, "from": g.from_seq, "through": g.through_seq,
                               "opened": g.opened.isoformat() if g.opened else None})
    out = []
    for s in session.scalars(select(StreamRow).order_by(StreamRow.edge, StreamRow.stream)):
        held = 0
        if s.last_seq > s.acked_through:
            held = int(session.scalar(select(func.count()).select_from(EventRow).where(
                EventRow.edge == s.edge, EventRow.stream == s.stream, EventRow.seq > s.acked_through,
                EventRow.status == EventStatus.PENDING)) or 0)
        out.append({"stream": s.stream, "edge": s.edge, "plant": s.plant, "last_seq": s.last_seq,
                    "acked_through": s.acked_through, "held": held, "gaps": gaps.get(s.stream, []),
                    "last_seen": s.last_seen.isoformat() if s.last_seen else None, "online": s.online})
    return out


def plant_overview(session: Session, *, clock: Clock = utc_now) -> dict[str, Any]:
    """Every machine live: state and reason, current order, good and scrap today, OEE with
    availability/performance/quality, downtime by reason today; and per edge its streams (last seq,
    acked through, held behind gaps, last seen) — what central knows of each edge's backlog.

    Cheap enough to poll (htmx, every 3 s): a handful of indexed reads, each following today's
    rows or the streams, never the history."""
    snap = snapshot(session)
    w = today_window(session, snap, clock)
    machines = [m.id for m in snap.master.machines]
    states = _last_states(session, machines)
    running = dict(session.execute(select(DispatchRow.machine, DispatchRow.work_order)
                                   .where(DispatchRow.end.is_(None))).tuples().all())
    figures = window_figures(session, snap, w, clock=clock)
    by_machine: dict[str, list[Any]] = defaultdict(list)
    for row in figures["downtime"]["rows"]:
        by_machine[row["machine"]].append(row)
    edges = {e["id"]: e for e in queries.list_edges(session)}
    rows = []
    for m in snap.master.machines:
        st = states.get(m.id)
        rows.append({
            "machine": m.id, "work_center": m.work_center, "edge": m.edge,
            "state": st.state if st is not None else None, "reason": st.reason if st is not None else None,
            "since": st.ts.isoformat() if st is not None else None, "work_order": running.get(m.id),
            "oee": figures["oee"][m.id], "downtime": by_machine.get(m.id, []),
        })
    return {"from": w.start.isoformat(), "to": min(w.end, clock()).isoformat(), "machines": rows,
            "streams": stream_summaries(session), "edges": edges,
            "downtime_total_hours": figures["downtime"]["total_hours"],
            "downtime_total_cost": figures["downtime"]["total_cost"], "oee": figures["plant_oee"]}


def oee_trend(session: Session, days: int = 7, machine: str | None = None, *,
              clock: Clock = utc_now, today_oee: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """OEE per local day over the last ``days`` days (today last, up to now). Finished days come
    from the past cache (:mod:`central.service_layer.costing.past_cache`); today is always
    computed, unless the caller has it already (``today_oee``: the plant page's own figure)."""
    if not 1 <= days <= 31:
        raise InvalidInput("the OEE trend covers 1 to 31 days")
    snap = snapshot(session)
    if machine is not None and machine not in snap.master.machines_by_id:
        raise NotFound(f"no machine {machine!r}")
    today = local_date(snap, _entity(snap), clock())
    today_start = reports.window(session, snap, None, today.isoformat(), today.isoformat(), clock=clock).start
    past = past_key(session, today_start)
    out = []
    for back in range(days - 1, -1, -1):
        day = (today - timedelta(days=back)).isoformat()

        def load(day: str = day) -> dict[str, Any]:
            got = window_figures(session, snap, reports.window(session, snap, None, day, day, clock=clock),
                                 clock=clock)
            figures: dict[str, Any] = got["plant_oee"] if machine is None else got["oee"][machine]
            return figures
        if back:  # a finished day
            figures = cached(("console-trend", past, machine, day), load)
        else:
            figures = today_oee if today_oee is not None else load()
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
    spans = [] if hi <= start else read_intervals(session, snap, [machine], start, hi)
    in_window = (EventPostingRow.machine == machine, EventPostingRow.ts >= start, EventPostingRow.ts < end)
    good = int(session.scalar(select(func.sum(EventPostingRow.qty)).where(
        EventPostingRow.kind == "count", *in_window)) or 0)
    scrap_rows = [{"ts": ts.isoformat(), "qty": qty, "reason": reason, "work_order": wo, "event_id": event_id,
                   "status": status}
                  for ts, qty, reason, wo, event_id, status in session.execute(select(
                      EventPostingRow.ts, EventPostingRow.qty, EventPostingRow.reason, EventPostingRow.work_order,
                      EventPostingRow.event_id, EventPostingRow.status).where(
                      EventPostingRow.kind == "scrap", *in_window).order_by(EventPostingRow.ts))]
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


def close_checklist(session: Session, period_id: str | None,
                    streams: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """What stands between a period and its close: open orders, unposted inputs (events held,
    suspect or unassigned, rejected events not replayed, open gaps), labour and overhead not yet
    booked per work centre, and open queues (approvals, alerts). ``ready`` when nothing blocks.
    ``streams``: :func:`stream_summaries` if the caller has read them already. Every count is
    an indexed count, never a list."""
    snap = snapshot(session)
    if streams is None:
        streams = stream_summaries(session)
    open_orders = [str(o) for o in session.scalars(
        select(WorkOrderRow.id).where(WorkOrderRow.status != "closed").order_by(WorkOrderRow.id).limit(50))]
    checks = [
        {"name": "open work orders", "count": _count(session, select(WorkOrderRow.id).where(
            WorkOrderRow.status != "closed")), "detail": ", ".join(open_orders), "blocks": False},
        {"name": "events held behind gaps", "count": sum(s["held"] for s in streams), "blocks": True},
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

