"""The work-order risk score (issue 14): projection from run rate, scrap and downtime; reasons."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from central.domain.risk import OrderRun, level_of, score

NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
D = Decimal


def run(**kw: object) -> OrderRun:
    base = OrderRun(work_order="WO-1", item="BR-100", machine="PRESS-2", qty=D(100), good=D(50), scrap=D(0),
                    run_hours=D(2), down_hours=D(0), started=NOW - timedelta(hours=2), now=NOW,
                    due=date(2026, 11, 20), std_hours_per_unit=D("0.04"), material_per_unit=D(10),
                    conversion_rate=D(50))
    return replace(base, **kw)  # type: ignore[arg-type]


def test_on_standard_and_on_time_is_low_with_no_reasons() -> None:
    r = score(run())
    assert r.score == 0 and r.level == "low" and r.reasons == ()
    assert r.projected_finish == NOW + timedelta(hours=2)
    assert r.projected_run_hours == D(4) and r.standard_run_hours == D(4)
    assert r.projected_cost == r.standard_cost == D(100) * 10 + D(4) * 50


def test_slow_run_rate_gives_cost_over_standard() -> None:
    # 0.05 h/unit: 25 % slower; at 200/h: 1000 + 5 x 200 = 2000 against 1000 + 4 x 200 = 1800 (11.1 % over)
    r = score(run(run_hours=D("2.5"), started=NOW - timedelta(hours=2.5), conversion_rate=D(200)))
    codes = {x.code: x for x in r.reasons}
    assert set(codes) == {"cost_over_standard"}
    assert r.projected_run_hours == D(5) and codes["cost_over_standard"].points == 11
    mild = score(run(run_hours=D("2.5"), started=NOW - timedelta(hours=2.5)))  # at 50/h: 4.2 % over, quiet
    assert mild.reasons == ()
    assert all(x.to_data()["needs_approval"] for x in r.reasons)


def test_downtime_and_due_date_make_it_late() -> None:
    r = score(run(down_hours=D(18), started=NOW - timedelta(hours=20), due=date(2026, 11, 10)))
    codes = {x.code for x in r.reasons}
    assert codes == {"late", "downtime"}
    assert r.projected_finish == NOW + timedelta(hours=20)  # ran a tenth of the time: 2 h of run take 20
    assert r.level in ("medium", "high")
    on_time = score(run(down_hours=D(18), started=NOW - timedelta(hours=20), due=date(2026, 11, 11)))
    assert "late" not in {x.code for x in on_time.reasons}


def test_scrap_raises_units_to_process_and_scores() -> None:
    r = score(run(good=D(40), scrap=D(10)))  # 20 % scrap
    codes = {x.code: x for x in r.reasons}
    assert codes["scrap_over_normal"].points == 20
    assert r.projected_cost is not None and r.projected_cost > r.standard_cost
    quiet = score(run(good=D(49), scrap=D(1), normal_spoilage=D("0.02")))
    assert "scrap_over_normal" not in {x.code for x in quiet.reasons}


def test_no_output_yet_has_no_projection_and_bad_qty_refused() -> None:
    r = score(run(good=D(0), run_hours=D(0)))
    assert r.projected_finish is None and r.reasons[0].code == "no_output_yet"
    with pytest.raises(ValueError):
        score(run(qty=D(0)))
    assert (level_of(0), level_of(25), level_of(50)) == ("low", "medium", "high")
