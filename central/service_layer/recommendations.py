"""Decision support (issue 14): anomaly detection against learned baselines, recommendations a
person decides on, and the work-order risk score. Nothing here posts, schedules or changes an
order: it reads, and writes only its own tables, alerts it is asked to escalate to, and audit.

* :func:`evaluate` (periodic, off the ingest path: :class:`RecommendationEvaluator`, a thread
  like the alert evaluator's, with an injected clock): for each running order on a machine, the
  window of output since its last observation (``anomaly_cursors``), once it holds at least
  ``min_units`` units, becomes one point per metric (scrap rate, cycle time, labour and material
  per unit) in ``anomaly_points``; each is checked against its series' baseline
  (:mod:`central.domain.anomaly`). A point over the threshold is ``flagged`` and opens (or is
  merged into) the series' open recommendation.
* :func:`acknowledge` (any role), :func:`dismiss` (controller; the reason decides whether the
  flagged points join the baseline or stay out), :func:`escalate` (controller; raises an
  ``anomaly`` alert with the recommendation's evidence). Each change is an audit record.
* :func:`order_risk` / :func:`risk_report`: :mod:`central.domain.risk` on a running order's
  figures.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, sessionmaker

from central.adapters.db.models_costing import DispatchRow, WorkOrderRow
from central.adapters.db.models_ingest import MachineRow
from central.adapters.db.models_recommendations import AnomalyCursorRow, AnomalyPointRow, RecommendationRow
from central.adapters.db.paging import keyset_page
from central.adapters.master_snapshot import snapshot
from central.adapters.unit_of_work import SqlAlchemyUnitOfWork
from central.domain import risk as risk_domain
from central.domain.accruals import OrderAccruals
from central.domain.anomaly import (
    DEFAULT_CONFIG,
    DetectorConfig,
    DismissReason,
    Metric,
    Point,
    PointStatus,
    assess,
    shift_of,
    status_after_dismissal,
)
from central.domain.commands import AcknowledgeRecommendation, DismissRecommendation, EscalateRecommendation
from central.domain.costing import standard_cost
from central.domain.master_data import IssueMethod
from central.domain.master_snapshot import Snapshot
from central.domain.money import ZERO
from central.domain.time_accounting import IntervalKind, hours
from central.errors import Conflict, NotFound
from central.service_layer.access import Principal
from central.service_layer.alert_rules import RUNNING, AlertEvaluator
from central.service_layer.alerts import raise_alert_in
from central.service_layer.clock import Clock, utc_now
from central.service_layer.costing.timeline import intervals
from central.service_layer.governance.audit import Actor
from central.service_layer.governance.audit import record as audit_record
from central.service_layer.unit_of_work import AbstractUnitOfWork
from central.service_layer.webhooks import WebhookMetrics

log = logging.getLogger(__name__)

__all__ = [
    "OPEN", "ACKNOWLEDGED", "DISMISSED", "ESCALATED", "DetectionSettings", "evaluate", "RecommendationEvaluator",
    "acknowledge_recommendation", "dismiss_recommendation", "escalate_recommendation",
    "acknowledge", "dismiss", "escalate", "get", "view", "list_recommendations", "order_risk", "risk_report",
]

OPEN, ACKNOWLEDGED, DISMISSED, ESCALATED = "open", "acknowledged", "dismissed", "escalated"
UNDECIDED = (OPEN, ACKNOWLEDGED)
SYSTEM = "system"
_MICRO = Decimal("0.000001")
_DETECTOR_LOCK = 0x5F5_A1E8  # PostgreSQL advisory lock key of the detector (the alert evaluator's + 1)


@dataclass(frozen=True)
class DetectionSettings:
    min_units: Decimal = Decimal(20)  # a window closes once it holds this many units processed
    configs: Mapping[Metric, DetectorConfig] = field(default_factory=lambda: dict(DEFAULT_CONFIG))


def _q(value: Decimal) -> Decimal:
    return value.quantize(_MICRO)


# --- observation and detection ------------------------------------------------------------------------


def _figures(session: Session, snap: Snapshot, order: WorkOrderRow, now: datetime) -> dict[str, Any]:
    acc = OrderAccruals.from_data(order.accruals)
    run = _run_hours(session, snap, order.id, now)
    return {"good": str(acc.good_qty), "scrap": str(acc.scrap_qty), "run_hours": str(run),
            "issued": {k: str(v) for k, v in acc.issued.items()}}


def _run_hours(session: Session, snap: Snapshot, order_id: str, now: datetime) -> Decimal:
    return _order_hours(session, snap, order_id, now)[0]


def _order_hours(session: Session, snap: Snapshot, order_id: str, now: datetime) -> tuple[Decimal, Decimal]:
    """Run and downtime hours while ``order_id`` was dispatched, up to ``now``."""
    rows = list(session.scalars(select(DispatchRow).where(DispatchRow.work_order == order_id)))
    if not rows:
        return ZERO, ZERO
    lo = min(r.start for r in rows)
    run, down = ZERO, ZERO
    for iv in intervals(session, snap, {r.machine for r in rows}, lo, now):
        if iv.work_order != order_id:
            continue
        if iv.kind is IntervalKind.RUN:
            run += hours(iv.duration)
        elif iv.kind is IntervalKind.DOWNTIME:
            down += hours(iv.duration)
    return run, down


_COUNTED = {s.value: s for s in (PointStatus.NORMAL, PointStatus.DISMISSED_NORMAL)}


def _history(session: Session, metric: Metric, machine: str, item: str, component: str, cfg: DetectorConfig,
             shift: int) -> list[Point]:
    """The points :func:`central.domain.anomaly.baseline` can use, oldest first: the series' newest
    ``cfg.window`` counted points and, for a metric learned by shift, also the newest ``cfg.window``
    of ``shift`` (all it chooses from, whichever it takes). Only the four columns it needs are read:
    with weeks of history, loading whole rows was most of a detector run."""
    base = select(AnomalyPointRow.id, AnomalyPointRow.value, AnomalyPointRow.at, AnomalyPointRow.shift,
                  AnomalyPointRow.status).where(
        AnomalyPointRow.metric == metric.value, AnomalyPointRow.machine == machine, AnomalyPointRow.item == item,
        AnomalyPointRow.component == component, AnomalyPointRow.status.in_(list(_COUNTED)))
    parts = [base]
    if cfg.by_shift:
        parts.append(base.where(AnomalyPointRow.shift == shift))
    rows: dict[int, Point] = {}
    for stmt in parts:
        for pid, value, at, sh, status in session.execute(stmt.order_by(AnomalyPointRow.id.desc()).limit(cfg.window)):
            rows[int(pid)] = Point(value, at, int(sh), _COUNTED[str(status)])
    return [rows[k] for k in sorted(rows)]


def _key(metric: Metric, machine: str, item: str, component: str) -> str:
    return f"anomaly:{metric.value}:{machine}:{item}" + (f":{component}" if component else "")


def _observe(session: Session, settings: DetectionSettings, metric: Metric, value: Decimal, *, order: WorkOrderRow,
             machine: str, plant: str | None, component: str, units: Decimal, now: datetime,
             window: Mapping[str, Any]) -> str:
    cfg = settings.configs[metric]
    value = _q(value)
    history = _history(session, metric, machine, order.item, component, cfg, shift_of(now))
    point = AnomalyPointRow(metric=metric.value, machine=machine, item=order.item, component=component,
                            work_order=order.id, at=now, shift=shift_of(now), value=value, units=_q(units),
                            status=PointStatus.NORMAL.value)
    session.add(point)
    evidence = {"work_order": order.id, "window": dict(window), "units": str(units)}
    found = assess(metric, value, history, now, cfg, evidence, units)
    if found is None or not found.firing:
        return "learning" if found is None else "normal"
    point.status = PointStatus.FLAGGED.value
    key = _key(metric, machine, order.item, component)
    rec = session.scalar(select(RecommendationRow).where(RecommendationRow.key == key,
                                                         RecommendationRow.status.in_(UNDECIDED))
                         .order_by(RecommendationRow.id).limit(1))
    subject = f"{machine} / {order.item}" + (f" / {component}" if component else "")
    ev = {**evidence, "points": [], "ratio": None if found.ratio is None else str(_q(found.ratio))}
    if rec is None:
        rec = RecommendationRow(kind="anomaly", metric=metric.value, key=key, machine=machine, item=order.item,
                                component=component or None, work_order=order.id, plant=plant,
                                message=found.message(subject), value=str(value), threshold=str(_q(found.threshold)),
                                baseline=found.baseline.to_data(), evidence=ev, count=1, status=OPEN, created=now,
                                last_seen=now)
        session.add(rec)
        session.flush()
        audit_record(session, SYSTEM, "recommendation.open", f"recommendation/{rec.id}",
                     {"key": key, "value": str(value), "threshold": rec.threshold}, at=now, describes_request=False)
        outcome = "opened"
    else:
        rec.count += 1
        rec.last_seen, rec.value, rec.threshold = now, str(value), str(_q(found.threshold))
        rec.message, rec.baseline, rec.work_order = found.message(subject), found.baseline.to_data(), order.id
        ev["points"] = list(rec.evidence.get("points", []))
        rec.evidence = ev
        outcome = "updated"
    session.flush()
    point.recommendation_id = rec.id
    session.flush()
    rec.evidence = {**rec.evidence, "points": [*rec.evidence.get("points", []), point.id][-50:]}
    return outcome


def evaluate(session: Session, now: datetime, settings: DetectionSettings | None = None) -> dict[str, int]:
    """One detection run in the caller's transaction; counts of the points' outcomes. On PostgreSQL,
    where several central processes may each run one, a run that finds another running (its
    transaction-scoped advisory lock held) does nothing (``{"skipped": 1}``)."""
    if session.get_bind().dialect.name == "postgresql" and not session.scalar(
            select(func.pg_try_advisory_xact_lock(_DETECTOR_LOCK))):
        return {"skipped": 1}
    settings = settings or DetectionSettings()
    snap = snapshot(session)
    master = snap.master
    counts: dict[str, int] = {}
    orders = list(session.scalars(select(WorkOrderRow).where(WorkOrderRow.status == RUNNING,
                                                             WorkOrderRow.machine.is_not(None))
                                  .order_by(WorkOrderRow.id)))
    for order in orders:
        machine = order.machine
        routing = master.routings_by_item.get(order.item)
        if machine is None or routing is None:
            continue
        fig = _figures(session, snap, order, now)
        cursor = session.get(AnomalyCursorRow, order.id)
        prev: dict[str, Any] = cursor.figures if cursor is not None else {
            "good": "0", "scrap": "0", "run_hours": "0", "issued": {}}
        since = cursor.at if cursor is not None else (order.started_at or now)
        d_good = Decimal(fig["good"]) - Decimal(prev["good"])
        d_scrap = Decimal(fig["scrap"]) - Decimal(prev["scrap"])
        d_units = d_good + d_scrap
        d_run = Decimal(fig["run_hours"]) - Decimal(prev["run_hours"])
        if d_units < settings.min_units or d_run <= 0:
            continue
        machine_row = session.get(MachineRow, machine)
        plant = machine_row.plant if machine_row is not None else None
        window = {"from": since.isoformat(), "to": now.isoformat(), "good": str(d_good), "scrap": str(d_scrap),
                  "run_hours": str(_q(d_run))}
        common: dict[str, Any] = {"order": order, "machine": machine, "plant": plant, "units": d_units, "now": now,
                                  "window": window}
        results = [
            _observe(session, settings, Metric.SCRAP_RATE, d_scrap / d_units, component="", **common),
            _observe(session, settings, Metric.CYCLE_TIME, d_run * 3600 / d_units, component="", **common),
            _observe(session, settings, Metric.LABOUR_PER_UNIT, d_run * routing.crew_ratio / d_units, component="",
                     **common),
        ]
        fig["material_issued"], fig["material_units"] = {}, {}
        for comp in master.bom(order.item).components:
            item = master.items_by_id.get(comp.item)
            if item is None or item.issue is not IssueMethod.MANUAL:
                continue  # a backflushed component is consumed at standard by definition
            # issues come in lots (a shift's worth at a time): the window of a component runs from
            # its previous observation to the next window in which some of it was issued
            base_issued = Decimal(prev.get("material_issued", {}).get(comp.item, "0"))
            base_units = Decimal(prev.get("material_units", {}).get(comp.item, "0"))
            d_issued = Decimal(fig["issued"].get(comp.item, "0")) - base_issued
            m_units = Decimal(fig["good"]) + Decimal(fig["scrap"]) - base_units
            if Decimal(fig["issued"].get(comp.item, "0")) == Decimal(prev["issued"].get(comp.item, "0")):
                fig["material_issued"][comp.item], fig["material_units"][comp.item] = str(base_issued), str(base_units)
                continue  # nothing issued in this window: the component's window stays open
            results.append(_observe(session, settings, Metric.MATERIAL_PER_UNIT, d_issued / m_units,
                                    component=comp.item, **{**common, "units": m_units}))
            fig["material_issued"][comp.item] = fig["issued"].get(comp.item, "0")
            fig["material_units"][comp.item] = str(Decimal(fig["good"]) + Decimal(fig["scrap"]))
        for r in results:
            counts[r] = counts.get(r, 0) + 1
        if cursor is None:
            session.add(AnomalyCursorRow(work_order=order.id, at=now, figures=fig))
        else:
            cursor.at, cursor.figures = now, fig
    session.flush()
    return counts


class RecommendationEvaluator(AlertEvaluator):
    """The alert evaluator's thread and supervisor running :func:`evaluate` instead (its own
    transaction per run, its own clock)."""

    def __init__(self, sessions: sessionmaker[Session], *, interval: float, metrics: WebhookMetrics | None = None,
                 clock: Clock = utc_now, settings: DetectionSettings | None = None) -> None:
        super().__init__(sessions, interval=interval, metrics=metrics, clock=clock)
        self.name = "sfsync-recommendations"
        self.settings = settings or DetectionSettings()

    def run(self) -> dict[str, int]:
        with self.sessions() as session, session.begin():
            return evaluate(session, self.clock(), self.settings)


# --- people's decisions: handlers on a unit of work ---------------------------------------------------


def _user(actor: Actor) -> str:
    return actor if isinstance(actor, str) else actor.user


def _actor(user: str, role: str | None, token_id: str | None) -> Actor:
    return Principal(user, role, token_id) if role is not None and token_id is not None else user


def get(session: Session, rec_id: int, *, lock: bool = False) -> RecommendationRow:
    row = session.get(RecommendationRow, rec_id, with_for_update=lock)
    if row is None:
        raise NotFound(f"no recommendation {rec_id}")
    return row


def _decide(uow: AbstractUnitOfWork, rec_id: int, user: str, status: str, allowed: tuple[str, ...],
            comment: str | None, reason: str | None = None) -> RecommendationRow:
    row = uow.recommendations.get(rec_id, lock=True)
    if row is None:
        raise NotFound(f"no recommendation {rec_id}")
    if row.status not in allowed:
        by = f" by {row.decided_by}" if row.decided_by else ""
        raise Conflict(f"recommendation {rec_id} is {row.status}{by}", {"status": row.status})
    row.status, row.decided_at, row.decided_by = status, uow.clock(), user
    if comment is not None:
        row.comment = comment
    if reason is not None:
        row.reason = reason
    return row


def acknowledge_recommendation(cmd: AcknowledgeRecommendation, uow: AbstractUnitOfWork) -> RecommendationRow:
    """``open -> acknowledged`` (any role): someone is looking at it."""
    with uow:
        row = _decide(uow, cmd.rec_id, cmd.user, ACKNOWLEDGED, (OPEN,), cmd.comment)
        uow.audit.record(_actor(cmd.user, cmd.role, cmd.token_id), "recommendation.acknowledged",
                         f"recommendation/{row.id}", {"key": row.key, "comment": cmd.comment}, at=uow.clock())
        uow.commit()
        return row


def dismiss_recommendation(cmd: DismissRecommendation, uow: AbstractUnitOfWork) -> RecommendationRow:
    """``open|acknowledged -> dismissed`` (controller). The flagged points behind it join the
    baseline (``normal``) or stay out of it for good (``one_off``, ``data_error``)."""
    with uow:
        row = _decide(uow, cmd.rec_id, cmd.user, DISMISSED, UNDECIDED, cmd.comment, cmd.reason.value)
        new = status_after_dismissal(cmd.reason)
        points = uow.recommendations.flagged_points(row.id)
        for p in points:
            p.status = new.value
        uow.audit.record(_actor(cmd.user, cmd.role, cmd.token_id), "recommendation.dismissed",
                         f"recommendation/{row.id}",
                         {"key": row.key, "reason": cmd.reason.value, "comment": cmd.comment,
                          "points": [p.id for p in points], "points_become": new.value}, at=uow.clock())
        uow.commit()
        return row


def escalate_recommendation(cmd: EscalateRecommendation, uow: AbstractUnitOfWork) -> RecommendationRow:
    """``open|acknowledged -> escalated`` (controller): an ``anomaly`` alert with its evidence."""
    with uow:
        row = _decide(uow, cmd.rec_id, cmd.user, ESCALATED, UNDECIDED, cmd.comment)
        alert = raise_alert_in(uow, "anomaly", f"recommendation/{row.id}", row.message,
                               detail={"recommendation": row.id, "metric": row.metric, "machine": row.machine,
                                       "item": row.item, "value": row.value, "threshold": row.threshold,
                                       "baseline": row.baseline, "evidence": row.evidence,
                                       "escalated_by": cmd.user},
                               plant=row.plant)
        row.alert_id = alert.id
        uow.audit.record(_actor(cmd.user, cmd.role, cmd.token_id), "recommendation.escalated",
                         f"recommendation/{row.id}", {"key": row.key, "alert": alert.id, "comment": cmd.comment},
                         at=uow.clock())
        uow.commit()
        return row


# The same decisions in a session someone else holds (the console's request), stamped ``now``.


def _fields(actor: Actor) -> tuple[str, str | None, str | None]:
    return (actor, None, None) if isinstance(actor, str) else (actor.user, actor.role, actor.token_id)


def acknowledge(session: Session, rec_id: int, actor: Actor, now: datetime, comment: str | None = None
                ) -> RecommendationRow:
    """:func:`acknowledge_recommendation` in ``session``'s transaction."""
    user, role, token_id = _fields(actor)
    return acknowledge_recommendation(AcknowledgeRecommendation(rec_id, user, comment, role, token_id),
                                      SqlAlchemyUnitOfWork.joining(session, lambda: now))


def dismiss(session: Session, rec_id: int, reason: DismissReason, actor: Actor, now: datetime,
            comment: str | None = None) -> RecommendationRow:
    """:func:`dismiss_recommendation` in ``session``'s transaction."""
    user, role, token_id = _fields(actor)
    return dismiss_recommendation(DismissRecommendation(rec_id, reason, user, comment, role, token_id),
                                  SqlAlchemyUnitOfWork.joining(session, lambda: now))


def escalate(session: Session, rec_id: int, actor: Actor, now: datetime, comment: str | None = None
             ) -> RecommendationRow:
    """:func:`escalate_recommendation` in ``session``'s transaction."""
    user, role, token_id = _fields(actor)
    return escalate_recommendation(EscalateRecommendation(rec_id, user, comment, role, token_id),
                                   SqlAlchemyUnitOfWork.joining(session, lambda: now))


def view(row: RecommendationRow) -> dict[str, Any]:
    def ts(v: datetime | None) -> str | None:
        return None if v is None else v.isoformat()
    return {"id": row.id, "kind": row.kind, "metric": row.metric, "key": row.key, "machine": row.machine,
            "item": row.item, "component": row.component, "work_order": row.work_order, "plant": row.plant,
            "message": row.message, "value": row.value, "threshold": row.threshold, "baseline": row.baseline,
            "evidence": row.evidence, "count": row.count, "status": row.status, "created": ts(row.created),
            "last_seen": ts(row.last_seen), "decided_at": ts(row.decided_at), "decided_by": row.decided_by,
            "reason": row.reason, "comment": row.comment, "alert_id": row.alert_id}


def list_recommendations(session: Session, *, limit: int, after: int | None = None, status: str | None = None,
                         metric: str | None = None, machine: str | None = None, item: str | None = None,
                         work_order: str | None = None, plant: str | None = None) -> dict[str, Any]:
    stmt: Select[tuple[RecommendationRow]] = select(RecommendationRow)
    for col, val in ((RecommendationRow.status, status), (RecommendationRow.metric, metric),
                     (RecommendationRow.machine, machine), (RecommendationRow.item, item),
                     (RecommendationRow.work_order, work_order), (RecommendationRow.plant, plant)):
        if val is not None:
            stmt = stmt.where(col == val)
    rows, nxt = keyset_page(session, stmt, RecommendationRow.id, limit=limit, after=after)
    return {"recommendations": [view(r) for r in rows], "next": nxt}


# --- work-order risk ----------------------------------------------------------------------------------


def _risk(session: Session, snap: Snapshot, order: WorkOrderRow, now: datetime) -> risk_domain.RiskScore:
    master = snap.master
    routing = master.routings_by_item.get(order.item)
    if routing is None:
        raise Conflict(f"item {order.item} of order {order.id} has no routing", {"item": order.item})
    card = standard_cost(master, order.item)
    acc = OrderAccruals.from_data(order.accruals)
    run, down = _order_hours(session, snap, order.id, now)
    started = order.started_at or now
    return risk_domain.score(risk_domain.OrderRun(
        work_order=order.id, item=order.item, machine=order.machine, qty=order.qty, good=acc.good_qty,
        scrap=acc.scrap_qty, run_hours=run, down_hours=down, started=started, now=now, due=order.due,
        std_hours_per_unit=routing.machine_hours, material_per_unit=card.material,
        conversion_rate=card.labor_rate * card.crew_ratio + card.voh_rate + card.foh_rate,
        normal_spoilage=routing.normal_spoilage))


def order_risk(session: Session, order_id: str, now: datetime) -> dict[str, Any]:
    """The risk score of running order ``order_id`` (409 when it is not running)."""
    order = session.get(WorkOrderRow, order_id)
    if order is None:
        raise NotFound(f"no work order {order_id}")
    if order.status != RUNNING:
        raise Conflict(f"work order {order_id} is {order.status}, not running: no risk to project",
                       {"status": order.status})
    return _risk(session, snapshot(session), order, now).to_data()


def risk_report(session: Session, now: datetime) -> dict[str, Any]:
    """Every running order's risk, highest score first."""
    snap = snapshot(session)
    out = []
    for order in session.scalars(select(WorkOrderRow).where(WorkOrderRow.status == RUNNING)
                                 .order_by(WorkOrderRow.id)):
        if snap.master.routings_by_item.get(order.item) is None:
            continue
        out.append(_risk(session, snap, order, now).to_data())
    out.sort(key=lambda r: (-int(r["score"]), str(r["work_order"])))
    return {"as_of": now.isoformat(), "orders": out}
