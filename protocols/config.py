"""Source and tag configuration for the PLC adapters (pydantic, unknown keys rejected).

A source is one PLC connection; ``protocol`` picks the model::

    [[sources]]
    name = "press-1"
    protocol = "opcua"
    endpoint = "opc.tcp://10.0.0.5:4840"
    namespace_uri = "urn:press:plc"
    tags = [
        { name = "good_count", node = "s=Counters.Good" },
        { name = "scrap_count", path = "Objects/Plant/Line1/Press7/Counters/Scrap" },
    ]

    [[sources]]
    name = "saw-2"
    protocol = "modbus"
    host = "10.0.0.9"
    tags = [{ name = "count", address = 100, type = "u32", word_order = "little" }]

Errors name the tag (``tag 'count': ...``) so a plant engineer can find the line.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from protocols.modbus_codec import VALUE_TYPES, Order, ValueType, register_count
from protocols.opcua_paths import BrowsePath, parse_path
from shared.config import StrictModel

__all__ = [
    "NodeRef",
    "parse_node",
    "OpcUaTagConfig",
    "OpcUaSourceConfig",
    "ModbusTagConfig",
    "ModbusSourceConfig",
    "SourceConfig",
    "ModbusFunction",
    "MAX_REGISTERS_PER_READ",
    "MAX_BITS_PER_READ",
]

MAX_REGISTERS_PER_READ = 125  # Modbus spec limit for read holding/input registers
MAX_BITS_PER_READ = 2000  # Modbus spec limit for read coils/discrete inputs

ModbusFunction = Literal["holding", "input", "coil", "discrete"]
SecurityMode = Literal["None", "Sign", "SignAndEncrypt"]
SecurityPolicy = Literal[
    "Basic128Rsa15", "Basic256", "Basic256Sha256", "Aes128Sha256RsaOaep", "Aes256Sha256RsaPss"
]

_NAME = r"^[A-Za-z0-9_.:-]+$"
_NODE_RE = re.compile(
    r"^(?:ns=(?P<ns>\d+);|nsu=(?P<nsu>[^;]+(?:;[^;]+)*?);)?(?P<ident>[isgb]=.+)$",
    re.DOTALL,
)


# --------------------------------------------------------------------------- OPC UA


@dataclass(frozen=True, slots=True)
class NodeRef:
    """A parsed node id: namespace by index *or* by URI (or neither), plus ``i=/s=/g=/b=``."""

    identifier: str
    namespace_index: int | None = None
    namespace_uri: str | None = None


def parse_node(text: str) -> NodeRef:
    """Parse ``ns=2;s=X``, ``nsu=urn:plc;s=X`` or a bare ``s=X`` / ``i=85``."""
    m = _NODE_RE.match(text.strip())
    if m is None:
        raise ValueError(
            f"node {text!r} is not an OPC UA node id: expected 'ns=<index>;s=<name>', "
            "'nsu=<namespace uri>;s=<name>' or 's=<name>' (also i=, g=, b=)"
        )
    ns = m.group("ns")
    return NodeRef(
        identifier=m.group("ident"),
        namespace_index=int(ns) if ns is not None else None,
        namespace_uri=m.group("nsu"),
    )


class OpcUaTagConfig(StrictModel):
    """One OPC UA tag: a name used in events, and the node to subscribe to.

    The node is given either by ``node`` (a node id) or by ``path`` (browse names from
    ``Objects`` down, see :mod:`protocols.opcua_paths`), exactly one of the two.
    ``node`` without ``ns=``/``nsu=`` and path segments without ``<index>:`` use the
    source's ``namespace_uri`` (or namespace 0 when that is unset). URIs and paths are
    resolved at every (re)connect, so a server that reorders its namespaces or renumbers
    its nodes after a restart keeps working.
    """

    name: str = Field(min_length=1, pattern=_NAME)
    node: str | None = None
    path: str | None = None

    @field_validator("node")
    @classmethod
    def _node_is_valid(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None:
            return None
        try:
            parse_node(v)
        except ValueError as exc:
            raise ValueError(f"tag {info.data.get('name', '?')!r}: {exc}") from None
        return v.strip()

    @field_validator("path")
    @classmethod
    def _path_is_valid(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None:
            return None
        try:
            parse_path(v)
        except ValueError as exc:
            raise ValueError(f"tag {info.data.get('name', '?')!r}: {exc}") from None
        return v.strip()

    @model_validator(mode="after")
    def _node_or_path(self) -> OpcUaTagConfig:
        if self.node is None and self.path is None:
            raise ValueError(
                f"tag {self.name!r}: give node (a node id, e.g. 's=Counters.Good') "
                "or path (browse names, e.g. 'Objects/Plant/Line1/Press7/Counters/Good')"
            )
        if self.node is not None and self.path is not None:
            raise ValueError(f"tag {self.name!r}: give node or path, not both")
        return self

    @property
    def browse_path(self) -> BrowsePath | None:
        """The parsed ``path``, ``None`` for a tag given by ``node``."""
        return None if self.path is None else parse_path(self.path)

    @property
    def where(self) -> str:
        """The node as configured (node id or path), for messages."""
        return self.node if self.node is not None else f"path {self.path}"


class OpcUaSourceConfig(StrictModel):
    """One OPC UA server (PLC) and the tags subscribed on it."""

    name: str = Field(min_length=1, pattern=_NAME)
    protocol: Literal["opcua"] = "opcua"
    endpoint: str = Field(pattern=r"^opc\.tcp://[^/:]+(:\d+)?(/.*)?$")
    namespace_uri: str | None = None

    security_mode: SecurityMode = "None"
    security_policy: SecurityPolicy | None = None
    certificate: str | None = None
    private_key: str | None = None
    private_key_password: SecretStr | None = None
    server_certificate: str | None = None
    username: str | None = None
    password: SecretStr | None = None

    publishing_interval_ms: int = Field(default=250, ge=10, le=3_600_000)
    sampling_interval_ms: int = Field(default=0, ge=0, le=3_600_000)
    queue_size: int = Field(default=1000, ge=1, le=100_000)
    session_timeout_ms: int = Field(default=60_000, ge=1000, le=3_600_000)
    request_timeout_s: float = Field(default=4.0, gt=0, le=600)
    watchdog_interval_s: float = Field(default=1.0, gt=0, le=600)
    reconnect_min_s: float = Field(default=0.5, gt=0, le=3600)
    reconnect_max_s: float = Field(default=30.0, gt=0, le=3600)
    #: every this many seconds all subscribed nodes are read once to catch changes the
    #: subscription did not report (0 disables the verification read)
    verify_interval_s: float = Field(default=10.0, ge=0, le=86_400)
    #: how long a difference found by the verification read may stay in flight on the
    #: subscription before it counts as missed (at least twice the publishing interval)
    verify_grace_s: float = Field(default=2.0, gt=0, le=600)

    tags: list[OpcUaTagConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> OpcUaSourceConfig:
        _unique_tag_names(self.name, [t.name for t in self.tags])
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be >= reconnect_min_s")
        if self.security_mode != "None":
            missing = [
                key for key in ("security_policy", "certificate", "private_key") if getattr(self, key) is None
            ]
            if missing:
                raise ValueError(f"security_mode {self.security_mode} needs {', '.join(missing)}")
        elif self.security_policy is not None:
            raise ValueError("security_policy is set but security_mode is None")
        if self.password is not None and self.username is None:
            raise ValueError("password is set without username")
        return self

    def node_ref(self, tag: OpcUaTagConfig) -> NodeRef:
        """The tag's node id with the source's default namespace URI applied (a ``node`` tag)."""
        if tag.node is None:
            raise ValueError(f"tag {tag.name!r} is given by path, not by node id")
        ref = parse_node(tag.node)
        if ref.namespace_index is None and ref.namespace_uri is None and self.namespace_uri:
            return NodeRef(identifier=ref.identifier, namespace_uri=self.namespace_uri)
        return ref


# --------------------------------------------------------------------------- Modbus


class ModbusTagConfig(StrictModel):
    """One Modbus tag: where it lives, how its registers decode, how to scale it.

    ``unit`` overrides the source's device id for this tag (gateways with several slaves).
    ``timestamp_tag`` names a ``u64`` tag of the same source holding milliseconds since
    the Unix epoch (UTC); it is read in the same poll and becomes this tag's source time.
    """

    name: str = Field(min_length=1, pattern=_NAME)
    function: ModbusFunction = "holding"
    address: int = Field(ge=0, le=65535)
    type: ValueType = "u16"
    length: int | None = Field(default=None, ge=1, le=MAX_REGISTERS_PER_READ)
    bit: int | None = Field(default=None, ge=0, le=15)
    byte_order: Order = "big"
    word_order: Order = "big"
    string_encoding: str = "utf-8"
    scale: float = 1.0
    offset: float = 0.0
    unit: int | None = Field(default=None, ge=0, le=255)
    timestamp_tag: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_type(cls, data: Any) -> Any:
        # a coil or discrete input is a bool unless the user says otherwise
        if isinstance(data, dict) and "type" not in data and data.get("function") in ("coil", "discrete"):
            return {**data, "type": "bool"}
        return data

    @field_validator("type", mode="before")
    @classmethod
    def _known_type(cls, v: Any, info: ValidationInfo) -> Any:
        if v not in VALUE_TYPES:
            name = info.data.get("name", "?")
            raise ValueError(f"tag {name!r}: unknown type {v!r}; expected one of {', '.join(VALUE_TYPES)}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> ModbusTagConfig:
        problem = self._problem()
        if problem:
            raise ValueError(f"tag {self.name!r}: {problem}")
        return self

    def _problem(self) -> str:
        bits = self.function in ("coil", "discrete")
        if bits and self.type != "bool":
            return f"function {self.function} reads single bits; type must be bool, not {self.type}"
        if self.type == "bool" and not bits and self.bit is None:
            return f"type bool on {self.function} registers needs bit (0..15)"
        if self.bit is not None and self.type != "bool":
            return "bit is only for type bool"
        if bits and self.bit is not None:
            return f"bit is only for holding/input registers, not {self.function}"
        if self.type == "string":
            if self.length is None:
                return "type string needs length (number of registers, 2 characters each)"
            try:
                codecs.lookup(self.string_encoding)
            except LookupError:
                return f"unknown string_encoding {self.string_encoding!r}"
        elif self.length is not None:
            return "length is only for type string"
        if self.type in ("bool", "string") and (self.scale != 1 or self.offset != 0):
            return f"scale/offset do not apply to type {self.type}"
        if self.address + self.count - 1 > 65535:
            return "address + size runs past 65535"
        if self.timestamp_tag == self.name:
            return "timestamp_tag cannot be the tag itself"
        return ""

    @property
    def count(self) -> int:
        """Registers (or bits) this tag occupies."""
        return register_count(self.type, self.length)


class ModbusSourceConfig(StrictModel):
    """One Modbus TCP device (or gateway) polled at a fixed interval."""

    name: str = Field(min_length=1, pattern=_NAME)
    protocol: Literal["modbus"] = "modbus"
    host: str = Field(min_length=1)
    port: int = Field(default=502, ge=1, le=65535)
    unit: int = Field(default=1, ge=0, le=255)
    poll_interval_ms: int = Field(default=1000, ge=10, le=3_600_000)
    timeout_s: float = Field(default=3.0, gt=0, le=600)
    retries: int = Field(default=1, ge=0, le=10)
    reconnect_min_s: float = Field(default=0.5, gt=0, le=3600)
    reconnect_max_s: float = Field(default=30.0, gt=0, le=3600)
    max_gap: int = Field(default=16, ge=0, le=MAX_REGISTERS_PER_READ)
    max_registers_per_read: int = Field(default=MAX_REGISTERS_PER_READ, ge=1, le=MAX_REGISTERS_PER_READ)
    max_bits_per_read: int = Field(default=MAX_BITS_PER_READ, ge=1, le=MAX_BITS_PER_READ)

    tags: list[ModbusTagConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> ModbusSourceConfig:
        _unique_tag_names(self.name, [t.name for t in self.tags])
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be >= reconnect_min_s")
        by_name = {t.name: t for t in self.tags}
        for tag in self.tags:
            limit = (
                self.max_bits_per_read
                if tag.function in ("coil", "discrete")
                else self.max_registers_per_read
            )
            if tag.count > limit:
                raise ValueError(f"tag {tag.name!r}: {tag.count} registers exceed one read ({limit})")
            if tag.timestamp_tag is None:
                continue
            ts = by_name.get(tag.timestamp_tag)
            if ts is None:
                raise ValueError(
                    f"tag {tag.name!r}: timestamp_tag {tag.timestamp_tag!r} is not a tag of this source"
                )
            if ts.type != "u64" or ts.scale != 1 or ts.offset != 0:
                raise ValueError(
                    f"tag {tag.name!r}: timestamp_tag {ts.name!r} must be an unscaled u64 (ms since epoch)"
                )
        return self

    def device_id(self, tag: ModbusTagConfig) -> int:
        return self.unit if tag.unit is None else tag.unit


def _unique_tag_names(source: str, names: list[str]) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise ValueError(f"source {source!r}: tag name {n!r} is used twice")
        seen.add(n)


SourceConfig = Annotated[OpcUaSourceConfig | ModbusSourceConfig, Field(discriminator="protocol")]
