"""Anomaly detection as decision support (issue 14): a robust baseline per machine, product and
metric learned from history, and the check of a new observation against it.

Metrics (all "higher is worse"), observed per window of an order's output on one machine:

* ``scrap_rate``: scrap / units processed in the window;
* ``cycle_time``: run seconds per unit processed;
* ``labour_per_unit``: labour hours per unit processed (run hours x the routing's crew ratio);
* ``material_per_unit``: quantity of one manually issued component per unit processed.

The baseline is the median and the MAD (median absolute deviation, scaled by 1.4826 so it
estimates a standard deviation for normal data) of the last ``window`` points that count as
normal (see :class:`PointStatus`), with the stdlib :mod:`statistics` module on Decimals. Where
``by_shift`` is set and the shift has ``min_points`` of its own, the baseline is the shift's.

A point fires when ``value > threshold``, with ``threshold = median + k * spread`` and
``spread = max(MAD * 1.4826, rel_floor * median, abs_floor)`` (the floors keep a perfectly
steady history from firing on noise). Scrap is a share of whole units, so sparse that the median
of window rates says little (often 0): for it (``binomial``) the centre is the mean rate ``p``
of the counted windows and ``spread = max(sqrt(p (1 - p) / units), abs_floor)`` for the window's
``units`` (the normal approximation of the binomial). A flagged point stays out of the baseline until a person
dismisses it: as ``normal`` (it joins the baseline; the baseline moves) or as ``one_off`` /
``data_error`` (it stays out for good).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

__all__ = [
    "Metric", "PointStatus", "DismissReason", "Point", "Baseline", "DetectorConfig", "Assessment",
    "DEFAULT_CONFIG", "MAD_SCALE", "baseline", "assess", "status_after_dismissal", "shift_of",
]

MAD_SCALE = Decimal("1.4826")


class Metric(StrEnum):
    SCRAP_RATE = "scrap_rate"
    CYCLE_TIME = "cycle_time"
    LABOUR_PER_UNIT = "labour_per_unit"
    MATERIAL_PER_UNIT = "material_per_unit"


class PointStatus(StrEnum):
    NORMAL = "normal"  # below threshold when observed: counts in the baseline
    FLAGGED = "flagged"  # raised a recommendation, not yet dismissed: out of the baseline
    DISMISSED_NORMAL = "dismissed_normal"  # a person said it is normal: counts in the baseline
    EXCLUDED = "excluded"  # a person said it is a one-off or bad data: out of the baseline for good


COUNTS_IN_BASELINE = frozenset({PointStatus.NORMAL, PointStatus.DISMISSED_NORMAL})


class DismissReason(StrEnum):
    NORMAL = "normal"  # "this is how it runs now": the point joins the baseline
    ONE_OFF = "one_off"  # a known one-off cause (trial material, new operator): excluded
    DATA_ERROR = "data_error"  # a miscount or a bad sensor: excluded


def status_after_dismissal(reason: DismissReason) -> PointStatus:
    """What a dismissal does to the flagged point's place in the baseline."""
    return PointStatus.DISMISSED_NORMAL if reason is DismissReason.NORMAL else PointStatus.EXCLUDED


def shift_of(at: datetime, shift_hours: int = 8) -> int:
    """The shift of ``at`` (0, 1, 2 for three 8-hour shifts from midnight UTC)."""
    return at.hour // shift_hours


@dataclass(frozen=True)
class Point:
    """One past observation of a metric (its value and when, for the evidence)."""

    value: Decimal
    at: datetime
    shift: int
    status: PointStatus = PointStatus.NORMAL


@dataclass(frozen=True)
class DetectorConfig:
    k: Decimal = Decimal("4")
    rel_floor: Decimal = Decimal("0.08")
    abs_floor: Decimal = Decimal("0.0001")
    min_points: int = 8
    window: int = 200
    by_shift: bool = False
    binomial: bool = False  # a share of units (scrap): spread from the pooled rate and the window's units

    def __post_init__(self) -> None:
        if self.k <= 0 or self.rel_floor < 0 or self.abs_floor < 0:
            raise ValueError("k must be positive and the floors not negative")
        if self.min_points < 3 or self.window < self.min_points:
            raise ValueError("min_points must be at least 3 and window at least min_points")


DEFAULT_CONFIG: Mapping[Metric, DetectorConfig] = {
    # scrap comes in whole units: a window's rate is noisy, so the relative floor is wide and the
    # absolute floor is a fraction of a percent
    Metric.SCRAP_RATE: DetectorConfig(k=Decimal("4"), rel_floor=Decimal("0"), abs_floor=Decimal("0.005"),
                                      binomial=True),
    Metric.CYCLE_TIME: DetectorConfig(k=Decimal("4"), rel_floor=Decimal("0.04"), by_shift=True),
    # per-unit figures can be small (a 5.4 s part is 0.0015 labour hours, a light component a few
    # grams): their absolute floor is the quantum the points are stored in (6 decimals), so the
    # relative floor decides; 0.0001 was 6.7 % of 0.0015 h and hid a 20 % overrun
    Metric.LABOUR_PER_UNIT: DetectorConfig(k=Decimal("4"), rel_floor=Decimal("0.04"), abs_floor=Decimal("0.000001"),
                                           by_shift=True),
    Metric.MATERIAL_PER_UNIT: DetectorConfig(k=Decimal("4"), rel_floor=Decimal("0.025"),
                                             abs_floor=Decimal("0.000001")),
}


@dataclass(frozen=True)
class Baseline:
    median: Decimal
    mad: Decimal
    n: int
    shift: int | None  # the shift it is learned from; None: all shifts
    mean: Decimal = Decimal(0)

    def spread(self, cfg: DetectorConfig, units: Decimal | None = None) -> Decimal:
        if cfg.binomial and units is not None and units > 0:
            p = min(max(self.mean, Decimal(0)), Decimal(1))
            return max((p * (1 - p) / units).sqrt(), cfg.abs_floor)
        return max(self.mad * MAD_SCALE, cfg.rel_floor * abs(self.median), cfg.abs_floor)

    def center(self, cfg: DetectorConfig) -> Decimal:
        return self.mean if cfg.binomial else self.median

    def threshold(self, cfg: DetectorConfig, units: Decimal | None = None) -> Decimal:
        return self.center(cfg) + cfg.k * self.spread(cfg, units)

    def to_data(self) -> dict[str, Any]:
        return {"median": str(self.median), "mad": str(self.mad), "mean": str(self.mean.quantize(Decimal("0.000001"))),
                "n": self.n, "shift": self.shift}


def _median(values: Sequence[Decimal]) -> Decimal:
    return Decimal(statistics.median(values))


def baseline(history: Iterable[Point], cfg: DetectorConfig, shift: int | None = None) -> Baseline | None:
    """The baseline from the points that count (newest ``cfg.window``), or None with fewer than
    ``cfg.min_points``. ``history`` is oldest first. With ``cfg.by_shift`` and a ``shift``, the
    shift's own points when it has enough of them."""
    counted = [p for p in history if p.status in COUNTS_IN_BASELINE]
    chosen: list[Point] = counted
    used_shift: int | None = None
    if cfg.by_shift and shift is not None:
        own = [p for p in counted if p.shift == shift]
        if len(own) >= cfg.min_points:
            chosen, used_shift = own, shift
    chosen = chosen[-cfg.window:]
    if len(chosen) < cfg.min_points:
        return None
    values = [p.value for p in chosen]
    med = _median(values)
    mad = _median([abs(v - med) for v in values])
    return Baseline(med, mad, len(values), used_shift, sum(values, Decimal(0)) / len(values))


@dataclass(frozen=True)
class Assessment:
    """A value checked against its baseline: ``firing`` when over the threshold."""

    metric: Metric
    value: Decimal
    baseline: Baseline
    threshold: Decimal
    firing: bool
    evidence: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> Decimal | None:
        """The value as a multiple of the baseline median (None when the median is 0)."""
        return None if self.baseline.median == 0 else self.value / self.baseline.median

    def message(self, subject: str) -> str:
        ratio = self.ratio
        times = f" ({ratio:.2f}x baseline)" if ratio is not None else ""
        return (f"{self.metric.value} {self.value:.4f} on {subject}{times}: over the threshold "
                f"{self.threshold:.4f} (baseline median {self.baseline.median:.4f}, n={self.baseline.n})")


def assess(metric: Metric, value: Decimal, history: Iterable[Point], at: datetime,
           cfg: DetectorConfig | None = None, evidence: Mapping[str, Any] | None = None,
           units: Decimal | None = None) -> Assessment | None:
    """``value`` observed at ``at`` (over ``units`` units) against the baseline of ``history``;
    None while the history is too short to learn from."""
    cfg = cfg or DEFAULT_CONFIG[metric]
    base = baseline(history, cfg, shift_of(at))
    if base is None:
        return None
    thr = base.threshold(cfg, units)
    return Assessment(metric, value, base, thr, value > thr, dict(evidence or {}))
