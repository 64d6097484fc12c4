"""The pure alert rules and purchasing rules (issue 14): thresholds, hysteresis, and each check just
below, at and above its threshold."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from central.domain import alert_rules as r
from central.domain.errors import InputError
from central.domain.purchasing import OverReceiptError, PoLine, check_line, check_receipt, is_past_due, open_qty

D = Decimal
T = r.DEFAULT_ALERT_THRESHOLDS
NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def test_level_has_a_band_between_clear_and_threshold() -> None:
    assert r.level_for(D("0.11"), D("0.10"), D("0.05")) is r.Level.FIRING
    assert r.level_for(D("0.10"), D("0.10"), D("0.05")) is r.Level.HOLD  # at the threshold: not over it
    assert r.level_for(D("0.05"), D("0.10"), D("0.05")) is r.Level.HOLD
    assert r.level_for(D("0.0499"), D("0.10"), D("0.05")) is r.Level.CLEAR


def test_thresholds_layer_and_refuse_nonsense() -> None:
    t = r.resolve_alert_thresholds({"run_hours_tolerance": "0.2", "po_late_days": 2}, {"run_hours_tolerance": "0.3"},
                                   {"edge_offline_minutes": None})
    assert (t.run_hours_tolerance, t.po_late_days, t.edge_offline_minutes) == (D("0.3"), 2, D(10))
    for bad in ({"nope": 1}, {"po_late_days": "2"}, {"po_late_days": True}, {"clear_runs": 0},
                {"run_hours_tolerance": "-1"}, {"clear_fraction": "2"}, {"edge_offline_minutes": "0"},
                {"variance_amount": "NaN"}):
        with pytest.raises(InputError):
            r.resolve_alert_thresholds(bad)
    errors = r.alert_threshold_errors({"plants": [{"id": "P1", "alert_thresholds": {"clear_runs": 0}}],
                                       "machines": [{"id": "M", "alert_thresholds": {"po_late_days": 3}}]})
    assert [e.key_path for e in errors] == ["plants[0].alert_thresholds"]


def _progress(good: str, run_hours: str, mh: str = "0.04", lh: str = "0.02") -> r.OrderProgress:
    return r.OrderProgress("WO-1", "BR-100", "M1", "WC", D(100), D(good), D(0), D(run_hours), D(mh), D(lh),
                           NOW - timedelta(hours=2), NOW)


def test_hours_overrun_projects_and_uses_the_crew_ratio() -> None:
    f = r.hours_overrun(_progress("25", "1.11"), T, labour=False)  # 11 % over 1.0 h
    assert f is not None and f.level is r.Level.FIRING and f.detail["projected_hours"] == "4.4400"
    assert r.hours_overrun(_progress("25", "1.10"), T, labour=False).level is r.Level.HOLD  # type: ignore[union-attr]
    labour = r.hours_overrun(_progress("25", "1.11"), T, labour=True)
    assert labour is not None
    assert (labour.detail["actual_hours"], labour.detail["standard_hours"]) == ("0.5550", "0.50")
    assert r.hours_overrun(_progress("6", "5"), T, labour=False) is None  # 0.24 standard hours: too early to judge


def test_material_overuse_boundaries() -> None:
    def use(issued: str, processed: str = "20") -> r.Finding | None:
        return r.material_overuse(r.MaterialUse("WO-1", "S", D(issued), D("1.5"), D(processed)), T)

    assert use("31.6").level is r.Level.FIRING  # type: ignore[union-attr]  # 5.33 %
    assert use("31.5").level is r.Level.HOLD  # type: ignore[union-attr]  # exactly 5 %
    assert use("30.7").level is r.Level.CLEAR  # type: ignore[union-attr]  # 2.3 %
    assert use("100", processed="9") is None  # fewer than min_output_units


def test_po_line_late_after_its_grace() -> None:
    line = r.PoLineDue(1, "PO-1", 1, "Steel", "S", D(10), D(0), date(2026, 11, 1))
    assert r.po_line_late(line, date(2026, 11, 1), T).level is r.Level.CLEAR
    assert r.po_line_late(line, date(2026, 11, 2), T).level is r.Level.FIRING
    graced = r.resolve_alert_thresholds({"po_late_days": 1})
    assert r.po_line_late(line, date(2026, 11, 2), graced).level is r.Level.CLEAR
    received = r.PoLineDue(1, "PO-1", 1, "Steel", "S", D(10), D(10), date(2026, 11, 1))
    assert r.po_line_late(received, date(2026, 12, 1), T).level is r.Level.CLEAR


def test_edges_and_streams_just_below_and_above() -> None:
    def edge(minutes: float, scheduled: bool = True, online: bool = False) -> r.EdgeView:
        return r.EdgeView("e1", "P1", online, NOW - timedelta(minutes=minutes), NOW - timedelta(minutes=minutes),
                          ["M1"] if scheduled else [])

    assert r.edge_offline(edge(9.9), NOW, T).level is r.Level.CLEAR
    assert r.edge_offline(edge(10.1), NOW, T).level is r.Level.FIRING
    assert r.edge_offline(edge(60, scheduled=False), NOW, T).level is r.Level.CLEAR
    assert r.edge_unacked(edge(14.9, online=True), NOW, T).level is r.Level.CLEAR
    assert r.edge_unacked(edge(15.1, online=True), NOW, T).level is r.Level.FIRING

    def machine(state: str, minutes: float) -> r.MachineView:
        return r.MachineView("M1", "P1", state, 1, NOW - timedelta(minutes=minutes), 2)

    assert r.stream_silent(machine("running", 9.9), NOW, T).level is r.Level.CLEAR
    assert r.stream_silent(machine("running", 10.1), NOW, T).level is r.Level.FIRING
    assert r.stream_silent(machine("down", 120), NOW, T).level is r.Level.CLEAR


def test_shortage_counts_on_hand_and_open_po_in_the_horizon() -> None:
    needs = [r.Requirement("WO-1", "S", D(10)), r.Requirement("WO-2", "S", D(5))]
    horizon = date(2026, 11, 9)
    assert r.shortage("S", needs, r.Supply(D(14), [(1, D(1), date(2026, 11, 3))]), horizon, T).level is r.Level.CLEAR
    f = r.shortage("S", needs, r.Supply(D("14.5"), []), horizon, T)
    assert f.level is r.Level.FIRING and f.detail["short_qty"] == "0.5"


def test_variance_over_amount_or_percent() -> None:
    lines = [r.VarianceLine("labor_efficiency", D("500"), D("5000")),
             r.VarianceLine("material_usage:S", D("-40"), None)]
    assert r.variance_over("order", "WO-1", lines, T, evidence={}) is None  # 500 is not over 500; 10 % not over 10 %
    f = r.variance_over("order", "WO-1", [r.VarianceLine("labor_efficiency", D("500.01"), None)], T, evidence={})
    assert f is not None and f.kind == "order_variance" and f.key == "order_variance:WO-1"
    g = r.variance_over("period", "2026-11", [r.VarianceLine("foh_volume", D("-60"), D("500"))], T, evidence={})
    assert g is not None and g.detail["variances"][0]["percent"] == "0.1200"  # favourable counts too


def test_purchasing_receipts_within_and_beyond_tolerance() -> None:
    line = PoLine("PO-1", 1, "S", D(100), D(60), date(2026, 11, 1))
    assert open_qty(line) == 40 and is_past_due(line, date(2026, 11, 2)) and not is_past_due(line, date(2026, 11, 1))
    assert check_receipt(line, "S", D(45), D("0.05")) == 105
    with pytest.raises(OverReceiptError) as exc:
        check_receipt(line, "S", D("45.000001"), D("0.05"))
    assert exc.value.status == 409
    with pytest.raises(InputError):
        check_receipt(line, "F", D(1), D("0.05"))
    with pytest.raises(InputError):
        check_receipt(line, "S", D(0), D("0.05"))
    with pytest.raises(InputError):
        check_line("S", D(0), D(1))
    with pytest.raises(InputError):
        check_line("S", D(1), D(-1))


def test_over_receipt_tolerance_is_a_plant_setting_with_the_5_percent_default() -> None:
    assert r.resolve_alert_thresholds().over_receipt_tolerance == D("0.05")
    assert r.resolve_alert_thresholds({"over_receipt_tolerance": "0.12"}).over_receipt_tolerance == D("0.12")
    assert r.resolve_alert_thresholds({"over_receipt_tolerance": "0"}).over_receipt_tolerance == 0
    for bad in ("1.01", "-0.01", "abc"):
        with pytest.raises(InputError, match="over_receipt_tolerance"):
            r.resolve_alert_thresholds({"over_receipt_tolerance": bad})


def test_period_variance_by_percentage_of_the_periods_output_quiet_at_the_threshold() -> None:
    base = D("1000")  # the period's output at standard
    assert r.variance_over("period", "2026-11", [r.VarianceLine("labor_rate", D("100"), base)], T,
                           evidence={}) is None  # 10 % of output, 100 of 500: at neither threshold
    f = r.variance_over("period", "2026-11", [r.VarianceLine("labor_rate", D("100.01"), base)], T, evidence={})
    assert f is not None and f.kind == "period_variance" and f.detail["variances"][0]["percent"] == "0.1000"
    assert r.variance_over("period", "2026-11", [r.VarianceLine("labor_rate", D("100.01"), None)], T,
                           evidence={}) is None  # no output in the period: amount only
