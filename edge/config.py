"""Edge agent settings: ``edge.toml`` plus ``SFSYNC_EDGE_*`` environment overrides.

Loaded once in ``main`` (never at import time) with :func:`load_edge_settings`. Unknown
keys are refused, and so is a machine that names a tag no source defines: a typo in a tag
name must stop the agent at start, not silently count nothing for a shift.

PLC codes (``states``, ``reasons``, ``reason_map``) are TOML keys, hence strings; they are
normalised so ``"01"``, ``1`` and ``1.0`` from the PLC all match the key ``"1"``. A reason code
nobody mapped is still visible: a numeric one as ``UNMAPPED_<code>``, a text one (``"BURR"``)
as itself, normalised (:func:`reason_name`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from protocols.config import SourceConfig
from shared.config import ConfigError, StrictModel, listen_socket, load_config
from shared.contract import ID_PATTERN, MACHINE_PATTERN, MachineState

__all__ = [
    "ENV_PREFIX",
    "CounterConfig",
    "ScrapConfig",
    "StateConfig",
    "MachineConfig",
    "OutboxConfig",
    "TlsConfig",
    "MqttConfig",
    "StatusConfig",
    "EdgeSettings",
    "DEFAULT_STATES",
    "RestartIndicatorConfig",
    "normalize_code",
    "reason_name",
    "load_edge_settings",
    "check_files",
    "check_status_port",
]

ENV_PREFIX = "SFSYNC_EDGE_"

DEFAULT_STATES: dict[str, MachineState] = {
    "1": "running",
    "2": "idle",
    "3": "down",
    "4": "setup",
    "5": "planned_stop",
}

REASON_PATTERN = r"^[A-Za-z0-9_.:-]+$"
Reason = Annotated[str, Field(min_length=1, max_length=64, pattern=REASON_PATTERN)]
_REASON_RE = re.compile(REASON_PATTERN)
UNMAPPED = "UNMAPPED"


def normalize_code(value: object) -> str | None:
    """A PLC code as a map key: integral numbers as decimal text, strings stripped; else None."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            return str(int(text))
        except ValueError:
            return text
    return None


def reason_name(code: str | None, mapping: dict[str, str]) -> str | None:
    """The reason an event carries for a normalised PLC reason code (``None``: no code).

    Mapped codes take their name. An unmapped numeric code is ``UNMAPPED_<code>`` (visible,
    mappable later). An unmapped text code passes through as the PLC sent it, stripped, inner
    whitespace as ``_``, when it is a valid reason (at most 64 of ``A-Z a-z 0-9 _ . : -``);
    otherwise ``UNMAPPED``.
    """
    if code is None:
        return None
    if code in mapping:
        return mapping[code]
    if code.lstrip("-").isdigit():
        return f"{UNMAPPED}_{code}"[:64]
    text = "_".join(code.split())
    return text if len(text) <= 64 and _REASON_RE.match(text) else UNMAPPED


def _normalize_keys(raw: dict[str, Any], what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        code = normalize_code(key)
        if code is None:
            raise ValueError(f"{what}: {key!r} is not a PLC code")
        if code in out:
            raise ValueError(f"{what}: code {key!r} is given twice")
        out[code] = value
    return out


class CounterConfig(StrictModel):
    """A cumulative PLC counter: ``max`` (or ``width`` in bits), the largest plausible delta,
    and the fastest it can count (``max_rate_per_s``: units per second at the machine's top
    speed; it decides whether a drop is a rollover, a reset or suspect)."""

    tag: str = Field(min_length=1)
    max: int | None = Field(default=None, ge=1, le=2**64 - 1)
    width: int | None = Field(default=None, ge=1, le=64)
    sanity: int = Field(default=1000, ge=1, le=2**63 - 1)
    max_rate_per_s: float | None = Field(default=None, gt=0, le=1_000_000)

    @model_validator(mode="after")
    def _one_range(self) -> CounterConfig:
        if (self.max is None) == (self.width is None):
            raise ValueError(f"counter {self.tag!r}: give exactly one of max or width (bits)")
        if self.sanity > self.max_value:
            raise ValueError(f"counter {self.tag!r}: sanity {self.sanity} exceeds the counter max")
        return self

    @property
    def max_value(self) -> int:
        """Highest value the counter shows before it wraps to 0."""
        if self.max is not None:
            return self.max
        assert self.width is not None
        return (1 << self.width) - 1


class ScrapConfig(CounterConfig):
    """A scrap counter with a fixed ``reason``, or a ``reason_tag`` mapped by ``reason_map``.

    ``reason_wait_ms``: a count whose reason tag did not change with it (nor since the last
    count) waits at most this long for a new reason value, then goes out with the current one.
    """

    reason: Reason | None = None
    reason_tag: str | None = None
    reason_map: dict[str, Reason] = Field(default_factory=dict)
    reason_wait_ms: int = Field(default=200, ge=0, le=60_000)

    @field_validator("reason_map", mode="before")
    @classmethod
    def _codes(cls, value: Any) -> Any:
        return _normalize_keys(value, "reason_map") if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _one_reason_source(self) -> ScrapConfig:
        if (self.reason is None) == (self.reason_tag is None):
            raise ValueError(f"scrap {self.tag!r}: give exactly one of reason or reason_tag")
        if self.reason is not None and self.reason_map:
            raise ValueError(f"scrap {self.tag!r}: reason_map needs reason_tag, not reason")
        return self


class StateConfig(StrictModel):
    """A machine state tag: PLC code -> state, optional reason tag, optional debounce."""

    tag: str = Field(min_length=1)
    states: dict[str, MachineState] = Field(default_factory=lambda: dict(DEFAULT_STATES))
    reason_tag: str | None = None
    reasons: dict[str, Reason] = Field(default_factory=dict)
    debounce_ms: int = Field(default=0, ge=0, le=600_000)

    @field_validator("states", "reasons", mode="before")
    @classmethod
    def _codes(cls, value: Any) -> Any:
        return _normalize_keys(value, "codes") if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _reasons_need_tag(self) -> StateConfig:
        if self.reasons and self.reason_tag is None:
            raise ValueError(f"state {self.tag!r}: reasons need reason_tag")
        return self


class MachineConfig(StrictModel):
    """One machine: its good counter, scrap counters and state tag (at least one of them)."""

    id: str = Field(pattern=MACHINE_PATTERN)
    good: CounterConfig | None = None
    scrap: list[ScrapConfig] = Field(default_factory=list)
    state: StateConfig | None = None

    @model_validator(mode="after")
    def _something(self) -> MachineConfig:
        if self.good is None and not self.scrap and self.state is None:
            raise ValueError(f"machine {self.id!r} has no good, scrap or state tag")
        return self

    def tags(self) -> list[str]:
        """Every tag this machine reads."""
        names = [self.good.tag] if self.good else []
        for s in self.scrap:
            names += [s.tag] + ([s.reason_tag] if s.reason_tag else [])
        if self.state is not None:
            names += [self.state.tag] + ([self.state.reason_tag] if self.state.reason_tag else [])
        return names


class RestartIndicatorConfig(StrictModel):
    """A tag of a source that tells when the PLC restarted, so a counter drop is a certain reset.

    ``kind``: ``boot_count`` — a number the PLC changes at each start (any change = restart);
    ``uptime`` — time since the PLC started, any unit (a decrease = restart); ``first_scan`` —
    a bit the PLC sets at start and clears later (a 0 -> 1 change = restart; it must stay set
    longer than the poll/sampling interval to be seen).
    """

    source: str = Field(min_length=1)
    tag: str = Field(min_length=1)
    kind: Literal["boot_count", "uptime", "first_scan"]


class OutboxConfig(StrictModel):
    """The SQLite outbox and its size budget (past it: alarm, never drop)."""

    path: Path = Path("/var/lib/sfsync/edge-outbox.db")
    max_rows: int = Field(default=5_000_000, ge=1)
    max_bytes: int = Field(default=2 * 1024**3, ge=1)
    commit_window_ms: int = Field(default=50, ge=0, le=10_000)
    batch_max_events: int = Field(default=500, ge=1, le=1000)


class TlsConfig(StrictModel):
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    insecure: bool = False

    @model_validator(mode="after")
    def _pair(self) -> TlsConfig:
        if (self.cert is None) != (self.key is None):
            raise ValueError("tls: cert and key go together")
        return self


class MqttConfig(StrictModel):
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    client_id: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    tls: TlsConfig | None = None
    keepalive: int = Field(default=30, ge=5, le=3600)
    max_inflight: int = Field(default=20, ge=1, le=1000)
    max_unacked_events: int = Field(default=50_000, ge=1)
    resend_timeout_s: float = Field(default=30.0, gt=0, le=86_400)
    reconnect_min_s: float = Field(default=1.0, gt=0, le=3600, allow_inf_nan=False)
    #: cap of the doubling reconnect back-off: a broker that comes back is used within about this
    #: long, however long it was away (central's ``mqtt.reconnect_max_s`` is the same key)
    reconnect_max_s: float = Field(default=2.0, gt=0, le=3600, allow_inf_nan=False)
    protocol: Literal["3.1.1", "5"] = "3.1.1"
    session_expiry_s: int = Field(default=7 * 86_400, ge=0, le=2**32 - 1)
    #: the retained status (online, backlog) is published again every this many seconds while
    #: connected, not only at connect (0: only at connect)
    status_interval_s: float = Field(default=60.0, ge=0, le=86_400, allow_inf_nan=False)
    #: include ``oldest_unacked_ts`` in the status; false for a central older than the field
    status_oldest_unacked: bool = True

    @model_validator(mode="after")
    def _backoff(self) -> MqttConfig:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError(
                f"reconnect_max_s ({self.reconnect_max_s:g}) must be >= reconnect_min_s ({self.reconnect_min_s:g})"
            )
        return self


class StatusConfig(StrictModel):
    """The HTTP status endpoint: ``port = 0`` picks a free port (logged); ``enabled = false`` turns it off."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=9180, ge=0, le=65535)


class EdgeSettings(StrictModel):
    """Everything ``sfsync edge run`` needs."""

    plant: str = Field(pattern=ID_PATTERN)
    edge: str = Field(pattern=ID_PATTERN)
    outbox: OutboxConfig = Field(default_factory=OutboxConfig)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    status: StatusConfig = Field(default_factory=StatusConfig)
    sources: list[SourceConfig] = Field(default_factory=list)
    machines: list[MachineConfig] = Field(default_factory=list)
    restart_indicators: list[RestartIndicatorConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> EdgeSettings:
        known: dict[str, str] = {}
        for source in self.sources:
            for defined in source.tags:
                if defined.name in known:
                    first = known[defined.name]
                    raise ValueError(f"tag {defined.name!r} is in sources {first!r} and {source.name!r}")
                known[defined.name] = source.name
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            raise ValueError("source names repeat")
        ids = [m.id for m in self.machines]
        if len(set(ids)) != len(ids):
            raise ValueError("machine ids repeat")
        exclusive: dict[str, str] = {}
        for machine in self.machines:
            for tag in machine.tags():
                if tag not in known:
                    raise ValueError(f"machine {machine.id!r}: tag {tag!r} is not defined by any source")
            counted = [c.tag for c in ([machine.good] if machine.good else []) + list(machine.scrap)]
            counted += [machine.state.tag] if machine.state else []
            for tag in counted:
                if tag in exclusive:
                    raise ValueError(
                        f"tag {tag!r} is used twice as a counter/state tag ({exclusive[tag]}, {machine.id})"
                    )
                exclusive[tag] = machine.id
        self._check_restart_indicators(known)
        return self

    def _check_restart_indicators(self, known: dict[str, str]) -> None:
        names = {s.name for s in self.sources}
        seen: set[str] = set()
        for ind in self.restart_indicators:
            if ind.source not in names:
                raise ValueError(f"restart_indicators: source {ind.source!r} is not defined")
            if known.get(ind.tag) != ind.source:
                raise ValueError(f"restart_indicators: tag {ind.tag!r} is not a tag of source {ind.source!r}")
            if ind.tag in exclusive_tags(self.machines):
                raise ValueError(f"restart_indicators: tag {ind.tag!r} is also a counter or state tag")
            if ind.source in seen:
                raise ValueError(f"restart_indicators: source {ind.source!r} has two restart indicators")
            seen.add(ind.source)

    def source_tags(self, source: str) -> list[str]:
        """The tag names a source defines."""
        return [t.name for s in self.sources if s.name == source for t in s.tags]

    @property
    def client_id(self) -> str:
        return self.mqtt.client_id or f"sfsync-edge-{self.plant}-{self.edge}"

    @property
    def username(self) -> str:
        """Always a username: amqtt keeps persistent sessions only for clients that send one."""
        return self.mqtt.username or self.edge


def check_files(settings: EdgeSettings, source: str) -> None:
    """Files ``edge run`` opens at start (TLS CA, client certificate and key) exist: a missing
    one is a ConfigError naming its key, not a TLS traceback after the outbox is opened."""
    tls = settings.mqtt.tls
    if tls is None:
        return
    for name in ("ca", "cert", "key"):
        path: Path | None = getattr(tls, name)
        if path is not None and not path.is_file():
            raise ConfigError(source, f"mqtt.tls.{name}", f"no such file: {path}")


def exclusive_tags(machines: list[MachineConfig]) -> set[str]:
    """Counter and state tags of the machines (each used once)."""
    out: set[str] = set()
    for m in machines:
        out |= {c.tag for c in ([m.good] if m.good else []) + list(m.scrap)}
        out |= {m.state.tag} if m.state else set()
    return out


def check_status_port(settings: EdgeSettings, source: str) -> None:
    """The status endpoint's host resolves and its port is free (bound and released), so
    ``edge run`` stops with the key instead of a traceback after opening the outbox."""
    if settings.status.enabled:
        listen_socket(settings.status.host, settings.status.port, source, "status", listen=False).close()


def load_edge_settings(path: str | Path | None, environ: dict[str, str] | None = None) -> EdgeSettings:
    """Load and validate; :class:`ConfigError` names the file, key and reason."""
    settings = load_config(EdgeSettings, path, ENV_PREFIX, environ)
    if not settings.machines:
        raise ConfigError(str(path) if path else "defaults", "machines", "no machine configured")
    return settings
