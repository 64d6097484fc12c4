"""OPC UA browse paths: parsing, and the tag config that takes ``node`` or ``path``."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from protocols.config import OpcUaSourceConfig, SourceConfig
from protocols.opcua_paths import BrowsePath, Segment, parse_path


@pytest.mark.parametrize(
    ("text", "folder", "segments"),
    [
        (
            "Objects/Plant/Line1/Press7/Counters/Good",
            "Objects",
            [Segment("Plant"), Segment("Line1"), Segment("Press7"), Segment("Counters"), Segment("Good")],
        ),
        ("Objects/2:Plant/Line1", "Objects", [Segment("Plant", 2), Segment("Line1")]),
        ("0:Objects/0:Server/0:ServerStatus", "Objects", [Segment("Server", 0), Segment("ServerStatus", 0)]),
        ("Root/Objects/Plant", "Objects", [Segment("Plant")]),
        ("/Root/Objects/Plant", "Objects", [Segment("Plant")]),
        ("  Objects/Plant  ", "Objects", [Segment("Plant")]),
        ("Types/ObjectTypes", "Types", [Segment("ObjectTypes")]),
        ("Objects/Press 7/Good Parts", "Objects", [Segment("Press 7"), Segment("Good Parts")]),
        ("Objects/In&/Out/Ratio 1&:2/A&&B", "Objects", [Segment("In/Out"), Segment("Ratio 1:2"), Segment("A&B")]),
        ("Objects/3:A:B", "Objects", [Segment("A:B", 3)]),  # only the first ':' ends the prefix
        ("Objects/65535:Top", "Objects", [Segment("Top", 65535)]),
    ],
)
def test_parse_path(text: str, folder: str, segments: list[Segment]) -> None:
    assert parse_path(text) == BrowsePath(folder, tuple(segments))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("/", "is empty"),
        ("Objects", "names the Objects folder itself"),
        ("Plant/Line1/Good", "must start at a standard folder"),
        ("2:Objects/Plant", "in namespace 0, not 2"),
        ("Objects//Good", "empty segment at segment 2"),
        ("Objects/Plant/", "empty segment at its end"),
        ("Objects/ /Good", "empty segment at segment 2"),
        ("Objects/x:Plant", "bad namespace prefix 'x'"),
        ("Objects/-1:Plant", "bad namespace prefix '-1'"),
        ("Objects/Line:1", "bad namespace prefix 'Line'"),
        ("Objects/\uff12:Plant", "bad namespace prefix"),  # a fullwidth digit is not an index
        ("Objects/2:", "has a namespace index but no name"),
        ("Objects/65536:Plant", "namespace index 65536 is above 65535"),
        ("Objects/Plant&", "lone '&'"),
    ],
)
def test_parse_path_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        parse_path(text)
    assert repr(text) in str(info.value) or text.strip() == ""  # the message quotes the path


def test_path_text_round_trips_with_escapes() -> None:
    text = "Objects/2:Plant/In&/Out/Ratio 1&:2/A&&B"
    path = parse_path(text)
    assert str(path) == text
    assert parse_path(str(path)) == path
    assert path.prefix(0) == "Objects" and path.prefix(2) == "Objects/2:Plant/In&/Out"


# ------------------------------------------------------------------ config: node or path


def _source(*tags: dict[str, Any]) -> OpcUaSourceConfig:
    return OpcUaSourceConfig.model_validate(
        {"name": "press-1", "endpoint": "opc.tcp://h:4840", "namespace_uri": "urn:p", "tags": list(tags)}
    )


def _error(*tags: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        TypeAdapter(SourceConfig).validate_python(
            {"name": "press-1", "protocol": "opcua", "endpoint": "opc.tcp://h", "tags": list(tags)}
        )
    return str(info.value)


def test_tag_by_path_or_by_node() -> None:
    src = _source(
        {"name": "good", "path": " Objects/Plant/Line1/Press7/Counters/Good "},
        {"name": "state", "node": "s=Machine.State"},
    )
    good, state = src.tags
    assert good.node is None and good.path == "Objects/Plant/Line1/Press7/Counters/Good"
    assert good.browse_path == parse_path("Objects/Plant/Line1/Press7/Counters/Good")
    assert good.where == "path Objects/Plant/Line1/Press7/Counters/Good"
    assert state.path is None and state.browse_path is None and state.where == "s=Machine.State"
    with pytest.raises(ValueError, match="'good' is given by path"):
        src.node_ref(good)


def test_tag_needs_node_or_path() -> None:
    text = _error({"name": "cnt"})
    assert "tag 'cnt'" in text and "give node" in text and "or path" in text


def test_tag_with_node_and_path_is_refused() -> None:
    text = _error({"name": "cnt", "node": "s=Counters.Good", "path": "Objects/Plant/Good"})
    assert "tag 'cnt': give node or path, not both" in text


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("Objects/x:Plant/Good", "bad namespace prefix 'x'"),
        ("Plant/Good", "must start at a standard folder"),
        ("Objects//Good", "empty segment"),
    ],
)
def test_bad_path_names_the_tag(path: str, message: str) -> None:
    text = _error({"name": "cnt", "path": path})
    assert "tag 'cnt'" in text and message in text


def test_path_must_be_text() -> None:
    assert "valid string" in _error({"name": "cnt", "path": 5})
