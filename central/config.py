"""Settings of the central service (``central.toml`` + ``SFSYNC_CENTRAL_*`` environment).

Built once per process by :func:`load_settings` in ``main``/``bootstrap``, never at import
time. Every section forbids unknown keys, so a typo fails at start with the file, key and
reason (see :class:`shared.config.ConfigError`). ``docs/central.md`` is the reference.

What can be checked without touching anything is checked here, at load: every number in its
range (floats finite), ``database.url`` parses and names an installed driver, ``mqtt.ca_file``
exists. What needs the outside world (the database reachable, ``api.host`` resolvable, the port
free) is checked by :mod:`central.entrypoints.preflight` before anything is created.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import Field, field_validator, model_validator

from shared.config import StrictModel, load_config

__all__ = [
    "ApiSettings",
    "AuthSettings",
    "CentralSettings",
    "DatabaseSettings",
    "FaultSettings",
    "IngestSettings",
    "LedgerSettings",
    "MqttSettings",
    "ENV_PREFIX",
    "load_settings",
]

ENV_PREFIX = "SFSYNC_CENTRAL_"

log = logging.getLogger(__name__)

MAX_SECONDS = 7 * 24 * 3600.0
"""Upper bound of the ingest's durations (clock skew, gap alert): one week."""

MQTT_MAX_EXPIRY = 2**32 - 1
"""MQTT 5's session expiry is a four-byte integer (this value: never expires)."""


def check_database_url(value: str) -> None:
    """Refuse a URL SQLAlchemy cannot parse, a database other than SQLite/PostgreSQL, a missing
    driver. The message never repeats the URL (it may hold a password)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        url = make_url(value)
    except (ArgumentError, ValueError):
        raise ValueError("not a database URL: expected sqlite:///PATH or "
                         "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE") from None
    backend = url.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"unsupported database {backend!r}: use sqlite:///PATH or postgresql+psycopg://...")
    try:
        url.get_dialect().import_dbapi()
    except (NoSuchModuleError, ImportError):
        raise ValueError(f"no installed driver for {url.drivername!r}: use sqlite:///PATH or "
                         "postgresql+psycopg://...") from None
    if backend == "postgresql" and not url.database:
        raise ValueError("a PostgreSQL URL names its database: postgresql+psycopg://USER@HOST:PORT/DATABASE")


class DatabaseSettings(StrictModel):
    """SQLAlchemy URL: SQLite (WAL) by default, PostgreSQL via ``postgresql+psycopg://``."""

    url: str = "sqlite:///central.db"
    pool_size: Annotated[int, Field(ge=1, le=200)] = 10
    busy_timeout_ms: Annotated[int, Field(ge=0, le=3_600_000)] = 30_000
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        check_database_url(value)
        return value


class MqttSettings(StrictModel):
    """Broker connection of the ingest adapters (a username is always sent: amqtt needs one
    to keep persistent sessions)."""

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 1883
    client_id: Annotated[str, Field(min_length=1, max_length=64)] = "sfsync-central"
    username: Annotated[str, Field(min_length=1)] = "central"
    password: str = ""
    keepalive: Annotated[int, Field(ge=5, le=3600)] = 30
    protocol: Literal["3.1.1", "5"] = "3.1.1"
    session_expiry: Annotated[int, Field(ge=0, le=MQTT_MAX_EXPIRY)] = 7 * 24 * 3600
    tls: bool = False
    ca_file: Path | None = None
    #: cap of paho's doubling reconnect back-off (first wait 1 s, or this when smaller): a broker
    #: that comes back is used within about this long, however long it was away (the edge's
    #: ``mqtt.reconnect_max_s`` is the same key)
    reconnect_max_s: Annotated[float, Field(gt=0, le=3600, allow_inf_nan=False)] = 2.0

    @field_validator("ca_file")
    @classmethod
    def _readable(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value


class IngestSettings(StrictModel):
    """MQTT ingest: the subscription, what is refused, when gaps alert.

    ``shared_subscription = true`` subscribes to ``$share/central/...`` so several central
    processes split the events between them. ``workers`` is its deprecated alias (it never
    started workers: a value above 1 only switched the shared subscription on); still accepted,
    with a warning, so existing files and ``SFSYNC_CENTRAL_INGEST__WORKERS`` keep starting."""

    enabled: bool = True
    shared_subscription: bool = False
    workers: Annotated[int | None, Field(ge=1, le=32)] = None
    require_registration: bool = True
    require_known_machine: bool = True
    clock_skew_seconds: Annotated[float, Field(gt=0, le=MAX_SECONDS)] = 300.0
    gap_alert_after_seconds: Annotated[float, Field(ge=0, le=MAX_SECONDS)] = 10.0
    queue_size: Annotated[int, Field(ge=1, le=1_000_000)] = 1000
    #: group commit: up to this many events messages already waiting in the queue are stored in one
    #: transaction with one posting call (one per stream per group); 1 stores every message alone
    group_max_messages: Annotated[int, Field(ge=1, le=1000)] = 50
    #: group commit: a group also stops before its payloads would pass this many bytes (the first
    #: message always goes in), so one transaction stays bounded whatever the edges' batch sizes
    group_max_bytes: Annotated[int, Field(ge=1, le=1024 * 1024 * 1024)] = 4 * 1024 * 1024
    db_retries: Annotated[int, Field(ge=0, le=100)] = 5
    #: /health and /ready are degraded when the ingest worker's heartbeat is older than this
    heartbeat_stale_seconds: Annotated[float, Field(gt=0, le=3600, allow_inf_nan=False)] = 30.0
    #: the process exits (status 18) when the worker's heartbeat is older than this; 0: never
    worker_stuck_exit_seconds: Annotated[float, Field(ge=0, le=86400, allow_inf_nan=False)] = 600.0

    @model_validator(mode="after")
    def _workers_alias(self) -> Self:
        if self.workers is not None:
            log.warning("ingest.workers is deprecated: it only switches the shared subscription on; "
                        "write ingest.shared_subscription = %s instead",
                        "true" if self.workers > 1 or self.shared_subscription else "false")
            if self.workers > 1:
                self.shared_subscription = True
        return self

    @property
    def use_shared_subscription(self) -> bool:
        return self.shared_subscription


class ApiSettings(StrictModel):
    """HTTP API; ``port = 0`` binds an ephemeral port (the bound address is printed)."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    page_limit_max: Annotated[int, Field(ge=1, le=1_000_000)] = 1000


class AuthSettings(StrictModel):
    """``bootstrap_admin``: on the first start of ``serve`` create an admin token, print it once.
    ``token_expiry_days``: every issued token expires after this many days (the bootstrap admin's
    too; ``sfsync central token --expires-days`` overrides it for one token)."""

    bootstrap_admin: bool = True
    token_expiry_days: Annotated[float, Field(gt=0, le=36_500, allow_inf_nan=False)] = 90.0


class LedgerSettings(StrictModel):
    """Sealing of the journal into the audit chain (docs/governance.md). ``serve`` seals every
    ``seal_interval_seconds`` (0: only at period close); a periodic run searches entries above the
    highest id sealed ``seal_lookback_seconds`` ago; at most ``seal_batch`` entries per transaction.
    ``serve`` also folds the ledger balance snapshots' rows every ``snapshot_compact_interval_seconds``
    (0: never; the reports stay exact, they sum a key's rows, but read more of them)."""

    seal_interval_seconds: Annotated[float, Field(ge=0, le=86_400, allow_inf_nan=False)] = 60.0
    seal_lookback_seconds: Annotated[float, Field(ge=0, le=30 * 86_400, allow_inf_nan=False)] = 600.0
    seal_batch: Annotated[int, Field(ge=1, le=1_000_000)] = 10_000
    snapshot_compact_interval_seconds: Annotated[float, Field(ge=0, le=86_400, allow_inf_nan=False)] = 30.0


class AlertSettings(StrictModel):
    """Rule-based alerts and webhooks (docs/alerts.md). ``serve`` evaluates the rules every
    ``evaluate_interval_seconds`` (0: never) and sends queued webhook deliveries every
    ``webhook_interval_seconds`` (0: never); a delivery is retried with back-off (``webhook_backoff_seconds``
    doubling up to ``webhook_backoff_max_seconds``) and dead-lettered after ``webhook_max_attempts``."""

    evaluate_interval_seconds: Annotated[float, Field(ge=0, le=86_400, allow_inf_nan=False)] = 60.0
    webhook_interval_seconds: Annotated[float, Field(ge=0, le=3600, allow_inf_nan=False)] = 2.0
    webhook_timeout_seconds: Annotated[float, Field(gt=0, le=300, allow_inf_nan=False)] = 5.0
    webhook_max_attempts: Annotated[int, Field(ge=1, le=100)] = 8
    webhook_backoff_seconds: Annotated[float, Field(gt=0, le=86_400, allow_inf_nan=False)] = 10.0
    webhook_backoff_max_seconds: Annotated[float, Field(gt=0, le=7 * 86_400, allow_inf_nan=False)] = 3600.0


class FaultSettings(StrictModel):
    """Fault injection for chaos tests only: ``crash_after_commit = N`` makes the process exit
    (``os._exit``) right after committing its N-th batch, before the ack is published."""

    crash_after_commit: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0


class CentralSettings(StrictModel):
    database: DatabaseSettings = DatabaseSettings()
    mqtt: MqttSettings = MqttSettings()
    ingest: IngestSettings = IngestSettings()
    api: ApiSettings = ApiSettings()
    auth: AuthSettings = AuthSettings()
    ledger: LedgerSettings = LedgerSettings()
    alerts: AlertSettings = AlertSettings()
    faults: FaultSettings = FaultSettings()


def load_settings(path: str | Path | None, environ: dict[str, str] | None = None) -> CentralSettings:
    """Read ``path`` (optional) and the ``SFSYNC_CENTRAL_*`` environment into settings."""
    return load_config(CentralSettings, path, env_prefix=ENV_PREFIX, environ=environ)
