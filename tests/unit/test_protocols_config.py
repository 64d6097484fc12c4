"""Source/tag config models: defaults, discriminated union, errors that name the tag."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from protocols.config import (
    ModbusSourceConfig,
    NodeRef,
    OpcUaSourceConfig,
    SourceConfig,
    parse_node,
)

SOURCES: TypeAdapter[Any] = TypeAdapter(list[SourceConfig])


def modbus(**tags: Any) -> dict[str, Any]:
    return {"name": "m1", "protocol": "modbus", "host": "127.0.0.1", "tags": [tags]}


def error_text(data: Any) -> str:
    with pytest.raises(ValidationError) as info:
        SOURCES.validate_python([data])
    return str(info.value)


def test_discriminated_union_picks_the_model() -> None:
    opc, mb = SOURCES.validate_python(
        [
            {"name": "press", "protocol": "opcua", "endpoint": "opc.tcp://10.0.0.5:4840", "tags": []},
            {"name": "saw", "protocol": "modbus", "host": "10.0.0.9"},
        ]
    )
    assert isinstance(opc, OpcUaSourceConfig)
    assert opc.queue_size >= 1000
    assert opc.security_mode == "None"
    assert isinstance(mb, ModbusSourceConfig)
    assert (mb.port, mb.unit) == (502, 1)


def test_unknown_keys_are_rejected() -> None:
    assert "extra" in error_text({"name": "x", "protocol": "modbus", "host": "h", "colour": "red"}).lower()
    assert "protocol" in error_text({"name": "x", "protocol": "profinet", "host": "h"})


def test_unknown_type_names_the_tag() -> None:
    text = error_text(modbus(name="spindle_speed", address=3, type="float"))
    assert "tag 'spindle_speed'" in text
    assert "unknown type 'float'" in text


@pytest.mark.parametrize(
    ("tag", "message"),
    [
        ({"type": "bool"}, "needs bit"),
        ({"function": "coil", "type": "u16"}, "type must be bool"),
        ({"function": "coil", "bit": 3}, "bit is only for holding/input"),
        ({"type": "u16", "bit": 3}, "bit is only for type bool"),
        ({"type": "string"}, "needs length"),
        ({"type": "u32", "length": 2}, "length is only for type string"),
        ({"type": "string", "length": 2, "string_encoding": "klingon"}, "unknown string_encoding"),
        ({"type": "bool", "bit": 1, "scale": 2}, "scale/offset do not apply"),
        ({"address": 65535, "type": "u32"}, "runs past 65535"),
        ({"timestamp_tag": "t"}, "cannot be the tag itself"),
    ],
)
def test_impossible_tags_name_the_tag(tag: dict[str, Any], message: str) -> None:
    text = error_text(modbus(**{"name": "t", "address": 0, **tag}))
    assert "tag 't'" in text
    assert message in text


def test_coil_defaults_to_bool_and_bool_with_bit_is_fine() -> None:
    (src,) = SOURCES.validate_python([modbus(name="run", function="coil", address=4)])
    assert src.tags[0].type == "bool"
    (src,) = SOURCES.validate_python([modbus(name="run", address=4, type="bool", bit=15)])
    assert src.tags[0].count == 1


def test_timestamp_tag_must_exist_and_be_u64() -> None:
    base = {"name": "m1", "protocol": "modbus", "host": "h"}
    text = error_text({**base, "tags": [{"name": "c", "address": 0, "timestamp_tag": "ts"}]})
    assert "timestamp_tag 'ts' is not a tag of this source" in text
    text = error_text(
        {
            **base,
            "tags": [
                {"name": "c", "address": 0, "timestamp_tag": "ts"},
                {"name": "ts", "address": 1, "type": "u32"},
            ],
        }
    )
    assert "must be an unscaled u64" in text
    (ok,) = SOURCES.validate_python(
        [
            {
                **base,
                "tags": [
                    {"name": "c", "address": 0, "timestamp_tag": "ts"},
                    {"name": "ts", "address": 1, "type": "u64"},
                ],
            }
        ]
    )
    assert ok.tags[0].timestamp_tag == "ts"


def test_duplicate_tag_names_rejected() -> None:
    base = {"name": "m1", "protocol": "modbus", "host": "h"}
    assert "used twice" in error_text(
        {**base, "tags": [{"name": "a", "address": 0}, {"name": "a", "address": 1}]}
    )


def test_device_id_override() -> None:
    src = ModbusSourceConfig.model_validate(
        {
            "name": "gw",
            "host": "h",
            "unit": 3,
            "tags": [{"name": "a", "address": 0, "unit": 7}, {"name": "b", "address": 0}],
        }
    )
    assert [src.device_id(t) for t in src.tags] == [7, 3]


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("ns=2;s=Line1.Count", NodeRef("s=Line1.Count", 2, None)),
        ("nsu=urn:acme:plc;s=Count", NodeRef("s=Count", None, "urn:acme:plc")),
        ("nsu=http://acme.com/UA/;i=1001", NodeRef("i=1001", None, "http://acme.com/UA/")),
        ("i=2258", NodeRef("i=2258")),
        ("s=A;B", NodeRef("s=A;B")),
    ],
)
def test_parse_node(text: str, ref: NodeRef) -> None:
    assert parse_node(text) == ref


@pytest.mark.parametrize("text", ["Count", "ns=x;s=A", "ns=2;", "nsu=;s=A", "ns=2;q=1"])
def test_parse_node_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not an OPC UA node id"):
        parse_node(text)


def test_opcua_default_namespace_uri_applies_to_bare_nodes() -> None:
    src = OpcUaSourceConfig(
        name="p",
        endpoint="opc.tcp://h:4840",
        namespace_uri="urn:p",
        tags=[{"name": "a", "node": "s=A"}, {"name": "b", "node": "ns=3;s=B"}],  # type: ignore[list-item]
    )
    assert [src.node_ref(t) for t in src.tags] == [NodeRef("s=A", None, "urn:p"), NodeRef("s=B", 3, None)]


def test_opcua_bad_node_names_the_tag() -> None:
    text = error_text(
        {
            "name": "p",
            "protocol": "opcua",
            "endpoint": "opc.tcp://h",
            "tags": [{"name": "cnt", "node": "Count"}],
        }
    )
    assert "tag 'cnt'" in text


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"security_mode": "Sign"}, "needs security_policy, certificate, private_key"),
        ({"security_policy": "Basic256Sha256"}, "security_mode is None"),
        ({"password": "x"}, "without username"),
        ({"reconnect_min_s": 5, "reconnect_max_s": 1}, "reconnect_max_s"),
        ({"endpoint": "http://h:4840"}, "endpoint"),
    ],
)
def test_opcua_inconsistent_options(extra: dict[str, Any], message: str) -> None:
    data = {"name": "p", "protocol": "opcua", "endpoint": "opc.tcp://h:4840", **extra}
    assert message in error_text(data)


def test_password_is_not_printed() -> None:
    src = OpcUaSourceConfig(name="p", endpoint="opc.tcp://h:4840", username="op", password="s3cret")  # type: ignore[arg-type]
    assert "s3cret" not in repr(src)
    assert src.password is not None and src.password.get_secret_value() == "s3cret"
