"""docker-compose.yml: valid, complete (health checks, volumes, order), its configs load, its ACL confines an edge."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from support.demo import (
    COMPOSE,
    COMPOSE_SECRETS,
    ROOT,
    TEST_COMPOSE_ENV,
    MissingVariable,
    bind_mounts,
    compose_mosquitto,
    connect,
    interpolate,
    load_compose,
    service_env,
)

SERVICES = {"mosquitto", "postgres", "central", "sim", "edge"}
TOP_KEYS = {"version", "name", "services", "volumes", "networks", "configs", "secrets"}
SERVICE_KEYS = {
    "build", "image", "command", "entrypoint", "environment", "env_file", "volumes", "ports", "depends_on",
    "healthcheck", "restart", "init", "stop_grace_period", "user", "working_dir", "networks", "labels", "expose",
}
HEALTH_KEYS = {"test", "interval", "timeout", "retries", "start_period", "disable"}
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


def _compose_cli() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return None


def _schema_errors(doc: dict[str, Any]) -> list[str]:
    """The subset of the Compose specification this file uses, checked without Docker."""
    errors = [f"unknown top-level key {k}" for k in doc if k not in TOP_KEYS and not k.startswith("x-")]
    declared = set(doc.get("volumes") or {})
    for name, svc in doc.get("services", {}).items():
        if not isinstance(svc, dict):
            errors.append(f"{name}: not a mapping")
            continue
        errors += [f"{name}: unknown key {k}" for k in svc if k not in SERVICE_KEYS]
        if "image" not in svc and "build" not in svc:
            errors.append(f"{name}: needs image or build")
        health = svc.get("healthcheck") or {}
        errors += [f"{name}.healthcheck: unknown key {k}" for k in health if k not in HEALTH_KEYS]
        test = health.get("test")
        if not (isinstance(test, list) and test and test[0] in ("CMD", "CMD-SHELL", "NONE")):
            errors.append(f"{name}.healthcheck.test must be a list starting with CMD or CMD-SHELL")
        for dep, cond in (svc.get("depends_on") or {}).items():
            if dep not in doc["services"]:
                errors.append(f"{name}: depends on unknown service {dep}")
            if cond.get("condition") not in CONDITIONS:
                errors.append(f"{name}: depends_on {dep}: bad condition {cond.get('condition')}")
        for vol in svc.get("volumes") or []:
            src = str(vol).split(":")[0]
            if not src.startswith((".", "/")) and src not in declared:
                errors.append(f"{name}: named volume {src} is not declared")
        for port in svc.get("ports") or []:
            if not str(port).startswith("127.0.0.1:"):
                errors.append(f"{name}: port {port} is published on every interface")
    return errors


def _compose_config(cli: list[str], tmp_path: Path, secrets: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``config -q`` with exactly ``secrets`` as the project's ``.env`` (an empty one: none)."""
    env_file = tmp_path / "compose.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in secrets.items()))
    env = {k: v for k, v in os.environ.items() if not k.endswith("_PASSWORD")}
    return subprocess.run([*cli, "-f", str(COMPOSE), "--env-file", str(env_file), "config", "-q"],
                          capture_output=True, text=True, env=env, timeout=120)


def test_compose_file_is_valid(tmp_path: Path) -> None:
    """``docker compose config`` / ``docker-compose config`` when installed, plus the schema-level check."""
    doc = load_compose()
    assert _schema_errors(doc) == []
    cli = _compose_cli()
    if cli is not None:
        proc = _compose_config(cli, tmp_path, TEST_COMPOSE_ENV)
        assert proc.returncode == 0, proc.stderr


def test_compose_has_no_default_secrets() -> None:
    """Every secret is ``${VAR:?message}``: no known fallback password anywhere in the file."""
    text = COMPOSE.read_text()
    assert "dev-" not in text
    for name in COMPOSE_SECRETS:
        assert f"${{{name}:?" in text and f"${{{name}:-" not in text
        with pytest.raises(MissingVariable, match=f"{name} is missing a value: set {name} in .env"):
            interpolate(text, {k: v for k, v in TEST_COMPOSE_ENV.items() if k != name})
        with pytest.raises(MissingVariable, match=name):  # an empty value is refused too (env.example's)
            interpolate(text, {**TEST_COMPOSE_ENV, name: ""})
    example = (ROOT / "deploy" / "compose" / "env.example").read_text()
    assert {line.split("=", 1)[0] for line in example.splitlines() if "=" in line and not line.startswith("#")} \
        == set(COMPOSE_SECRETS)


def test_compose_without_env_refuses_to_start_with_a_clear_message(tmp_path: Path) -> None:
    """The real compose binary, without ``.env``: non-zero exit naming the missing secret and ``.env``."""
    cli = _compose_cli()
    if cli is None:
        pytest.skip("neither docker-compose nor `docker compose` is installed (Debian: apt-get install docker-compose)")
    proc = _compose_config(cli, tmp_path, {})
    # compose v1 says "Missing mandatory value for ...", v2 "required variable ... is missing a value";
    # both end with our message naming the variable and .env
    assert proc.returncode != 0, proc.stdout
    named = [n for n in COMPOSE_SECRETS if f"set {n} in .env (copy deploy/compose/env.example)" in proc.stderr]
    assert named and "missing" in proc.stderr.lower(), proc.stderr
    empty = _compose_config(cli, tmp_path, {name: "" for name in COMPOSE_SECRETS})  # env.example as shipped
    assert empty.returncode != 0 and "in .env (copy deploy/compose/env.example)" in empty.stderr, empty.stderr


def test_schema_check_catches_mistakes() -> None:
    doc = load_compose()
    doc["services"]["edge"]["healthcheck"] = {"test": "curl x"}
    doc["services"]["edge"]["depends_on"] = {"brokr": {"condition": "service_healthy"}}
    doc["services"]["central"]["volumes"].append("undeclared:/x")
    doc["services"]["sim"]["ports"] = ["4840:4840"]
    errors = _schema_errors(doc)
    assert any("edge.healthcheck.test" in e for e in errors)
    assert any("unknown service brokr" in e for e in errors)
    assert any("undeclared is not declared" in e for e in errors)
    assert any("every interface" in e for e in errors)


def test_compose_has_every_part_with_health_checks_volumes_and_start_order() -> None:
    doc = load_compose()
    services = doc["services"]
    assert set(services) == SERVICES
    for name in ("central", "sim", "edge"):
        assert services[name]["build"] == "." and (ROOT / "Dockerfile").is_file()
    for name, svc in services.items():
        for dst, src in bind_mounts(svc).items():
            assert src.exists(), f"{name}: {src} (mounted at {dst}) is missing from the repository"
    assert services["central"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "mosquitto": {"condition": "service_healthy"},
    }
    assert services["edge"]["depends_on"]["mosquitto"] == {"condition": "service_healthy"}
    central_cmd = " ".join(services["central"]["command"])
    assert central_cmd.index("central migrate") < central_cmd.index("central serve")
    volumes = {str(v).split(":")[0]: str(v).split(":")[1] for s in services.values() for v in s.get("volumes", [])}
    assert volumes["postgres-data"] == "/var/lib/postgresql/data"
    assert volumes["edge-outbox"] == "/var/lib/sfsync"


def test_compose_configs_load_with_the_compose_environment() -> None:
    """The TOML each service mounts, plus its SFSYNC_* environment, is a valid config of that service."""
    from central.config import load_settings as load_central
    from device_sim.config import load_settings as load_sim
    from edge.config import load_edge_settings

    services = load_compose()["services"]
    central_toml = bind_mounts(services["central"])["/etc/sfsync/central.toml"]
    central = load_central(central_toml, service_env(services["central"]))
    url = central.database.url
    assert url.startswith("postgresql+psycopg://sfsync:") and "@postgres:5432/" in url
    assert central.mqtt.host == "mosquitto" and central.mqtt.password and central.api.host == "0.0.0.0"
    sim = load_sim(bind_mounts(services["sim"])["/etc/sfsync/sim.toml"])
    edge_toml = bind_mounts(services["edge"])["/etc/sfsync/edge.toml"]
    edge = load_edge_settings(edge_toml, service_env(services["edge"]))
    assert edge.mqtt.host == "mosquitto" and edge.mqtt.password is not None
    assert str(edge.outbox.path).startswith("/var/lib/sfsync/")
    assert edge.status.host == "0.0.0.0" and edge.status.port == 9180
    assert {m.id for m in edge.machines} == {m.id for m in sim.resolve()}
    users = dict(pair.split(":", 1) for pair in service_env(services["mosquitto"])["MQTT_USERS"].split())
    assert users[edge.username] == edge.mqtt.password.get_secret_value()
    assert users[central.mqtt.username] == central.mqtt.password


@pytest.mark.timeout(60)
def test_compose_mosquitto_acl_denies_a_foreign_topic(tmp_path: Path) -> None:
    users_text = service_env(load_compose()["services"]["mosquitto"])["MQTT_USERS"]
    users = dict(pair.split(":", 1) for pair in users_text.split())
    with compose_mosquitto(tmp_path, users_text) as (host, port):
        central, central_q = connect(host, port, "central", users["central"], "t-central")
        central.subscribe("sfsync/v1/+/+/events", qos=1)
        assert central_q.get(timeout=10) == "subscribed"
        edge, edge_q = connect(host, port, "edge-1", users["edge-1"], "t-edge-1")
        edge.subscribe("sfsync/v1/P1/edge-2/ack", qos=1)  # another edge's ack: not delivered
        edge.subscribe("sfsync/v1/P1/edge-1/ack", qos=1)
        assert edge_q.get(timeout=10) == "subscribed" and edge_q.get(timeout=10) == "subscribed"
        central.publish("sfsync/v1/P1/edge-2/ack", b"not yours", qos=1).wait_for_publish(10)
        central.publish("sfsync/v1/P1/edge-1/ack", b"yours", qos=1).wait_for_publish(10)
        assert edge_q.get(timeout=10) == ("sfsync/v1/P1/edge-1/ack", b"yours")
        edge.publish("sfsync/v1/P1/edge-2/events", b"forged", qos=1)
        edge.publish("sfsync/v1/P1/edge-1/events", b"own", qos=1)
        seen = []
        while (item := central_q.get(timeout=15)) != ("sfsync/v1/P1/edge-1/events", b"own"):
            seen.append(item)
        assert seen == []
        leftover = []
        while not edge_q.empty():
            leftover.append(edge_q.get())
        assert not [m for m in leftover if isinstance(m, tuple) and m[0] == "sfsync/v1/P1/edge-2/ack"], leftover
        for c in (central, edge):
            c.loop_stop()
            c.disconnect()


def test_compose_edge_mapping_is_what_the_simulator_derives() -> None:
    """deploy/compose/edge.toml's sources and machines are generated; they must not drift from the simulator."""
    import tomllib

    from device_sim.config import load_settings as load_sim
    from device_sim.edge_mapping import edge_mapping

    services = load_compose()["services"]
    sim = load_sim(bind_mounts(services["sim"])["/etc/sfsync/sim.toml"])
    expected = edge_mapping(sim, opcua_endpoint="opc.tcp://sim:4840/sim", modbus_host="sim")
    shipped = tomllib.loads(bind_mounts(services["edge"])["/etc/sfsync/edge.toml"].read_text())
    assert {"sources": shipped["sources"], "machines": shipped["machines"]} == expected
