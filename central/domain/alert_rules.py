"""Rule-based alerts (issue 14): thresholds and the pure checks. No I/O.

Each check takes figures the service layer read (``central.service_layer.alert_rules``) and
returns a :class:`Finding` with a :class:`Level`:

* ``FIRING``: over the threshold: an alert opens (or stays open with fresh evidence);
* ``HOLD``: between the clear level and the threshold: an open alert stays, none opens
  (value hysteresis, so a figure wobbling around the threshold makes one alert, not many);
* ``CLEAR``: below the clear level: an open alert resolves after ``clear_runs`` evaluations
  in a row that are clear (time hysteresis, for yes/no conditions such as an edge offline).

Thresholds come from master data (``alert_thresholds`` on a plant, a work centre or a
machine; machine over work centre over plant over :data:`DEFAULT_ALERT_THRESHOLDS`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from central.domain.errors import InputError, ValidationError
from central.domain.money import ZERO, divide, to_ratio
from central.domain.purchasing import DEFAULT_OVER_RECEIPT_TOLERANCE

__all__ = [
    "RULE_KINDS", "ONCE_KINDS", "Level", "Finding", "AlertThresholds", "DEFAULT_ALERT_THRESHOLDS",
    "resolve_alert_thresholds", "alert_threshold_errors", "level_for",
    "OrderProgress", "hours_overrun", "CentreLabour", "centre_labour", "MaterialUse", "material_overuse",
    "PoLineDue", "po_line_late", "Requirement", "Supply", "shortage",
    "EdgeView", "edge_offline", "edge_unacked", "MachineView", "stream_silent",
    "VarianceLine", "variance_over",
]

RUN_HOURS = "run_hours_overrun"
LABOUR_HOURS = "labour_hours_overrun"
MATERIAL = "material_overuse"
PO_LATE = "po_line_late"
SHORTAGE = "material_shortage"
EDGE_OFFLINE = "edge_offline"
EDGE_UNACKED = "edge_unacked"
STREAM_SILENT = "stream_silent"
CENTRE_LABOUR = "centre_labour_overrun"
ORDER_VARIANCE = "order_variance"
PERIOD_VARIANCE = "period_variance"

RULE_KINDS = frozenset({RUN_HOURS, LABOUR_HOURS, CENTRE_LABOUR, MATERIAL, PO_LATE, SHORTAGE, EDGE_OFFLINE,
                        EDGE_UNACKED, STREAM_SILENT})
"""Kinds the evaluator opens and resolves by itself."""
ONCE_KINDS = frozenset({ORDER_VARIANCE, PERIOD_VARIANCE})
"""Kinds raised once per close (a fact, not a condition): a person resolves them."""


class Level(StrEnum):
    FIRING = "firing"
    HOLD = "hold"
    CLEAR = "clear"


@dataclass(frozen=True)
class Finding:
    kind: str
    key: str
    level: Level
    message: str
    detail: Mapping[str, Any]
    severity: str = "warning"
    plant: str | None = None
    entity: str | None = None


def _dec(name: str, value: Any) -> Decimal:
    try:
        out = Decimal(str(value))
    except ArithmeticError:
        raise InputError(f"alert threshold {name} must be a decimal, got {value!r}") from None
    if not out.is_finite() or out < 0:
        raise InputError(f"alert threshold {name} must be a non-negative decimal, got {value!r}")
    return out


@dataclass(frozen=True)
class AlertThresholds:
    """Tolerances are fractions (0.10 = 10 % over standard); ``clear_fraction`` of the tolerance is
    where a value-based alert resolves (0.5: a 10 % alert resolves below 5 %)."""

    run_hours_tolerance: Decimal = Decimal("0.10")
    labour_hours_tolerance: Decimal = Decimal("0.10")
    material_tolerance: Decimal = Decimal("0.05")
    min_standard_hours: Decimal = Decimal("0.25")
    """Hour checks wait until the output so far is worth this many standard machine hours."""
    min_output_units: Decimal = Decimal(10)
    """The material check waits for this many units processed."""
    clear_fraction: Decimal = Decimal("0.5")
    variance_amount: Decimal = Decimal("500")
    variance_percent: Decimal = Decimal("0.10")
    po_late_days: int = 0
    shortage_horizon_days: int = 7
    edge_offline_minutes: Decimal = Decimal(10)
    unacked_minutes: Decimal = Decimal(15)
    stream_silent_minutes: Decimal = Decimal(10)
    clear_runs: int = 2
    over_receipt_tolerance: Decimal = DEFAULT_OVER_RECEIPT_TOLERANCE
    """Not an alert: a goods receipt against a PO line beyond ordered x (1 + this) is refused
    (409 ``over_receipt``); the purchase order's plant's value applies."""

    def __post_init__(self) -> None:
        if self.over_receipt_tolerance > 1:
            raise InputError(f"over_receipt_tolerance must be in [0, 1], got {self.over_receipt_tolerance}")
        if self.clear_fraction > 1:
            raise InputError(f"clear_fraction must be in [0, 1], got {self.clear_fraction}")
        if self.clear_runs < 1:
            raise InputError(f"clear_runs must be at least 1, got {self.clear_runs}")
        for name in ("po_late_days", "shortage_horizon_days"):
            if not 0 <= getattr(self, name) <= 3650:
                raise InputError(f"{name} must be 0..3650 days, got {getattr(self, name)}")
        for name in ("edge_offline_minutes", "unacked_minutes", "stream_silent_minutes"):
            if getattr(self, name) <= 0:
                raise InputError(f"{name} must be positive, got {getattr(self, name)}")

    def minutes(self, name: str) -> timedelta:
        value: Decimal = getattr(self, name)
        return timedelta(microseconds=int(value * 60_000_000))

    def to_data(self) -> dict[str, Any]:
        return {f.name: (str(v) if isinstance(v := getattr(self, f.name), Decimal) else v) for f in fields(self)}


DEFAULT_ALERT_THRESHOLDS = AlertThresholds()
_INTS = frozenset({"po_late_days", "shortage_horizon_days", "clear_runs"})
_NAMES = frozenset(f.name for f in fields(AlertThresholds))


def resolve_alert_thresholds(*layers: Mapping[str, Any] | None) -> AlertThresholds:
    """Defaults overridden by each layer in turn (plant, work centre, machine); None values are unset."""
    values: dict[str, Any] = {}
    for layer in layers:
        for key, value in (layer or {}).items():
            if key not in _NAMES:
                raise InputError(f"unknown alert threshold {key!r}")
            if value is None:
                continue
            if key in _INTS:
                if isinstance(value, bool) or not isinstance(value, int):
                    raise InputError(f"alert threshold {key} must be an integer, got {value!r}")
                values[key] = value
            else:
                values[key] = _dec(key, value)
    return replace(DEFAULT_ALERT_THRESHOLDS, **values)


def alert_threshold_errors(records: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[ValidationError]:
    """Every plant's, work centre's and machine's ``alert_thresholds`` must resolve (checked at load)."""
    errors: list[ValidationError] = []
    for section in ("plants", "work_centers", "machines"):
        for index, record in enumerate(records.get(section, [])):
            try:
                resolve_alert_thresholds(record.get("alert_thresholds"))
            except InputError as exc:
                errors.append(ValidationError(f"{section}[{index}].alert_thresholds", exc.message))
    return errors


def level_for(value: Decimal, threshold: Decimal, clear: Decimal) -> Level:
    """FIRING above ``threshold``, CLEAR below ``clear``, HOLD in between."""
    if value > threshold:
        return Level.FIRING
    if value < clear:
        return Level.CLEAR
    return Level.HOLD


def _ratio(value: Decimal) -> str:
    return str(to_ratio(value))


# --- running orders: run hours and labour hours -------------------------------------------------


@dataclass(frozen=True)
class OrderProgress:
    work_order: str
    item: str
    machine: str | None
    work_center: str
    order_qty: Decimal
    good_qty: Decimal
    scrap_qty: Decimal
    run_hours: Decimal
    machine_hours_per_unit: Decimal
    labour_hours_per_unit: Decimal
    window_start: datetime
    window_end: datetime
    evidence: Mapping[str, Any] = field(default_factory=dict)

    @property
    def processed(self) -> Decimal:
        return self.good_qty + self.scrap_qty


def hours_overrun(p: OrderProgress, t: AlertThresholds, *, labour: bool, plant: str | None = None,
                  entity: str | None = None) -> Finding | None:
    """Run (or labour) hours against standard hours for the output so far; projected to the order's
    quantity at the current rate. None while the output is too small to judge."""
    std_machine = p.processed * p.machine_hours_per_unit
    if std_machine < t.min_standard_hours or std_machine == 0:
        return None
    crew = divide(p.labour_hours_per_unit, p.machine_hours_per_unit) if p.machine_hours_per_unit else Decimal(1)
    actual = p.run_hours * crew if labour else p.run_hours
    per_unit_std = p.labour_hours_per_unit if labour else p.machine_hours_per_unit
    standard = p.processed * per_unit_std
    if standard == 0:
        return None
    over = divide(actual, standard) - 1
    tolerance = t.labour_hours_tolerance if labour else t.run_hours_tolerance
    level = level_for(over, tolerance, tolerance * t.clear_fraction)
    per_unit = divide(actual, p.processed) if p.processed else ZERO
    projected = per_unit * p.order_qty
    what = "labour hours" if labour else "run hours"
    kind = LABOUR_HOURS if labour else RUN_HOURS
    detail = {
        "work_order": p.work_order, "item": p.item, "machine": p.machine, "work_center": p.work_center,
        "actual_hours": str(actual.quantize(Decimal("0.0001"))), "standard_hours": str(standard),
        "over": _ratio(over), "tolerance": str(tolerance), "good_qty": str(p.good_qty), "scrap_qty": str(p.scrap_qty),
        "projected_hours": str(projected.quantize(Decimal("0.0001"))),
        "standard_hours_for_order": str(p.order_qty * per_unit_std),
        "window": {"from": p.window_start.isoformat(), "to": p.window_end.isoformat()}, **dict(p.evidence),
    }
    msg = (f"work order {p.work_order}: {what} {detail['actual_hours']} for {p.processed} units vs standard "
           f"{standard} ({_ratio(over * 100)}% over, tolerance {tolerance * 100}%); "
           f"projected {detail['projected_hours']} h "
           f"for {p.order_qty} units")
    return Finding(kind, f"{kind}:{p.work_order}", level, msg, detail, plant=plant, entity=entity)


# --- per work centre and period: labour hours booked over standard for the period's output ---------


@dataclass(frozen=True)
class CentreLabour:
    work_center: str
    period: str
    booked_hours: Decimal
    standard_hours: Decimal
    output_qty: Decimal
    records: Sequence[int] = ()


def centre_labour(c: CentreLabour, t: AlertThresholds, *, plant: str | None = None,
                  entity: str | None = None) -> Finding | None:
    """Paid hours booked for the work centre in the period against standard labour hours of the
    units it processed in the period; None while the output is worth less than ``min_standard_hours``."""
    if c.standard_hours < t.min_standard_hours or c.standard_hours == 0:
        return None
    over = divide(c.booked_hours, c.standard_hours) - 1
    tolerance = t.labour_hours_tolerance
    level = level_for(over, tolerance, tolerance * t.clear_fraction)
    detail = {"work_center": c.work_center, "period": c.period, "booked_hours": str(c.booked_hours),
              "standard_hours": str(c.standard_hours), "output_qty": str(c.output_qty), "over": _ratio(over),
              "tolerance": str(tolerance), "records": list(c.records)}
    msg = (f"work centre {c.work_center}, period {c.period}: {c.booked_hours} labour hours booked vs "
           f"{c.standard_hours} standard for {c.output_qty} units ({_ratio(over * 100)}% over, "
           f"tolerance {tolerance * 100}%)")
    return Finding(CENTRE_LABOUR, f"{CENTRE_LABOUR}:{c.work_center}:{c.period}", level, msg, detail, plant=plant,
                   entity=entity)


# --- material issued over standard for the output so far -----------------------------------------


@dataclass(frozen=True)
class MaterialUse:
    work_order: str
    component: str
    issued_qty: Decimal
    bom_qty_per_unit: Decimal
    processed: Decimal
    records: Sequence[int] = ()


def material_overuse(u: MaterialUse, t: AlertThresholds, *, plant: str | None = None,
                     entity: str | None = None) -> Finding | None:
    if u.processed < t.min_output_units or u.bom_qty_per_unit <= 0:
        return None
    standard = u.processed * u.bom_qty_per_unit
    over = divide(u.issued_qty, standard) - 1
    level = level_for(over, t.material_tolerance, t.material_tolerance * t.clear_fraction)
    detail = {"work_order": u.work_order, "item": u.component, "issued_qty": str(u.issued_qty),
              "standard_qty": str(standard), "processed_qty": str(u.processed), "over": _ratio(over),
              "tolerance": str(t.material_tolerance), "records": list(u.records)}
    msg = (f"work order {u.work_order}: {u.issued_qty} of {u.component} issued for {u.processed} units vs standard "
           f"{standard} ({_ratio(over * 100)}% over, tolerance {t.material_tolerance * 100}%)")
    return Finding(MATERIAL, f"{MATERIAL}:{u.work_order}:{u.component}", level, msg, detail, plant=plant,
                   entity=entity)


# --- purchase order lines past due --------------------------------------------------------------


@dataclass(frozen=True)
class PoLineDue:
    line_id: int
    purchase_order: str
    line_no: int
    supplier: str
    item: str
    qty: Decimal
    received_qty: Decimal
    due: date
    plant: str | None = None
    entity: str | None = None


def po_line_late(line: PoLineDue, today: date, t: AlertThresholds) -> Finding:
    open_qty = max(line.qty - line.received_qty, ZERO)
    days = (today - line.due).days
    late = open_qty > 0 and days > t.po_late_days
    detail = {"purchase_order": line.purchase_order, "line": line.line_no, "line_id": line.line_id,
              "supplier": line.supplier, "item": line.item, "ordered": str(line.qty),
              "received": str(line.received_qty), "open_qty": str(open_qty), "due": line.due.isoformat(),
              "days_late": days, "grace_days": t.po_late_days}
    msg = (f"purchase order {line.purchase_order} line {line.line_no} ({line.item} from {line.supplier}) is "
           f"{days} day(s) past due {line.due.isoformat()} with {open_qty} of {line.qty} not received")
    return Finding(PO_LATE, f"{PO_LATE}:{line.line_id}", Level.FIRING if late else Level.CLEAR, msg, detail,
                   plant=line.plant, entity=line.entity)


# --- material shortage ahead ----------------------------------------------------------------------


@dataclass(frozen=True)
class Requirement:
    work_order: str
    item: str
    qty: Decimal


@dataclass(frozen=True)
class Supply:
    on_hand: Decimal
    open_po: Sequence[tuple[int, Decimal, date]]  # (line id, open qty, due) due within the horizon


def shortage(item: str, needs: Sequence[Requirement], supply: Supply, horizon_end: date, t: AlertThresholds,
             *, plant: str | None = None, entity: str | None = None) -> Finding:
    demand = sum((r.qty for r in needs), ZERO)
    incoming = sum((q for _, q, _ in supply.open_po), ZERO)
    available = supply.on_hand + incoming
    short = demand - available
    detail = {"item": item, "required": str(demand), "on_hand": str(supply.on_hand), "open_po_qty": str(incoming),
              "short_qty": str(max(short, ZERO)), "horizon_end": horizon_end.isoformat(),
              "orders": [{"work_order": r.work_order, "qty": str(r.qty)} for r in needs],
              "po_lines": [{"line_id": i, "open_qty": str(q), "due": d.isoformat()} for i, q, d in supply.open_po]}
    msg = (f"material shortage ahead for {item}: released and running orders still need {demand}, on hand "
           f"{supply.on_hand} plus {incoming} on order due by {horizon_end.isoformat()}")
    return Finding(SHORTAGE, f"{SHORTAGE}:{item}", Level.FIRING if short > 0 else Level.CLEAR, msg, detail,
                   plant=plant, entity=entity)


# --- edges and streams ----------------------------------------------------------------------------


@dataclass(frozen=True)
class EdgeView:
    edge: str
    plant: str
    online: bool | None
    status_at: datetime | None
    oldest_unacked_ts: datetime | None
    scheduled_machines: Sequence[str]


def edge_offline(e: EdgeView, now: datetime, t: AlertThresholds) -> Finding:
    since = e.status_at
    offline_for = (now - since) if (e.online is False and since is not None) else timedelta(0)
    firing = bool(e.scheduled_machines) and e.online is False and offline_for > t.minutes("edge_offline_minutes")
    detail = {"edge": e.edge, "plant": e.plant, "offline_since": since.isoformat() if since else None,
              "offline_minutes": str(Decimal(int(offline_for.total_seconds())) / 60),
              "threshold_minutes": str(t.edge_offline_minutes), "scheduled_machines": list(e.scheduled_machines)}
    msg = (f"edge {e.edge} has been offline since {since.isoformat() if since else '?'} while machines "
           f"{', '.join(e.scheduled_machines)} are scheduled")
    return Finding(EDGE_OFFLINE, f"{EDGE_OFFLINE}:{e.edge}", Level.FIRING if firing else Level.CLEAR, msg, detail,
                   severity="critical", plant=e.plant)


def edge_unacked(e: EdgeView, now: datetime, t: AlertThresholds) -> Finding:
    oldest = e.oldest_unacked_ts
    age = (now - oldest) if oldest is not None else timedelta(0)
    firing = bool(e.scheduled_machines) and oldest is not None and age > t.minutes("unacked_minutes")
    detail = {"edge": e.edge, "plant": e.plant, "oldest_unacked_ts": oldest.isoformat() if oldest else None,
              "age_minutes": str(Decimal(int(age.total_seconds())) / 60),
              "threshold_minutes": str(t.unacked_minutes),
              "status_at": e.status_at.isoformat() if e.status_at else None,
              "scheduled_machines": list(e.scheduled_machines)}
    msg = f"edge {e.edge}: its oldest event not acked by central is from {detail['oldest_unacked_ts']}"
    return Finding(EDGE_UNACKED, f"{EDGE_UNACKED}:{e.edge}", Level.FIRING if firing else Level.CLEAR, msg, detail,
                   plant=e.plant)


@dataclass(frozen=True)
class MachineView:
    machine: str
    plant: str | None
    last_state: str | None
    last_state_event: int | None
    last_event_ts: datetime | None
    last_event_id: int | None


def stream_silent(m: MachineView, now: datetime, t: AlertThresholds) -> Finding:
    silent_for = (now - m.last_event_ts) if m.last_event_ts is not None else timedelta(0)
    firing = m.last_state == "running" and silent_for > t.minutes("stream_silent_minutes")
    detail = {"machine": m.machine, "last_state": m.last_state, "last_state_event": m.last_state_event,
              "last_event_id": m.last_event_id,
              "last_event_ts": m.last_event_ts.isoformat() if m.last_event_ts else None,
              "silent_minutes": str(Decimal(int(silent_for.total_seconds())) / 60),
              "threshold_minutes": str(t.stream_silent_minutes)}
    msg = (f"machine {m.machine} reports running but nothing has arrived from it since "
           f"{detail['last_event_ts']}")
    return Finding(STREAM_SILENT, f"{STREAM_SILENT}:{m.machine}", Level.FIRING if firing else Level.CLEAR, msg,
                   detail, plant=m.plant)


# --- variances at order close and period close ----------------------------------------------------


@dataclass(frozen=True)
class VarianceLine:
    variance: str  # e.g. "material_usage:S", "labor_efficiency"
    amount: Decimal  # positive = unfavourable
    base: Decimal | None  # the standard it is a share of (None: amount only)


def variance_over(scope: str, scope_id: str, lines: Sequence[VarianceLine], t: AlertThresholds, *,
                  evidence: Mapping[str, Any], plant: str | None = None, entity: str | None = None) -> Finding | None:
    """One finding per close naming every variance over the amount or the percentage (either way)."""
    over: list[dict[str, str]] = []
    for v in lines:
        pct = divide(abs(v.amount), v.base) if v.base else None
        if abs(v.amount) > t.variance_amount or (pct is not None and pct > t.variance_percent):
            over.append({"variance": v.variance, "amount": str(v.amount),
                         "percent": _ratio(pct) if pct is not None else "", "base": str(v.base or "")})
    if not over:
        return None
    kind = ORDER_VARIANCE if scope == "order" else PERIOD_VARIANCE
    names = ", ".join(f"{o['variance']} {o['amount']}" for o in over)
    msg = (f"{scope} {scope_id} closed with variances over {t.variance_amount} or "
           f"{t.variance_percent * 100}%: {names}")
    detail = {scope: scope_id, "variances": over, "amount_threshold": str(t.variance_amount),
              "percent_threshold": str(t.variance_percent), **dict(evidence)}
    return Finding(kind, f"{kind}:{scope_id}", Level.FIRING, msg, detail, plant=plant, entity=entity)
