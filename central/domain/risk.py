"""Work-order risk score (issue 14): a running order's projected finish and cost from what it did
so far, against its due date and its standard, as a score from 0 to 100 with its reasons and
suggested actions that need a person. Pure: nothing here posts, schedules or changes anything.

Projection (no output yet: no projection, the score says so):

* scrap share ``s = scrap / processed``; units still to process ``(qty - good) / (1 - s)``;
* run hours per unit so far ``run_hours / processed``; remaining run hours at that rate;
* the share of elapsed time the machine ran (``run_hours / elapsed``, downtime and idle
  included); remaining wall time = remaining run hours / that share; finish = now + it;
* projected cost = processed units x standard material per unit + run hours x the conversion
  rate per machine hour (labour x crew ratio + variable + fixed overhead), against the standard
  ``qty / (1 - normal spoilage) x`` the same card at standard hours.

Score: late finish up to 50 points (25 for being late at all, + 25 per day late, capped), cost
over standard past 5 % up to 30 (1 per percent), scrap over normal spoilage up to 20 (2 per
point), downtime over 15 % of dispatched time up to 15. Capped at 100; ``low`` < 25 <= ``medium``
< 50 <= ``high``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from central.domain.money import ZERO

__all__ = ["OrderRun", "Reason", "RiskScore", "score", "level_of"]

ONE = Decimal(1)
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class OrderRun:
    work_order: str
    item: str
    machine: str | None
    qty: Decimal
    good: Decimal
    scrap: Decimal
    run_hours: Decimal
    down_hours: Decimal
    started: datetime
    now: datetime
    due: date | None
    std_hours_per_unit: Decimal  # machine hours per unit processed
    material_per_unit: Decimal  # standard material cost per unit processed
    conversion_rate: Decimal  # cost per machine hour (labour x crew ratio + overheads)
    normal_spoilage: Decimal = ZERO

    @property
    def processed(self) -> Decimal:
        return self.good + self.scrap


@dataclass(frozen=True)
class Reason:
    code: str
    points: int
    message: str
    action: str  # what a person may decide; never done by the system

    def to_data(self) -> dict[str, Any]:
        return {"code": self.code, "points": self.points, "message": self.message,
                "suggested_action": self.action, "needs_approval": True}


@dataclass(frozen=True)
class RiskScore:
    work_order: str
    score: int
    level: str
    reasons: tuple[Reason, ...]
    projected_finish: datetime | None
    due: date | None
    projected_cost: Decimal | None
    standard_cost: Decimal
    projected_run_hours: Decimal | None
    standard_run_hours: Decimal
    figures: dict[str, str]

    def to_data(self) -> dict[str, Any]:
        def s(v: Decimal | None) -> str | None:
            return None if v is None else str(v.quantize(Decimal("0.01")))
        return {
            "work_order": self.work_order, "score": self.score, "level": self.level,
            "reasons": [r.to_data() for r in self.reasons],
            "projected_finish": None if self.projected_finish is None else self.projected_finish.isoformat(),
            "due": None if self.due is None else self.due.isoformat(),
            "projected_cost": s(self.projected_cost), "standard_cost": s(self.standard_cost),
            "projected_run_hours": s(self.projected_run_hours), "standard_run_hours": s(self.standard_run_hours),
            "figures": self.figures,
        }


def level_of(points: int) -> str:
    return "high" if points >= 50 else "medium" if points >= 25 else "low"


def _hours(d: timedelta) -> Decimal:
    return Decimal(d.total_seconds()) / Decimal(3600)


def _cap(value: Decimal, cap: int) -> int:
    return int(min(Decimal(cap), max(ZERO, value)).to_integral_value())


def score(run: OrderRun) -> RiskScore:
    """The risk of ``run`` (see the module docstring)."""
    if run.qty <= 0:
        raise ValueError(f"order {run.work_order} has no quantity")
    std_processed = run.qty / (ONE - run.normal_spoilage) if run.normal_spoilage < ONE else run.qty
    std_hours = std_processed * run.std_hours_per_unit
    std_cost = std_processed * run.material_per_unit + std_hours * run.conversion_rate
    figures = {"qty": str(run.qty), "good": str(run.good), "scrap": str(run.scrap),
               "run_hours": str(run.run_hours.quantize(Decimal("0.0001"))),
               "down_hours": str(run.down_hours.quantize(Decimal("0.0001")))}
    reasons: list[Reason] = []
    if run.processed <= 0 or run.run_hours <= 0:
        reasons.append(Reason("no_output_yet", 0, "no output or run time yet: nothing to project from",
                              "check that the order is running on its machine"))
        return RiskScore(run.work_order, 0, "low", tuple(reasons), None, run.due, None, std_cost, None, std_hours,
                         figures)
    scrap_share = run.scrap / run.processed
    hours_per_unit = run.run_hours / run.processed
    remaining_good = max(ZERO, run.qty - run.good)
    remaining_processed = remaining_good / (ONE - scrap_share) if scrap_share < ONE else remaining_good * 100
    remaining_run = remaining_processed * hours_per_unit
    elapsed = max(_hours(run.now - run.started), run.run_hours)
    ran_share = run.run_hours / elapsed if elapsed > 0 else ONE
    finish = run.now + timedelta(hours=float(remaining_run / ran_share))
    proj_processed = run.processed + remaining_processed
    proj_hours = run.run_hours + remaining_run
    proj_cost = proj_processed * run.material_per_unit + proj_hours * run.conversion_rate
    figures.update({"scrap_share": str(scrap_share.quantize(Decimal("0.0001"))),
                    "hours_per_unit": str(hours_per_unit.quantize(Decimal("0.000001"))),
                    "std_hours_per_unit": str(run.std_hours_per_unit), "ran_share": str(ran_share.quantize(
                        Decimal("0.0001")))})

    if run.due is not None:
        due_end = datetime.combine(run.due + timedelta(days=1), time(0), tzinfo=UTC)
        if finish > due_end:
            days = _hours(finish - due_end) / 24
            reasons.append(Reason("late", _cap(25 + 25 * days, 50),
                                  f"projected to finish {finish:%Y-%m-%d %H:%M}, {days:.1f} days after its due "
                                  f"date {run.due}", "review the schedule or the due date with planning"))
    if std_cost > 0:
        over = proj_cost / std_cost - ONE
        if over > Decimal("0.05"):
            reasons.append(Reason("cost_over_standard", _cap(over * HUNDRED, 30),
                                  f"projected cost {proj_cost:.2f} is {over * HUNDRED:.1f} % over the standard "
                                  f"{std_cost:.2f}", "review the run rate and scrap with production"))
    extra_scrap = scrap_share - run.normal_spoilage
    if extra_scrap > Decimal("0.01"):
        reasons.append(Reason("scrap_over_normal", _cap(2 * extra_scrap * HUNDRED, 20),
                              f"scrap {scrap_share * HUNDRED:.1f} % against normal spoilage "
                              f"{run.normal_spoilage * HUNDRED:.1f} %", "ask quality to look at the machine"))
    dispatched = run.run_hours + run.down_hours
    if dispatched > 0:
        down_share = run.down_hours / dispatched
        if down_share > Decimal("0.15"):
            reasons.append(Reason("downtime", _cap((down_share - Decimal("0.15")) * HUNDRED, 15),
                                  f"down {down_share * HUNDRED:.1f} % of the time it was dispatched",
                                  "ask maintenance about the stops"))
    total = min(100, sum(r.points for r in reasons))
    return RiskScore(run.work_order, total, level_of(total), tuple(reasons), finish, run.due, proj_cost, std_cost,
                     proj_hours, std_hours, figures)
