"""Pure parts of ``sfsync edge scan``/``browse``/``bundle``: targets, ranges, merging, selection, names."""

from __future__ import annotations

import tomllib

import pytest

from edge.browse import BrowsedNode, BrowseResult, select, toml_lines
from edge.bundle import missing_wheel
from edge.scan import ScanError, ScanTarget, TableScan, parse_range, parse_target, report_lines
from protocols.opcua_paths import Segment, parse_path


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [("modbus://10.0.0.9:1502", "10.0.0.9", 1502), ("modbus://plc.local", "plc.local", 502),
     ("modbus://[::1]:502/", "::1", 502)],
)
def test_targets(text: str, host: str, port: int) -> None:
    assert parse_target(text) == ScanTarget(host, port)


@pytest.mark.parametrize("text", ["10.0.0.9:502", "modbus://", "modbus://h:0", "modbus://h:1/x", "tcp://h:502"])
def test_bad_targets(text: str) -> None:
    with pytest.raises(ScanError):
        parse_target(text)


def test_ranges() -> None:
    assert parse_range("0-199") == (0, 199)
    assert parse_range(" 40 - 41 ") == (40, 41)
    assert parse_range("7") == (7, 7)
    assert parse_range("0-65535") == (0, 65535)
    for bad in ("", "-5", "5-", "1-2-3", "65536", "9-8", "x"):
        with pytest.raises(ScanError):
            parse_range(bad)


def test_refused_ranges_merge_neighbours_with_the_same_reason() -> None:
    scan = TableScan("holding", 3)
    scan.refused = [(20, 24, "exception 2"), (10, 10, "exception 2"), (25, 39, "exception 2"), (40, 40, "exception 4")]
    assert scan.refused_ranges() == [(10, 10, "exception 2"), (20, 39, "exception 2"), (40, 40, "exception 4")]


def test_report_pairs_cover_a_value_in_either_register() -> None:
    scan = TableScan("holding", 3, values={0: 0, 1: 5, 2: 0, 3: 0, 9: 3})
    lines = report_lines(ScanTarget("h", 502), 1, 0, 9, [scan])
    text = "\n".join(lines)
    assert "0-1 " in text and "1-2 " in text  # 5 as the low word (ABCD) and as the high word (CDAB)
    assert "9-10" not in text  # register 10 was not read
    assert "2-3 " not in text  # both zero


def _node(segments: tuple[tuple[int, str], ...], cls: str, parent: int | None) -> BrowsedNode:
    return BrowsedNode(segments, f"ns=2;s={'.'.join(n for _, n in segments)}", cls, len(segments), parent,
                       data_type="UInt32" if cls == "Variable" else "", access="read", value="1")


def _result() -> BrowseResult:
    result = BrowseResult("opc.tcp://h:4840", ["http://opcfoundation.org/UA/", "urn:s", "urn:plc", "urn:other"])
    result.nodes = [
        _node(((2, "Plant"),), "Object", None),
        _node(((2, "Plant"), (2, "Good")), "Variable", 0),
        _node(((2, "Plant"), (3, "Good")), "Variable", 0),
        _node(((2, "Plant"), (2, "Sub")), "Object", 0),
        _node(((2, "Plant"), (2, "Sub"), (2, "Ratio 1:2/3")), "Variable", 3),
        _node(((2, "Other"),), "Object", None),
    ]
    result.default_ns = 2
    return result


def test_select_keeps_matches_and_their_folders() -> None:
    result = _result()
    assert [n.path(2) for n in select(result, "Ratio*")] == ["Objects/Plant", "Objects/Plant/Sub",
                                                            "Objects/Plant/Sub/Ratio 1&:2&/3"]
    assert [n.path(2) for n in select(result, "Objects/Plant/*Good")] == [
        "Objects/Plant", "Objects/Plant/Good", "Objects/Plant/3:Good"]
    assert select(result, "Nothing") == []
    assert len(select(result, None)) == 6


def test_toml_entries_parse_and_names_are_unique() -> None:
    result = _result()
    doc = tomllib.loads("\n".join(toml_lines(result, result.nodes)))
    tags = doc["tags"]
    paths = [t["path"] for t in tags]
    assert paths == ["Objects/Plant/Good", "Objects/Plant/3:Good", "Objects/Plant/Sub/Ratio 1&:2&/3"]
    assert parse_path(paths[2]).segments[-1] == Segment("Ratio 1:2/3")  # escaped as tags take it
    assert parse_path(paths[1]).segments[-1] == Segment("Good", 3)
    assert len({t["name"] for t in tags}) == 3
    assert all(set(t) == {"name", "path"} for t in tags)


def test_missing_wheel_is_read_from_pips_output() -> None:
    out = ("ERROR: Could not find a version that satisfies the requirement orjson<4,>=3.10 (from versions: none)\n"
           "ERROR: No matching distribution found for orjson<4,>=3.10\n")
    assert missing_wheel(out) == "orjson<4,>=3.10"
    assert missing_wheel("ERROR: something else") is None
