"""Central's settings checks: what load refuses (URL syntax, drivers, ranges, files) and what the
start-up checks refuse before anything is created (SQLite directory and file, PostgreSQL
reachable, api.host resolvable, api.port free)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from central.config import DatabaseSettings, load_settings
from central.entrypoints.preflight import bind_api, check_database
from shared.config import ConfigError


@pytest.mark.parametrize(("url", "words"), [
    ("garbage", "not a database URL"),
    ("", "not a database URL"),
    ("postgresql://u:pw@host:notaport/db", "not a database URL"),
    ("mysql://u:pw@host/db", "unsupported database 'mysql'"),
    ("postgresql+nosuch://u@host/db", "no installed driver"),
    ("postgresql+psycopg://u@host:5432", "names its database"),
])
def test_bad_database_urls_are_refused_at_load_without_the_password(url: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, environ={"SFSYNC_CENTRAL_DATABASE__URL": url})
    assert info.value.key == "database.url" and words in info.value.reason
    assert "pw" not in str(info.value)


@pytest.mark.parametrize(("key", "value"), [
    ("INGEST__CLOCK_SKEW_SECONDS", "inf"),
    ("INGEST__CLOCK_SKEW_SECONDS", "1e300"),
    ("INGEST__CLOCK_SKEW_SECONDS", "0"),
    ("INGEST__GAP_ALERT_AFTER_SECONDS", "nan"),
    ("INGEST__GAP_ALERT_AFTER_SECONDS", "-1.0"),
    ("INGEST__QUEUE_SIZE", "99999999999"),
    ("MQTT__SESSION_EXPIRY", "4294967296"),
    ("DATABASE__BUSY_TIMEOUT_MS", "-1"),
])
def test_numbers_in_range(key: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, environ={f"SFSYNC_CENTRAL_{key}": value})
    assert info.value.key == key.lower().replace("__", ".")


def test_good_values_load() -> None:
    settings = load_settings(None, environ={"SFSYNC_CENTRAL_INGEST__CLOCK_SKEW_SECONDS": "604800",
                                            "SFSYNC_CENTRAL_INGEST__GAP_ALERT_AFTER_SECONDS": "0"})
    assert settings.ingest.clock_skew_seconds == 604800.0


def test_missing_ca_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, environ={"SFSYNC_CENTRAL_MQTT__CA_FILE": str(tmp_path / "ca.pem")})
    assert info.value.key == "mqtt.ca_file" and "no such file" in info.value.reason
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    assert load_settings(None, environ={"SFSYNC_CENTRAL_MQTT__CA_FILE": str(tmp_path / "ca.pem")}).mqtt.ca_file


def test_sqlite_directory_must_exist_and_nothing_is_created(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "central.db"
    with pytest.raises(ConfigError) as info:
        check_database(DatabaseSettings(url=f"sqlite:///{target}"), "central.toml")
    assert info.value.key == "database.url" and "does not exist" in info.value.reason
    assert not (tmp_path / "missing").exists()
    check_database(DatabaseSettings(url=f"sqlite:///{tmp_path / 'new.db'}"), "central.toml")
    assert not (tmp_path / "new.db").exists()  # checked, not created
    check_database(DatabaseSettings(url="sqlite://"), "central.toml")


def test_a_file_that_is_not_a_sqlite_database_is_refused(tmp_path: Path) -> None:
    garbage = tmp_path / "central.db"
    garbage.write_bytes(b"this is not a database file at all, just text. " * 100)
    with pytest.raises(ConfigError, match="not a usable SQLite database"):
        check_database(DatabaseSettings(url=f"sqlite:///{garbage}"), "central.toml")
    with pytest.raises(ConfigError, match="is a directory"):
        check_database(DatabaseSettings(url=f"sqlite:///{tmp_path}"), "central.toml")


def test_unreachable_postgresql_is_refused_quickly() -> None:
    with pytest.raises(ConfigError) as info:
        check_database(DatabaseSettings(url="postgresql+psycopg://u:secret@127.0.0.1:1/db"), "central.toml")
    assert info.value.key == "database.url" and "127.0.0.1:1/db" in info.value.reason
    assert "secret" not in str(info.value)


def test_api_host_and_port() -> None:
    from central.config import ApiSettings

    with pytest.raises(ConfigError) as info:
        bind_api(ApiSettings(host="no-such-host.invalid", port=0), "central.toml")
    assert info.value.key == "api.host"
    sock = bind_api(ApiSettings(host="127.0.0.1", port=0), "central.toml")
    try:
        port = sock.getsockname()[1]
        with pytest.raises(ConfigError) as info:
            bind_api(ApiSettings(host="127.0.0.1", port=port), "central.toml")
        assert info.value.key == "api.port" and "in use" in info.value.reason.lower()
    finally:
        sock.close()
    probe = socket.socket()
    probe.bind(("127.0.0.1", port))  # released: the port is free again
    probe.close()


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_directory_that_is_not_writable_is_refused(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(ConfigError, match="not writable"):
            check_database(DatabaseSettings(url=f"sqlite:///{locked / 'central.db'}"), "central.toml")
    finally:
        locked.chmod(0o700)
