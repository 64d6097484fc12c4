"""Helpers for the deploy, demo and end-to-end tests: compose file reading, shipped-config Mosquitto."""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from sfsync.broker import free_port, mosquitto_binary, wait_port

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")

COMPOSE_SECRETS = ("CENTRAL_MQTT_PASSWORD", "EDGE1_MQTT_PASSWORD", "POSTGRES_PASSWORD")
TEST_COMPOSE_ENV = {name: f"test-{name.lower().replace('_', '-')}" for name in COMPOSE_SECRETS}
"""What a test's ``.env`` would hold (the compose file has no defaults for its secrets)."""


class MissingVariable(ValueError):
    """A ``${VAR:?message}`` without a value, as compose refuses it."""


def interpolate(text: str, env: dict[str, str] | None = None) -> str:
    """Compose-style ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?message}`` substitution (``$$`` is a
    literal ``$``); a required variable without a value raises :class:`MissingVariable` naming it."""
    env = env or {}

    def sub(m: re.Match[str]) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3) or ""
        value = env.get(name)
        if op in (":?", "?") and (value is None or (op == ":?" and value == "")):
            raise MissingVariable(f"required variable {name} is missing a value: {arg}")
        return value or ("" if op in (":?", "?") else arg)

    return _VAR.sub(sub, text.replace("$$", "\x00")).replace("\x00", "$")


def load_compose(env: dict[str, str] | None = None) -> dict[str, Any]:
    """The compose file with ``env`` substituted (default: :data:`TEST_COMPOSE_ENV`)."""
    doc: dict[str, Any] = yaml.safe_load(interpolate(COMPOSE.read_text(), TEST_COMPOSE_ENV if env is None else env))
    return doc


def service_env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def bind_mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path -> host path (relative to the repo) of every bind mount."""
    out: dict[str, Path] = {}
    for vol in service.get("volumes") or []:
        src, dst = str(vol).split(":")[:2]
        if src.startswith((".", "/")):
            out[dst] = (ROOT / src).resolve()
    return out


def connect(host: str, port: int, user: str, password: str, client_id: str) -> tuple[mqtt.Client, queue.Queue[Any]]:
    """A connected paho client whose callbacks put ``("connect", rc)``, ``"subscribed"`` or ``(topic, payload)``."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    c.username_pw_set(user, password)
    events: queue.Queue[Any] = queue.Queue()
    c.on_connect = lambda _c, _u, _f, rc, _p: events.put(("connect", str(rc)))
    c.on_subscribe = lambda *_a: events.put("subscribed")
    c.on_message = lambda _c, _u, msg: events.put((msg.topic, msg.payload))
    c.connect(host, port)
    c.loop_start()
    assert events.get(timeout=10) == ("connect", "Success")
    return c, events


@contextmanager
def compose_mosquitto(tmp_path: Path, users: str) -> Iterator[tuple[str, int]]:
    """Run the compose service's own entrypoint, config and ACL (paths moved into ``tmp_path``)."""
    binary = mosquitto_binary()
    if binary is None or shutil.which("mosquitto_passwd") is None:
        pytest.skip("needs the mosquitto and mosquitto_passwd binaries")
    service = load_compose()["services"]["mosquitto"]
    mounts = bind_mounts(service)
    conf_dir = tmp_path / "config"
    conf_dir.mkdir()
    port = free_port()
    shutil.copy(mounts["/mosquitto/config/acl"], conf_dir / "acl")
    conf = (
        mounts["/mosquitto/config/mosquitto.conf"]
        .read_text()
        .replace("/mosquitto/config/", f"{conf_dir}/")
        .replace("/mosquitto/data/", f"{tmp_path}/")
        .replace("listener 1883", f"user root\nlistener {port} 127.0.0.1")
    )
    (conf_dir / "mosquitto.conf").write_text(conf)
    script = mounts["/mosquitto/entrypoint.sh"].read_text().replace("/mosquitto/config/", f"{conf_dir}/")
    (tmp_path / "entrypoint.sh").write_text(script)
    env = {**os.environ, "MQTT_USERS": users, "PATH": f"{Path(binary).parent}:{os.environ.get('PATH', '')}"}
    log = (tmp_path / "mosquitto.log").open("wb")
    proc = subprocess.Popen(["/bin/sh", str(tmp_path / "entrypoint.sh")], stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        if not wait_port("127.0.0.1", port, 15):
            raise AssertionError(f"mosquitto did not start: {(tmp_path / 'mosquitto.log').read_text()[-1500:]}")
        yield "127.0.0.1", port
    finally:
        proc.kill()
        proc.wait(10)
        log.close()


def all_items(http: Any, path: str, key: str, **params: str) -> list[dict[str, Any]]:
    """Every row of a paged list endpoint (``{key: [...], "next": id}``, ``after=`` for the next page)."""
    out: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        query = {**params, "limit": "1000", **({"after": after} if after else {})}
        resp = http.get(path, params=query)
        assert resp.status_code == 200, (path, resp.status_code, resp.text[:500])
        body = resp.json()
        out.extend(body[key])
        if body.get("next") is None:
            return out
        after = str(body["next"])


def baselines(events: list[dict[str, Any]]) -> dict[tuple[str, str, str | None], int]:
    """Counter value at the edge's first read, per ``(machine, kind, scrap reason)``, from ``baseline`` events.

    Units the PLC counted before the edge first read it are, by design, not the edge's to count.
    """
    out: dict[tuple[str, str, str | None], int] = {}
    for ev in events:
        if ev["kind"] in ("count", "scrap") and "baseline" in (ev.get("flags") or []):
            key = (ev["machine"], ev["kind"], ev.get("reason") if ev["kind"] == "scrap" else None)
            out.setdefault(key, int(ev["raw"]["value"]))
    return out


def truth_totals(
    path: Path, base: dict[tuple[str, str, str | None], int] | None = None
) -> tuple[dict[tuple[str, str], int], bool]:
    """Per ``(machine, kind)`` sum of qty in a simulator truth log, and whether it has its ``end`` line.

    With ``base``, units whose counter value is at or below the edge's baseline of that counter are
    left out (valid while counters neither wrap nor reset, as in a run without counter faults).
    """
    import json

    totals: dict[tuple[str, str], int] = {}
    ended = False
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        if rec["kind"] == "end":
            ended = True
        elif rec["kind"] in ("count", "scrap"):
            reason = rec.get("reason") if rec["kind"] == "scrap" else None
            if base is not None and int(rec["counter"]) <= base.get((rec["machine"], rec["kind"], reason), 0):
                continue
            key = (rec["machine"], rec["kind"])
            totals[key] = totals.get(key, 0) + int(rec["qty"])
    return totals, ended


def central_totals(events: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    totals: dict[tuple[str, str], int] = {}
    for ev in events:
        if ev["kind"] in ("count", "scrap"):
            key = (ev["machine"], ev["kind"])
            totals[key] = totals.get(key, 0) + int(ev["qty"] or 0)
    return totals
