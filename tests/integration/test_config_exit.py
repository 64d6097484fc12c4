"""Config errors exit 2 with file, key and reason, never a traceback, and leave nothing behind:
``sfsync central serve|migrate|load|token``, ``sfsync edge run|probe|status`` and ``sfsync sim``,
each run as a real process (a check that were missing would let ``serve`` start: the timeout
fails the test)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EDGE_EXAMPLE = ROOT / "deploy" / "examples" / "edge.toml"
SIM_EXAMPLE = ROOT / "deploy" / "examples" / "sim.toml"


def sfsync(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SFSYNC_")}
    return subprocess.run([sys.executable, "-m", "sfsync.cli", *args], capture_output=True, text=True, timeout=90,
                          cwd=cwd, env={**clean, **(env or {})})


def refused(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "configuration error" in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr  # one line, nothing logged before it
    for word in words:
        assert word in proc.stderr, (word, proc.stderr)


def central_toml(tmp_path: Path, body: str, url: str | None = None) -> Path:
    """A central.toml whose database is a SQLite file in ``tmp_path`` unless ``body`` sets one."""
    path = tmp_path / "central.toml"
    database = "" if "[database]" in body else f'[database]\nurl = "{url or f"sqlite:///{tmp_path}/central.db"}"\n'
    path.write_text(database + body)
    return path


@pytest.fixture
def busy_port() -> Iterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    yield sock.getsockname()[1]
    sock.close()


# (toml body, key, words of the reason)
CENTRAL_CASES = [
    ('[database]\nurl = "garbage"\n', "database.url", "not a database URL"),
    ('[database]\nurl = "oracle://scott:tiger@db/orcl"\n', "database.url", "unsupported database"),
    ('[database]\nurl = "postgresql+nosuchdriver://u@h/d"\n', "database.url", "no installed driver"),
    ("[database]\nurl = \"sqlite:///{tmp}/no/such/dir/central.db\"\n", "database.url", "does not exist"),
    ('[database]\nurl = "postgresql+psycopg://nobody:secret@127.0.0.1:1/nodb"\n', "database.url",
     "cannot connect to PostgreSQL at 127.0.0.1:1/nodb"),
    ('[ingest]\ngap_alert_after_seconds = inf\n', "ingest.gap_alert_after_seconds", "finite"),
    ('[ingest]\nclock_skew_seconds = 1e300\n', "ingest.clock_skew_seconds", "less than or equal"),
    ('[ingest]\nclock_skew_seconds = nan\n', "ingest.clock_skew_seconds", "finite"),
    ('[ingest]\nclock_skew_seconds = -5.0\n', "ingest.clock_skew_seconds", "greater than"),
    ('[ingest]\ngap_alert_after_seconds = -inf\n', "ingest.gap_alert_after_seconds", ""),
    ('[mqtt]\nca_file = "{tmp}/missing-ca.pem"\n', "mqtt.ca_file", "no such file"),
    ('[database]\nbusy_timeout_ms = 99999999999999999999\n', "database.busy_timeout_ms", ""),
]


COMMANDS = [["serve"], ["migrate"], ["token", "--user", "u", "--role", "admin"]]


@pytest.mark.parametrize(("body", "key", "reason", "command"), [
    (*case, COMMANDS[n % len(COMMANDS)]) for n, case in enumerate(CENTRAL_CASES)
] + [(*CENTRAL_CASES[n], command) for n in (3, 4) for command in COMMANDS])
def test_central_bad_config_exits_2_and_creates_no_database(tmp_path: Path, body: str, key: str, reason: str,
                                                            command: list[str]) -> None:
    """Every case with one of the commands in turn; the database cases with each of them."""
    config = central_toml(tmp_path, body.replace("{tmp}", str(tmp_path)))
    proc = sfsync(tmp_path, "central", command[0], "--config", str(config), *command[1:])
    refused(proc, str(config), key, reason)
    assert "secret" not in proc.stderr  # a URL's password is never shown
    assert not list(tmp_path.rglob("*.db")) and not (tmp_path / "no").exists()


def test_central_serve_refuses_an_unresolvable_host_and_a_busy_port(tmp_path: Path, busy_port: int) -> None:
    config = central_toml(tmp_path, '[api]\nhost = "no-such-host.invalid"\n')
    refused(sfsync(tmp_path, "central", "serve", "--config", str(config)), "api.host", "cannot resolve")
    config = central_toml(tmp_path, f"[api]\nport = {busy_port}\n[ingest]\nenabled = false\n")
    refused(sfsync(tmp_path, "central", "serve", "--config", str(config)), str(config), "api.port",
            f"cannot listen on 127.0.0.1:{busy_port}")
    refused(sfsync(tmp_path, "central", "serve", "--config", str(config), "--api-port", "70000"), "api.port")
    assert not list(tmp_path.rglob("*.db"))


def test_central_config_that_is_not_utf8(tmp_path: Path) -> None:
    config = tmp_path / "central.toml"
    config.write_bytes(b'[api]\nhost = "caf\xe9"\n')
    for command in ("serve", "migrate", "load"):
        extra = [str(tmp_path / "m.yaml")] if command == "load" else []
        refused(sfsync(tmp_path, "central", command, "--config", str(config), *extra), str(config), "not UTF-8")
    assert not list(tmp_path.rglob("*.db"))


def test_environment_overrides_go_through_the_same_checks(tmp_path: Path) -> None:
    config = central_toml(tmp_path, "")
    for variable, value, key in (
        ("SFSYNC_CENTRAL_INGEST__CLOCK_SKEW_SECONDS", "inf", "ingest.clock_skew_seconds"),
        ("SFSYNC_CENTRAL_INGEST__GAP_ALERT_AFTER_SECONDS", "1e300", "ingest.gap_alert_after_seconds"),
        ("SFSYNC_CENTRAL_DATABASE__URL", "not-a-url", "database.url"),
        ("SFSYNC_CENTRAL_DATABASE__URL", f"sqlite:///{tmp_path}/nodir/x.db", "database.url"),
        ("SFSYNC_CENTRAL_MQTT__CA_FILE", str(tmp_path / "nope.pem"), "mqtt.ca_file"),
    ):
        refused(sfsync(tmp_path, "central", "serve", "--config", str(config), env={variable: value}), key)
    proc = sfsync(tmp_path, "central", "migrate", "--config", str(config),
                  env={"SFSYNC_CENTRAL_INGEST__CLOCK_SKEW_SECONDS": "nan"})
    refused(proc, "SFSYNC_CENTRAL_INGEST__CLOCK_SKEW_SECONDS")  # the variable is named
    assert not list(tmp_path.rglob("*.db"))


def test_a_good_config_still_migrates(tmp_path: Path) -> None:
    config = central_toml(tmp_path, "[ingest]\nclock_skew_seconds = 600.0\n")
    proc = sfsync(tmp_path, "central", "migrate", "--config", str(config))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "central.db").exists()


# --- edge and sim ---------------------------------------------------------------------------------


def test_edge_run_refuses_a_missing_ca_file(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox.sqlite"
    env = {"SFSYNC_EDGE_OUTBOX__PATH": str(outbox), "SFSYNC_EDGE_MQTT__TLS__CA": str(tmp_path / "ca.crt")}
    refused(sfsync(tmp_path, "edge", "run", "--config", str(EDGE_EXAMPLE), env=env), str(EDGE_EXAMPLE),
            "mqtt.tls.ca", "no such file")
    assert not outbox.exists()


@pytest.mark.parametrize(("variable", "value", "key"), [
    ("SFSYNC_EDGE_MQTT__RESEND_TIMEOUT_S", "inf", "mqtt.resend_timeout_s"),
    ("SFSYNC_EDGE_MQTT__RECONNECT_MAX_S", "1e300", "mqtt.reconnect_max_s"),
    ("SFSYNC_EDGE_MQTT__RECONNECT_MIN_S", "nan", "mqtt.reconnect_min_s"),
    ("SFSYNC_EDGE_OUTBOX__COMMIT_WINDOW_MS", "-1", "outbox.commit_window_ms"),
])
def test_edge_config_floats_are_finite_and_in_range(tmp_path: Path, variable: str, value: str, key: str) -> None:
    env = {"SFSYNC_EDGE_OUTBOX__PATH": str(tmp_path / "outbox.sqlite"), variable: value}
    for command in ("run", "probe", "status") if value == "inf" else ("run",):
        refused(sfsync(tmp_path, "edge", command, "--config", str(EDGE_EXAMPLE), env=env), key, variable)
    assert not (tmp_path / "outbox.sqlite").exists()


def test_edge_config_that_is_not_utf8(tmp_path: Path) -> None:
    config = tmp_path / "edge.toml"
    config.write_bytes(EDGE_EXAMPLE.read_bytes().replace(b'plant = "P1"', b'plant = "P\xff1"'))
    refused(sfsync(tmp_path, "edge", "status", "--config", str(config)), str(config), "not UTF-8")


@pytest.mark.parametrize(("variable", "value", "key"), [
    ("SFSYNC_SIM_CLOCK__RUN_FOR_S", "inf", "clock.run_for_s"),
    ("SFSYNC_SIM_CLOCK__RUN_FOR_S", "1e300", "clock.run_for_s"),
    ("SFSYNC_SIM_CLOCK__SPEED", "nan", "clock.speed"),
])
def test_sim_config_floats_are_finite_and_in_range(tmp_path: Path, variable: str, value: str, key: str) -> None:
    refused(sfsync(tmp_path, "sim", "--config", str(SIM_EXAMPLE), env={variable: value}), key)


def test_sim_speed_option_is_checked_too(tmp_path: Path) -> None:
    refused(sfsync(tmp_path, "sim", "--config", str(SIM_EXAMPLE), "--speed", "inf"), "clock.speed")


def test_edge_run_refuses_a_busy_status_port(tmp_path: Path, busy_port: int) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    outbox = tmp_path / "outbox.sqlite"
    env = {"SFSYNC_EDGE_OUTBOX__PATH": str(outbox), "SFSYNC_EDGE_MQTT__TLS__CA": str(ca),
           "SFSYNC_EDGE_STATUS__PORT": str(busy_port)}
    refused(sfsync(tmp_path, "edge", "run", "--config", str(EDGE_EXAMPLE), env=env), "status.port",
            f"cannot listen on 127.0.0.1:{busy_port}")
    assert not outbox.exists()
    env["SFSYNC_EDGE_STATUS__HOST"] = "no-such-host.invalid"
    refused(sfsync(tmp_path, "edge", "run", "--config", str(EDGE_EXAMPLE), env=env), "status.host")


def test_sim_refuses_a_busy_port(tmp_path: Path, busy_port: int) -> None:
    env = {"SFSYNC_SIM_MODBUS__PORT": str(busy_port), "SFSYNC_SIM_OPCUA__PORT": "0", "SFSYNC_SIM_CONTROL__PORT": "0"}
    refused(sfsync(tmp_path, "sim", "--config", str(SIM_EXAMPLE), env=env), str(SIM_EXAMPLE), "modbus.port",
            f"cannot listen on 127.0.0.1:{busy_port}")
