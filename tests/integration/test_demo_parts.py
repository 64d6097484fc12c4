"""The demo's building blocks: TOML writer, data directory handling, view, control port with a real proxy."""

from __future__ import annotations

import io
import socket
import tomllib
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sfsync.broker import free_port
from sfsync.demo_configs import MACHINES, dispatch_plan
from sfsync.demo_control import ControlServer, LinkControl, request_cut
from sfsync.demo_procs import ChildProcess, DemoError, wait_ready
from sfsync.demo_run import MARKER, Demo, DemoOptions
from sfsync.demo_toml import dumps
from sfsync.demo_view import MachineView, Snapshot, parse_metrics, render_line, render_screen
from sfsync.proxy import TcpProxy

keys = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_-0123456789 .", min_size=1, max_size=8)
scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
tables = st.recursive(
    st.dictionaries(keys, st.one_of(scalars, st.lists(scalars, max_size=3)), max_size=4),
    lambda inner: st.dictionaries(keys, st.one_of(scalars, inner, st.lists(inner, min_size=1, max_size=2)), max_size=4),
    max_leaves=12,
)


@given(tables)
def test_toml_writer_round_trips_through_tomllib(data: dict[str, object]) -> None:
    assert tomllib.loads(dumps(data)) == data


def test_toml_writer_refuses_what_toml_cannot_hold() -> None:
    with pytest.raises(TypeError):
        dumps({"x": Decimal("1.5")})
    with pytest.raises(TypeError):
        dumps({"x": float("nan")})


def test_dispatch_plan_puts_a_routed_item_on_every_machine(tmp_path: Path) -> None:
    master = tmp_path / "m.yaml"
    master.write_text(
        "machines:\n"
        "  - {id: PRESS-1, work_center: WC-PRESS}\n  - {id: PRESS-2, work_center: WC-PRESS}\n"
        "  - {id: CNC-1, work_center: WC-CNC}\n  - {id: CNC-2, work_center: WC-CNC}\n"
        "routings:\n"
        "  - {item: A, work_center: WC-PRESS}\n  - {item: B, work_center: WC-PRESS}\n"
        "  - {item: C, work_center: WC-CNC}\n"
    )
    plan = dict(dispatch_plan(master))
    assert set(plan) == set(MACHINES)
    assert plan["PRESS-1"] in {"A", "B"} and plan["PRESS-2"] in {"A", "B"}
    assert plan["CNC-1"] == plan["CNC-2"] == "C"
    master.write_text("machines: [{id: PRESS-1, work_center: WC-X}]\nroutings: []\n")
    with pytest.raises(ValueError, match=r"PRESS-1|PRESS-2"):
        dispatch_plan(master)


def test_data_dir_fresh_resume_and_foreign_dirs(tmp_path: Path) -> None:
    root = tmp_path / "d"
    assert Demo(DemoOptions(data_dir=root)).prepare_dir() == "fresh"
    (root / "central" / "keep.txt").write_text("x")
    assert Demo(DemoOptions(data_dir=root)).prepare_dir() == "resume"
    assert (root / "central" / "keep.txt").exists()
    assert Demo(DemoOptions(data_dir=root, mode="fresh")).prepare_dir() == "fresh"
    assert not (root / "central" / "keep.txt").exists() and (root / MARKER).exists()
    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(DemoError, match="not a demo data directory"):
        Demo(DemoOptions(data_dir=foreign, mode="fresh")).prepare_dir()
    assert (foreign / "thesis.tex").read_text() == "precious"


def test_parse_metrics_sums_labelled_series() -> None:
    text = (
        "# HELP x\n# TYPE sfsync_edge_backlog_rows gauge\n"
        'sfsync_edge_backlog_rows{stream="a"} 3\nsfsync_edge_backlog_rows{stream="b"} 4\n'
        "sfsync_edge_acked_through 17\nbad line here\n"
    )
    assert parse_metrics(text) == {"sfsync_edge_backlog_rows": 7.0, "sfsync_edge_acked_through": 17.0}


def test_views_show_totals_balance_and_backlog() -> None:
    snap = Snapshot(
        machines={"PRESS-1": MachineView(good=10, scrap=1, state="running"), "CNC-1": MachineView(good=5, scrap=2)},
        downtime_hours={"EQ_FAIL": Decimal("0.010")},
        wip=Decimal("12.50"),
        finished_goods=Decimal("100.00"),
        total_debit=Decimal("5.00"),
        total_credit=Decimal("5.01"),
        backlog=42,
        acked_through=9,
        link="CUT (heals in 3 s)",
    )
    line = render_line(snap, 12.0)
    for part in ("good=15", "scrap=3", "downtime_h=0.010", "wip=12.50", "fg=100.00", "balanced=NO", "backlog=42"):
        assert part in line, (part, line)
    assert "link=CUT" in line
    screen = render_screen(snap, 12.0, ["header"])
    assert "NOT BALANCED" in screen and "42 events" in screen and "PRESS-1" in screen


@pytest.mark.timeout(60)
def test_control_port_cuts_and_heals_the_edge_link(tmp_path: Path) -> None:
    upstream = socket.create_server(("127.0.0.1", 0))
    target = upstream.getsockname()[1]
    with TcpProxy("127.0.0.1", target, listen_port=free_port()) as proxy:
        link = LinkControl(proxy)
        control = ControlServer(link, tmp_path)
        control.start()
        try:
            assert link.state == "up"
            assert request_cut(tmp_path, 0.5).startswith("CUT")
            assert proxy.mode == "cut"
            wait_ready("heal", lambda: proxy.mode == "open" and link.state == "up", 20)
            with pytest.raises(RuntimeError, match="seconds"):
                request_cut(tmp_path, 10_000)
        finally:
            control.stop()
            upstream.close()
    with pytest.raises(RuntimeError, match="no demo is running"):
        request_cut(tmp_path, 1)


def test_a_child_that_dies_is_reported_with_its_log(tmp_path: Path) -> None:
    import sys

    child = ChildProcess("boom", [sys.executable, "-c", "print('bad config'); raise SystemExit(3)"], tmp_path / "b.log")
    child.start()
    with pytest.raises(DemoError, match=r"boom exited with status 3(.|\n)*bad config"):
        wait_ready("boom", lambda: False, 30, [child])
    assert child.stop() == 3


def test_demo_stop_says_where_the_data_is(tmp_path: Path) -> None:
    out = io.StringIO()
    demo = Demo(DemoOptions(data_dir=tmp_path / "d"), out)
    demo.prepare_dir()
    assert demo.stop() == []
    demo.where()
    assert str(tmp_path / "d") in out.getvalue() and "logs" in out.getvalue()
