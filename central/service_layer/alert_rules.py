"""The rule evaluator (issue 14): reads the figures each rule of :mod:`central.domain.alert_rules`
needs, applies the findings through the alert service, and resolves what cleared.

It runs periodically in its own thread (:class:`AlertEvaluator`, started by ``sfsync central
serve`` next to the webhook worker), one transaction per run; never per event, never on the
ingest path. A rule family that fails is logged and skipped for that run: its open alerts are
neither refreshed nor resolved (a failing query never resolves an alert).

What each rule reads:

* running orders (``started``): run hours from the state events while dispatched
  (``costing.timeline.order_run_hours``), output and manual issues from the order's accruals;
* purchase-order lines not fully received; on hand (``item_stock``) and open PO quantity due
  within the horizon against released and running orders' remaining BOM requirements;
* edges (status, ``oldest_unacked_ts``) whose machines have an open dispatch; each machine's
  latest state event and latest event;
* orders closed, and periods closed, within the last ``lookback`` (default 7 days): their
  variance journal lines, against the order's finished goods at standard or the period's
  production output at standard (for the percentage).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from central.adapters.db.models_costing import (
    DispatchRow,
    EventPostingRow,
    EventPostingStatus,
    ItemStockRow,
    JournalEntryRow,
    JournalLineRow,
    OpRecordRow,
    PeriodRow,
    WorkOrderRow,
)
from central.adapters.db.models_ingest import AlertRow, EdgeRow, MachineRow
from central.adapters.db.models_purchasing import PurchaseOrderLineRow, PurchaseOrderRow
from central.adapters.master_snapshot import snapshot
from central.adapters.unit_of_work import SqlAlchemyUnitOfWork
from central.domain import alert_rules as rules
from central.domain.accruals import FINISHED_GOODS, VARIANCE, OrderAccruals
from central.domain.alert_rules import AlertThresholds, Finding, resolve_alert_thresholds
from central.domain.master_data import IssueMethod
from central.domain.master_snapshot import Snapshot
from central.domain.money import ZERO
from central.service_layer.alerts import ACTIVE, apply_finding, clear_step
from central.service_layer.clock import Clock, utc_now
from central.service_layer.costing.timeline import order_run_hours
from central.service_layer.supervised_job import SupervisedJob
from central.service_layer.webhooks import WebhookMetrics

log = logging.getLogger(__name__)

__all__ = ["Layers", "evaluate", "closes", "period_variances", "period_output_at_standard", "AlertEvaluator",
           "RUNNING", "LOOKBACK"]

RUNNING = "started"
LOOKBACK = timedelta(days=7)


@dataclass
class Layers:
    """Alert thresholds per plant, work centre and machine from master data (``alert_thresholds``)."""

    snap: Snapshot
    _cache: dict[tuple[str, str | None], AlertThresholds] = field(default_factory=dict)

    def _record(self, section: str, key: str | None) -> Mapping[str, Any] | None:
        if key is None:
            return None
        rec = next((r for r in self.snap.records.get(section, []) if r.get("id") == key), None)
        return None if rec is None else rec.get("alert_thresholds")

    def plant(self, plant: str | None) -> AlertThresholds:
        k = ("plant", plant)
        if k not in self._cache:
            self._cache[k] = resolve_alert_thresholds(self._record("plants", plant))
        return self._cache[k]

    def work_centre(self, wc: str | None) -> AlertThresholds:
        k = ("wc", wc)
        if k not in self._cache:
            plant = self.plant_of_wc(wc)
            self._cache[k] = resolve_alert_thresholds(self._record("plants", plant), self._record("work_centers", wc))
        return self._cache[k]

    def machine(self, machine: str | None) -> AlertThresholds:
        k = ("machine", machine)
        if k not in self._cache:
            m = self.snap.master.machines_by_id.get(machine or "")
            wc = m.work_center if m is not None else None
            self._cache[k] = resolve_alert_thresholds(self._record("plants", self.plant_of_wc(wc)),
                                                      self._record("work_centers", wc),
                                                      self._record("machines", machine))
        return self._cache[k]

    def plant_of_wc(self, wc: str | None) -> str | None:
        w = self.snap.master.work_centers_by_id.get(wc or "")
        return w.plant if w is not None else None

    def entity_of_plant(self, plant: str | None) -> str | None:
        return next((p.entity for p in self.snap.master.plants if p.id == plant), None)

    def entity_strictest(self, entity: str | None) -> AlertThresholds:
        """For a period close, which spans plants: the lowest variance thresholds among the plants
        of the period's entity (a period without an entity: among all plants; none: the defaults)."""
        plants = [self.plant(p.id) for p in self.snap.master.plants if entity is None or p.entity == entity]
        if not plants:
            return self.plant(None)
        return replace(plants[0], variance_amount=min(t.variance_amount for t in plants),
                       variance_percent=min(t.variance_percent for t in plants))


Rated = tuple[Finding, int]  # a finding and the clear runs its thresholds ask for
Rule = Callable[[Session, Layers, datetime], list[Rated]]


# --- the rules' reads ----------------------------------------------------------------------------


def _orders(session: Session, statuses: Iterable[str]) -> list[WorkOrderRow]:
    return list(session.scalars(select(WorkOrderRow).where(WorkOrderRow.status.in_(list(statuses)))
                                .order_by(WorkOrderRow.id)))


def running_orders(session: Session, layers: Layers, now: datetime) -> list[Rated]:
    out: list[Rated] = []
    master = layers.snap.master
    for order in _orders(session, [RUNNING]):
        routing = master.routings_by_item.get(order.item)
        if routing is None:
            continue
        acc = OrderAccruals.from_data(order.accruals)
        plant = layers.plant_of_wc(routing.work_center)
        t = layers.machine(order.machine) if order.machine else layers.work_centre(routing.work_center)
        entity = layers.entity_of_plant(plant)
        dispatches = list(session.scalars(select(DispatchRow).where(DispatchRow.work_order == order.id)
                                          .order_by(DispatchRow.start)))
        if dispatches:
            progress = rules.OrderProgress(
                order.id, order.item, order.machine, routing.work_center, order.qty, acc.good_qty, acc.scrap_qty,
                order_run_hours(session, layers.snap, order.id, now), routing.machine_hours, routing.labor_hours,
                dispatches[0].start, now, {"dispatches": [d.id for d in dispatches]})
            for labour in (False, True):
                f = rules.hours_overrun(progress, t, labour=labour, plant=plant, entity=entity)
                if f is not None:
                    out.append((f, t.clear_runs))
        bom = master.bom(order.item)
        for comp in bom.components:
            item = master.items_by_id.get(comp.item)
            if item is None or item.issue is not IssueMethod.MANUAL:
                continue  # a backflushed component is consumed at standard by definition
            records = list(session.scalars(select(OpRecordRow.id).where(
                OpRecordRow.kind == "material_issue", OpRecordRow.work_order == order.id,
                OpRecordRow.item == comp.item).order_by(OpRecordRow.id)))
            use = rules.MaterialUse(order.id, comp.item, acc.issued.get(comp.item, ZERO), comp.qty,
                                    acc.processed_qty, records)
            f = rules.material_overuse(use, t, plant=plant, entity=entity)
            if f is not None:
                out.append((f, t.clear_runs))
    return out


def centre_labour(session: Session, layers: Layers, now: datetime) -> list[Rated]:
    """Open periods that have begun: labour booked per work centre against standard hours of the
    units processed in the period (posted count and scrap events, by the order's routing)."""
    master = layers.snap.master
    out: list[Rated] = []
    today = now.date()
    for period in session.scalars(select(PeriodRow).where(PeriodRow.status == "open", PeriodRow.start <= today)
                                  .order_by(PeriodRow.start)):
        booked: dict[str, tuple[Decimal, list[int]]] = {}
        for rec in session.scalars(select(OpRecordRow).where(OpRecordRow.kind == "labor_booking",
                                                             OpRecordRow.period == period.id)):
            hours, ids = booked.get(rec.work_center or "", (ZERO, []))
            booked[rec.work_center or ""] = (hours + (rec.qty or ZERO), [*ids, rec.id])
        if not booked:
            continue
        lo = datetime.combine(period.start, time.min, UTC)
        hi = datetime.combine(period.end + timedelta(days=1), time.min, UTC)
        items = dict(session.execute(select(WorkOrderRow.id, WorkOrderRow.item)).tuples().all())
        output: dict[str, tuple[Decimal, Decimal]] = {}
        stmt = (select(EventPostingRow.work_order, func.sum(EventPostingRow.qty))
                .where(EventPostingRow.status == EventPostingStatus.POSTED,
                       EventPostingRow.kind.in_(["count", "scrap"]), EventPostingRow.ts >= lo,
                       EventPostingRow.ts < hi, EventPostingRow.work_order.is_not(None))
                .group_by(EventPostingRow.work_order))
        for order_id, qty in session.execute(stmt).tuples():
            routing = master.routings_by_item.get(items.get(str(order_id), ""))
            if routing is None:
                continue
            units, std = output.get(routing.work_center, (ZERO, ZERO))
            output[routing.work_center] = (units + Decimal(qty or 0), std + Decimal(qty or 0) * routing.labor_hours)
        for wc, (hours, ids) in sorted(booked.items()):
            units, std = output.get(wc, (ZERO, ZERO))
            plant = layers.plant_of_wc(wc)
            t = layers.work_centre(wc)
            f = rules.centre_labour(rules.CentreLabour(wc, period.id, hours, std, units, ids), t, plant=plant,
                                    entity=layers.entity_of_plant(plant))
            if f is not None:
                out.append((f, t.clear_runs))
    return out


def _open_lines(session: Session) -> list[tuple[PurchaseOrderLineRow, PurchaseOrderRow]]:
    stmt = (select(PurchaseOrderLineRow, PurchaseOrderRow)
            .join(PurchaseOrderRow, PurchaseOrderRow.id == PurchaseOrderLineRow.purchase_order)
            .where(PurchaseOrderRow.status != "cancelled", PurchaseOrderLineRow.received_qty < PurchaseOrderLineRow.qty)
            .order_by(PurchaseOrderLineRow.id))
    return [(ln, po) for ln, po in session.execute(stmt).tuples()]


def po_lines(session: Session, layers: Layers, now: datetime) -> list[Rated]:
    out: list[Rated] = []
    for line, po in _open_lines(session):
        t = layers.plant(po.plant)
        due = rules.PoLineDue(line.id, po.id, line.line_no, po.supplier, line.item, line.qty, line.received_qty,
                              line.due, po.plant, po.entity)
        out.append((rules.po_line_late(due, now.date(), t), t.clear_runs))
    return out


def shortages(session: Session, layers: Layers, now: datetime) -> list[Rated]:
    master = layers.snap.master
    needs: dict[str, list[rules.Requirement]] = {}
    for order in _orders(session, ["released", RUNNING, "stopped"]):
        acc = OrderAccruals.from_data(order.accruals)
        remaining_units = max(order.qty - acc.good_qty, ZERO)
        for comp in master.bom(order.item).components:
            item = master.items_by_id.get(comp.item)
            if item is None:
                continue
            if item.issue is IssueMethod.MANUAL:
                qty = max(order.qty * comp.qty - acc.issued.get(comp.item, ZERO), ZERO)
            else:
                qty = remaining_units * comp.qty
            if qty > 0:
                needs.setdefault(comp.item, []).append(rules.Requirement(order.id, comp.item, qty))
    if not needs:
        return []
    t = layers.plant(None)
    horizon = now.date() + timedelta(days=t.shortage_horizon_days)
    on_hand = {str(i): q for i, q in session.execute(select(ItemStockRow.item, ItemStockRow.qty)
                                                     .where(ItemStockRow.item.in_(list(needs))))}
    incoming: dict[str, list[tuple[int, Decimal, Any]]] = {}
    for line, _po in _open_lines(session):
        if line.item in needs and line.due <= horizon:
            incoming.setdefault(line.item, []).append((line.id, line.qty - line.received_qty, line.due))
    return [(rules.shortage(item, reqs, rules.Supply(on_hand.get(item) or ZERO, incoming.get(item, [])), horizon, t),
             t.clear_runs) for item, reqs in sorted(needs.items())]


def edges(session: Session, layers: Layers, now: datetime) -> list[Rated]:
    scheduled: dict[str, list[str]] = {}
    stmt = (select(MachineRow.edge, MachineRow.id).join(DispatchRow, DispatchRow.machine == MachineRow.id)
            .where(DispatchRow.end.is_(None), MachineRow.edge.is_not(None)).distinct())
    for edge, machine in session.execute(stmt).tuples():
        scheduled.setdefault(str(edge), []).append(str(machine))
    out: list[Rated] = []
    for e in session.scalars(select(EdgeRow).order_by(EdgeRow.id)):
        t = layers.plant(e.plant)
        view = rules.EdgeView(e.id, e.plant, e.online, e.status_at, e.oldest_unacked_ts,
                              sorted(scheduled.get(e.id, [])))
        out.append((rules.edge_offline(view, now, t), t.clear_runs))
        out.append((rules.edge_unacked(view, now, t), t.clear_runs))
    return out


def streams(session: Session, layers: Layers, now: datetime) -> list[Rated]:
    """Per known machine: its latest event and latest state event (two index reads each)."""
    out: list[Rated] = []
    for machine in session.scalars(select(MachineRow.id).order_by(MachineRow.id)):
        last = session.execute(
            select(EventPostingRow.ts, EventPostingRow.event_id).where(EventPostingRow.machine == machine)
            .order_by(EventPostingRow.ts.desc(), EventPostingRow.event_id.desc()).limit(1)).first()
        if last is None:
            continue
        state = session.execute(
            select(EventPostingRow.state, EventPostingRow.event_id)
            .where(EventPostingRow.machine == machine, EventPostingRow.kind == "state")
            .order_by(EventPostingRow.ts.desc(), EventPostingRow.event_id.desc()).limit(1)).first()
        m = layers.snap.master.machines_by_id.get(machine)
        plant = layers.plant_of_wc(m.work_center) if m is not None else None
        view = rules.MachineView(machine, plant, state[0] if state else None, state[1] if state else None,
                                 last[0], last[1])
        t = layers.machine(machine)
        out.append((rules.stream_silent(view, now, t), t.clear_runs))
    return out


def closes(session: Session, layers: Layers, now: datetime) -> list[Rated]:
    """Order closes and period closes of the last :data:`LOOKBACK` (raised once each)."""
    out: list[Rated] = []
    since = now - LOOKBACK
    for order in session.scalars(select(WorkOrderRow).where(WorkOrderRow.status == "closed",
                                                            WorkOrderRow.closed_at >= since)):
        acc = OrderAccruals.from_data(order.accruals)
        base = abs(acc.amount(FINISHED_GOODS)) or None
        lines = [rules.VarianceLine(k.removeprefix(VARIANCE + ":"), v, base)
                 for k, v in sorted(acc.posted.items()) if k.startswith(VARIANCE + ":") and v]
        routing = layers.snap.master.routings_by_item.get(order.item)
        wc = routing.work_center if routing is not None else None
        plant = layers.plant_of_wc(wc)
        t = layers.work_centre(wc)
        f = rules.variance_over("order", order.id, lines, t, plant=plant, entity=layers.entity_of_plant(plant),
                                evidence={"closed_at": order.closed_at.isoformat() if order.closed_at else None,
                                          "finished_goods_at_standard": str(base or 0)})
        if f is not None:
            out.append((f, t.clear_runs))
    for period in session.scalars(select(PeriodRow).where(PeriodRow.status == "closed",
                                                          PeriodRow.closed_at >= since)):
        t = layers.entity_strictest(period.entity)
        lines, base = period_variances(session, period.id)
        f = rules.variance_over("period", period.id, lines, t, entity=period.entity,
                                evidence={"closed_at": period.closed_at.isoformat() if period.closed_at else None,
                                          "output_at_standard": str(base)})
        if f is not None:
            out.append((f, t.clear_runs))
    return out


def period_output_at_standard(session: Session, period: str) -> Decimal:
    """The period's production output at standard: finished goods debited by work-order entries
    (net of their reversals), the base a period variance's percentage is taken of."""
    stmt = (select(func.sum(JournalLineRow.debit), func.sum(JournalLineRow.credit))
            .join(JournalEntryRow, JournalEntryRow.id == JournalLineRow.entry_id)
            .where(JournalEntryRow.period == period, JournalEntryRow.work_order.is_not(None),
                   JournalLineRow.role == FINISHED_GOODS))
    debit, credit = session.execute(stmt).one()
    return Decimal(debit or 0) - Decimal(credit or 0)


def period_variances(session: Session, period: str) -> tuple[list[rules.VarianceLine], Decimal]:
    """The period's variance journal lines by variance role, each with the period's output at
    standard as its base (no output: amount only), and that base."""
    base = period_output_at_standard(session, period)
    stmt = (select(JournalLineRow.role, func.sum(JournalLineRow.debit), func.sum(JournalLineRow.credit))
            .join(JournalEntryRow, JournalEntryRow.id == JournalLineRow.entry_id)
            .where(JournalEntryRow.period == period, JournalLineRow.role.like("%variance%"))
            .group_by(JournalLineRow.role))
    out: list[rules.VarianceLine] = []
    for role, debit, credit in session.execute(stmt):
        amount = Decimal(debit or 0) - Decimal(credit or 0)
        if amount:
            out.append(rules.VarianceLine(str(role), amount, abs(base) or None))
    return out, base


RULES: dict[str, tuple[frozenset[str], Rule, bool]] = {
    "running_orders": (frozenset({rules.RUN_HOURS, rules.LABOUR_HOURS, rules.MATERIAL}), running_orders, False),
    "centre_labour": (frozenset({rules.CENTRE_LABOUR}), centre_labour, False),
    "po_lines": (frozenset({rules.PO_LATE}), po_lines, False),
    "shortages": (frozenset({rules.SHORTAGE}), shortages, False),
    "edges": (frozenset({rules.EDGE_OFFLINE, rules.EDGE_UNACKED}), edges, False),
    "streams": (frozenset({rules.STREAM_SILENT}), streams, False),
    "closes": (frozenset({rules.ORDER_VARIANCE, rules.PERIOD_VARIANCE}), closes, True),
}
"""Rule family -> (the alert kinds it owns, its reader, raised once per key)."""


_EVALUATOR_LOCK = 0x5F5_A1E7  # PostgreSQL advisory lock key of the rule evaluator


def evaluate(session: Session, now: datetime, metrics: WebhookMetrics | None = None,
             only: Iterable[str] | None = None) -> dict[str, int]:
    """One evaluation in the caller's transaction; counts of what happened (``opened``, ``resolved``...).
    On PostgreSQL, where several central processes may each run an evaluator, a run that finds
    another one running (its transaction-scoped advisory lock held) does nothing (``{"skipped": 1}``)."""
    if session.get_bind().dialect.name == "postgresql" and not session.scalar(
            select(func.pg_try_advisory_xact_lock(_EVALUATOR_LOCK))):
        return {"skipped": 1}
    layers = Layers(snapshot(session))
    alert_uow = SqlAlchemyUnitOfWork.joining(session, lambda: now)  # the alert service works on a unit of work
    counts: dict[str, int] = {}
    for name, (kinds, rule, once) in RULES.items():
        if only is not None and name not in only:
            continue
        try:
            with session.begin_nested():
                rated = rule(session, layers, now)
        except Exception:  # one failing family must not stop the others, nor resolve its alerts
            log.exception("alert rule %s failed; its alerts are left as they are this run", name)
            counts["failed"] = counts.get("failed", 0) + 1
            continue
        seen: set[str] = set()
        for finding, clear_runs in rated:
            outcome = apply_finding(alert_uow, finding, clear_runs=clear_runs, once=once)
            seen.add(finding.key[:200])
            counts[outcome] = counts.get(outcome, 0) + 1
            if metrics is not None and outcome in ("opened", "resolved"):
                (metrics.alerts if outcome == "opened" else metrics.resolved).inc(1, finding.kind)
        if once:
            continue
        default_runs = layers.plant(None).clear_runs
        for row in session.scalars(select(AlertRow).where(AlertRow.kind.in_(list(kinds)),
                                                          AlertRow.status.in_(ACTIVE))):
            if row.key not in seen:  # the condition is gone altogether (order closed, line received)
                outcome = clear_step(alert_uow, row, clear_runs=default_runs)
                counts[outcome] = counts.get(outcome, 0) + 1
                if metrics is not None and outcome == "resolved":
                    metrics.resolved.inc(1, row.kind)
    return counts


class AlertEvaluator(SupervisedJob[dict[str, int]]):
    """:func:`evaluate` every ``interval`` seconds in its own transaction, as a :class:`SupervisedJob`
    (the first run one interval after the start); a failing run is logged and counted."""

    def __init__(self, sessions: sessionmaker[Session], *, interval: float, metrics: WebhookMetrics | None = None,
                 clock: Clock = utc_now) -> None:
        super().__init__("sfsync-alert-rules", interval=interval, run_at_start=False)
        self.sessions, self.metrics, self.clock = sessions, metrics, clock

    def run(self) -> dict[str, int]:
        with self.sessions() as session, session.begin():
            return evaluate(session, self.clock(), self.metrics)
