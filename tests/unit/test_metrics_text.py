"""The one Prometheus text renderer (shared.metrics) that edge and central both expose."""

from __future__ import annotations

import math

from shared.metrics import Counter, Exposition, Gauge, Histogram, Registry, format_value


def test_values_read_as_prometheus_numbers() -> None:
    assert [format_value(v) for v in (True, False, 7, 2.0, 1.5, math.inf, -math.inf)] == [
        "1", "0", "7", "2", "1.5", "+Inf", "-Inf"]
    assert format_value(math.nan) == "NaN"


def test_an_exposition_writes_help_and_type_once_and_escapes_labels() -> None:
    page = Exposition()
    page.add("x_total", 1, "things", "counter", tag='a"b\\c\nd', source="s")
    page.add("x_total", 2, "things", "counter", tag="e", source="s")
    page.family("y", "nothing yet")
    assert page.text() == (
        "# HELP x_total things\n# TYPE x_total counter\n"
        'x_total{source="s",tag="a\\"b\\\\c\\nd"} 1\n'
        'x_total{source="s",tag="e"} 2\n'
        "# HELP y nothing yet\n# TYPE y gauge\n"
    )


def test_a_registry_renders_live_metrics_then_the_extra_lines() -> None:
    r = Registry()
    c = r.add(Counter("c_total", "count", ["reason"]))
    g = r.add(Gauge("g", "level"))
    h = r.add(Histogram("h_seconds", "time", (0.1, 1.0)))
    c.inc(2, "late")
    g.set(0.25)
    h.observe(0.5)
    assert r.render(["# extra"]).splitlines() == [
        "# HELP c_total count", "# TYPE c_total counter", 'c_total{reason="late"} 2',
        "# HELP g level", "# TYPE g gauge", "g 0.25",
        "# HELP h_seconds time", "# TYPE h_seconds histogram",
        'h_seconds_bucket{le="0.1"} 0', 'h_seconds_bucket{le="1"} 1', 'h_seconds_bucket{le="+Inf"} 1',
        "h_seconds_sum 0.5", "h_seconds_count 1",
        "# extra",
    ]
