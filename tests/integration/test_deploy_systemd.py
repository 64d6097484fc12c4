"""The edge's systemd unit: valid for systemd, restarts forever, keeps its outbox, runs unprivileged."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "systemd" / "sfsync-edge.service"


def _settings() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def test_unit_restarts_keeps_state_and_drops_privileges() -> None:
    s = _settings()
    assert s["Restart"] == ["always"] and s["StartLimitIntervalSec"] == ["0"]
    assert s["RestartPreventExitStatus"] == ["2"]  # configuration error: restarting cannot help
    assert s["StateDirectory"] == ["sfsync-edge"] and s["WorkingDirectory"] == ["/var/lib/sfsync-edge"]
    assert s["DynamicUser"] == ["yes"] and s["NoNewPrivileges"] == ["yes"]
    assert s["CapabilityBoundingSet"] == [""] and s["ProtectSystem"] == ["strict"]
    assert re.search(r"\bedge run --config /etc/sfsync/edge.toml\b", s["ExecStart"][0])
    assert int(s["TimeoutStopSec"][0]) >= 10  # time to commit the last outbox window on SIGTERM


@pytest.mark.timeout(60)
def test_systemd_accepts_the_unit_and_rates_it_hardened(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    unit = tmp_path / UNIT.name
    # verify checks that ExecStart exists: point it at a binary this machine has
    unit.write_text(UNIT.read_text().replace("/opt/sfsync/.venv/bin/sfsync", shutil.which("true") or "/bin/true"))
    verify = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stderr
    assert "Unknown key" not in verify.stderr and "Unknown section" not in verify.stderr, verify.stderr
    security = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--threshold=20", str(unit)], capture_output=True, text=True
    )
    if "unrecognized option" in security.stderr:
        pytest.skip("this systemd-analyze cannot rate units offline")
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", security.stdout)
    assert match, security.stdout[-500:] + security.stderr
    assert float(match.group(1)) <= 2.0, security.stdout[-2000:]
