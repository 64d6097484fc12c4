"""The anomaly detectors' arithmetic (issue 14): median/MAD baseline, threshold with floors, by
shift, and what a dismissal does to the baseline. Each metric fires on an injected anomaly of the
bench's sizes and stays quiet just below its threshold."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from central.domain.anomaly import (
    DEFAULT_CONFIG,
    MAD_SCALE,
    DetectorConfig,
    DismissReason,
    Metric,
    Point,
    PointStatus,
    assess,
    baseline,
    status_after_dismissal,
)

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # shift 1


def steady(center: str, spread: float, n: int = 60, seed: int = 7) -> list[Point]:
    rng = random.Random(seed)
    c = Decimal(center)
    return [Point((c * Decimal(str(round(1 + rng.uniform(-spread, spread), 6)))).quantize(Decimal("0.000001")),
                  T0 - timedelta(minutes=30 * (n - i)), 1) for i in range(n)]


def test_baseline_is_median_and_mad_of_counted_points() -> None:
    pts = [Point(Decimal(v), T0, 1) for v in ("1", "2", "3", "4", "100", "5", "6", "7")]
    pts.append(Point(Decimal("1000"), T0, 1, PointStatus.FLAGGED))
    pts.append(Point(Decimal("900"), T0, 1, PointStatus.EXCLUDED))
    b = baseline(pts, DetectorConfig(min_points=8))
    assert b is not None
    assert (b.median, b.mad, b.n) == (Decimal("4.5"), Decimal("2"), 8)
    assert baseline(pts[:7], DetectorConfig(min_points=8)) is None


@pytest.mark.parametrize(("metric", "center", "noise", "factor"), [
    (Metric.SCRAP_RATE, "0.02", 0.3, Decimal(3)),  # 3x baseline
    (Metric.CYCLE_TIME, "144", 0.03, Decimal("1.25")),  # +25 %
    (Metric.LABOUR_PER_UNIT, "0.04", 0.03, Decimal("1.20")),  # 20 % over
    (Metric.MATERIAL_PER_UNIT, "1.5", 0.01, Decimal("1.15")),  # 15 % over
    # small per-unit figures: a fast part's 0.0015 labour hours (5.4 s, the scenario bench's
    # routing) and a light component's 2 g; an absolute floor of 0.0001 was 6.7 % and 5 % of them
    # and hid a 20 % / 15 % overrun (the scenario bench's labour_per_unit never fired)
    (Metric.LABOUR_PER_UNIT, "0.0015", 0.02, Decimal("1.20")),
    (Metric.MATERIAL_PER_UNIT, "0.002", 0.01, Decimal("1.15")),
])
def test_each_metric_fires_on_injected_anomaly_and_is_quiet_just_below(
        metric: Metric, center: str, noise: float, factor: Decimal) -> None:
    history = steady(center, noise)
    units = Decimal(1000)  # the window's units: the scrap check's spread shrinks with them
    a = assess(metric, Decimal(center) * factor, history, T0, units=units)
    assert a is not None and a.firing, a
    assert a.value > a.threshold and a.baseline.n == len(history)
    below = assess(metric, a.threshold - Decimal("0.000001"), history, T0, units=units)
    assert below is not None and not below.firing
    at = assess(metric, a.threshold, history, T0, units=units)
    assert at is not None and not at.firing  # the threshold itself is not over it
    # the steady points themselves never fire against their own baseline
    for p in history:
        check = assess(metric, p.value, history, p.at, units=units)
        assert check is not None
        assert not check.firing, (metric, p.value, check.threshold)


def test_threshold_uses_floors_when_history_is_flat() -> None:
    flat = [Point(Decimal("10"), T0, 1) for _ in range(20)]
    cfg = DetectorConfig(k=Decimal(4), rel_floor=Decimal("0.05"), abs_floor=Decimal("0.001"))
    b = baseline(flat, cfg)
    assert b is not None and b.mad == 0
    assert b.threshold(cfg) == Decimal("10") + 4 * Decimal("0.5")
    noisy = [Point(Decimal(v), T0, 1) for v in (8, 9, 10, 11, 12) * 4]
    nb = baseline(noisy, cfg)
    assert nb is not None and nb.threshold(cfg) == Decimal(10) + 4 * Decimal(1) * MAD_SCALE


def test_baseline_by_shift_when_the_shift_has_enough_points() -> None:
    cfg = DetectorConfig(by_shift=True, min_points=5)
    day = [Point(Decimal("100"), T0, 1) for _ in range(10)]
    night = [Point(Decimal("130"), T0 - timedelta(hours=8), 0) for _ in range(10)]
    b_day = baseline(day + night, cfg, shift=1)
    b_night = baseline(day + night, cfg, shift=0)
    b_other = baseline(day + night, cfg, shift=2)  # no points of its own: all shifts
    assert b_day is not None and b_day.median == 100 and b_day.shift == 1
    assert b_night is not None and b_night.median == 130 and b_night.shift == 0
    assert b_other is not None and b_other.median == 115 and b_other.shift is None


def test_dismissal_reason_decides_the_points_place_in_the_baseline() -> None:
    assert status_after_dismissal(DismissReason.NORMAL) is PointStatus.DISMISSED_NORMAL
    assert status_after_dismissal(DismissReason.ONE_OFF) is PointStatus.EXCLUDED
    assert status_after_dismissal(DismissReason.DATA_ERROR) is PointStatus.EXCLUDED
    history = steady("144", 0.02, n=20)
    high = Decimal("190")
    first = assess(Metric.CYCLE_TIME, high, history, T0)
    assert first is not None and first.firing
    flagged = [Point(high, T0 + timedelta(minutes=i), 1, PointStatus.FLAGGED) for i in range(25)]
    still = assess(Metric.CYCLE_TIME, high, history + flagged, T0)
    assert still is not None and still.firing and still.baseline == first.baseline  # flagged: out
    dismissed = [Point(p.value, p.at, p.shift, status_after_dismissal(DismissReason.NORMAL)) for p in flagged]
    after = assess(Metric.CYCLE_TIME, high, history + dismissed, T0)
    assert after is not None and after.baseline.median == high and not after.firing  # the new normal
    excluded = [Point(p.value, p.at, p.shift, status_after_dismissal(DismissReason.ONE_OFF)) for p in flagged]
    again = assess(Metric.CYCLE_TIME, high, history + excluded, T0)
    assert again is not None and again.firing and again.baseline == first.baseline


def test_scrap_spread_is_binomial_in_the_window_units() -> None:
    history = [Point(Decimal(v), T0, 1) for v in ("0.04", "0.06", "0.05", "0.05", "0.03", "0.07", "0.05", "0.05")]
    small = assess(Metric.SCRAP_RATE, Decimal("0.15"), history, T0, units=Decimal(20))
    large = assess(Metric.SCRAP_RATE, Decimal("0.15"), history, T0, units=Decimal(200))
    assert small is not None and large is not None
    assert small.baseline.mean == Decimal("0.05")
    # 0.05 + 4 x sqrt(0.05 x 0.95 / n): 0.2449 for 20 units (3 of 20 is noise), 0.1116 for 200
    assert not small.firing and large.firing
    assert large.threshold.quantize(Decimal("0.0001")) == Decimal("0.1116")


def test_no_assessment_while_learning_and_bad_configs_refused() -> None:
    assert assess(Metric.SCRAP_RATE, Decimal(1), steady("0.02", 0.1, n=5), T0) is None
    with pytest.raises(ValueError):
        DetectorConfig(k=Decimal(0))
    with pytest.raises(ValueError):
        DetectorConfig(min_points=10, window=5)
    assert set(DEFAULT_CONFIG) == set(Metric)
