"""The offline bundle: built, installed into a fresh venv with ``--no-index``, then probing the simulator.

One slow test (pip downloads from the index or its cache, builds the project wheel, then
``install.sh`` creates a venv and installs from the archive alone; the index is pointed at a dead
address for that step) and one fast one (a platform without wheels: one line, exit 2, no
archive). Time is bounded by the pytest timeout and per-subprocess timeouts.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import subprocess
import sys
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from support.sim import plant_settings

from device_sim.edge_mapping import edge_mapping, edge_mapping_toml
from device_sim.plant import SimPlant
from sfsync.broker import free_port
from sfsync.cli import main

ROOT = Path(__file__).resolve().parents[2]
CENTRAL_ONLY = ("fastapi", "uvicorn", "sqlalchemy", "alembic", "psycopg", "amqtt", "jinja2", "pyyaml")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _wheel_names(directory: Path) -> set[str]:
    return {_norm(p.name.split("-")[0]) for p in directory.glob("*.whl")}


def _base_dependencies() -> set[str]:
    import tomllib

    with (ROOT / "pyproject.toml").open("rb") as fh:
        deps = tomllib.load(fh)["project"]["dependencies"]
    return {_norm(re.match(r"[A-Za-z0-9._-]+", d).group(0)) for d in deps}  # type: ignore[union-attr]


@pytest_asyncio.fixture
async def plant(tmp_path: Path) -> AsyncIterator[SimPlant]:
    settings = plant_settings(
        [{"id": "M1", "cycle_s": 1, "counter_start": 100}, {"id": "M2", "cycle_s": 2, "word_order": "little"}],
        clock={"speed": 60.0},
    )
    async with SimPlant(settings, tmp_path / "truth.jsonl") as p:
        yield p


@pytest.mark.slow
@pytest.mark.timeout(900)
async def test_bundle_installs_offline_and_probes_the_simulator(tmp_path: Path, plant: SimPlant) -> None:
    archive = tmp_path / "edge.tar.gz"
    code = await asyncio.to_thread(main, ["edge", "bundle", "--out", str(archive)])
    assert code == 0 and archive.is_file()

    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "x", filter="data")
    (top,) = (tmp_path / "x").iterdir()
    names = {p.name for p in top.iterdir()}
    assert {"wheels", "install.sh", "sfsync-edge.service", "edge.toml", "SHA256SUMS", "README.txt"} <= names
    assert (top / "sfsync-edge.service").read_bytes() == (ROOT / "deploy/systemd/sfsync-edge.service").read_bytes()
    assert "[[sources]]" in (top / "edge.toml").read_text() and "#" in (top / "edge.toml").read_text()
    for line in (top / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ", 1)
        assert hashlib.sha256((top / name).read_bytes()).hexdigest() == digest, name
    wheels = _wheel_names(top / "wheels")
    assert "shopfloor-sync" in wheels
    assert _base_dependencies() <= wheels, _base_dependencies() - wheels
    assert not wheels & set(CENTRAL_ONLY), wheels & set(CENTRAL_ONLY)

    prefix = tmp_path / "opt"
    dead = f"http://127.0.0.1:{free_port()}/simple"  # any index access would fail
    # no PYTHONPATH: the box has only what install.sh put into the venv, not this checkout
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PIP_FIND_LINKS")}
    env = {**clean, "PYTHON": sys.executable, "PIP_INDEX_URL": dead, "PIP_EXTRA_INDEX_URL": dead}
    done = await asyncio.to_thread(
        subprocess.run, [str(top / "install.sh"), "--prefix", str(prefix), "--no-systemd"],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    venv = prefix / ".venv" / "bin"
    listed = await asyncio.to_thread(
        subprocess.run, [str(venv / "python"), "-m", "pip", "list", "--format=freeze"],
        capture_output=True, text=True, timeout=120, check=True,
    )
    installed = {_norm(line.split("==")[0]) for line in listed.stdout.splitlines() if "==" in line}
    assert "shopfloor-sync" in installed and not installed & set(CENTRAL_ONLY)
    where = await asyncio.to_thread(
        subprocess.run, [str(venv / "python"), "-c", "import edge; print(edge.__file__)"], cwd=tmp_path, env=clean,
        capture_output=True, text=True, timeout=120, check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(prefix), where.stdout  # the installed copy, not the checkout

    assert plant.opcua_endpoint is not None and plant.modbus_port is not None
    mapping = edge_mapping(plant.settings, opcua_endpoint=plant.opcua_endpoint, modbus_host="127.0.0.1",
                           modbus_port=plant.modbus_port, prefer=("modbus", "opcua"))
    config = tmp_path / "edge.toml"
    config.write_text(f'plant = "P1"\nedge = "edge-1"\n[outbox]\npath = "{tmp_path / "outbox.db"}"\n\n'
                      + edge_mapping_toml(mapping))
    # outside the checkout, so only the installed package can be imported
    probe = await asyncio.create_subprocess_exec(
        str(venv / "sfsync"), "edge", "probe", "--config", str(config), cwd=tmp_path, env=clean,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(probe.communicate(), timeout=120)
    text = out.decode()
    assert probe.returncode == 0, text + err.decode()
    assert "== source" in text and "quality good" in text
    assert "quality bad" not in text
    central = await asyncio.to_thread(
        subprocess.run, [str(venv / "sfsync"), "central", "serve"], cwd=tmp_path, env=clean,
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert central.returncode == 2 and "pip install 'shopfloor-sync[central]'" in central.stderr


def test_a_platform_without_wheels_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "never.tar.gz"
    code = main(["edge", "bundle", "--platform", "fakeos_arm99", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 2 and not out.exists()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "no wheel of" in lines[0] and "fakeos_arm99" in lines[0], captured.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--python-version", "3"], "is not 3.X"),
        (["--python-version", "3.9"], "3.11 or later"),
        (["--platform", "linux x86"], "not a wheel platform tag"),
        (["--find-links", "/nonexistent/wheels"], "no such directory"),
    ],
)
def test_bad_bundle_options(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["edge", "bundle", *args])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, err


def _install_script(directory: Path, python_version: str) -> Path:
    script = (ROOT / "deploy/bundle/install.sh").read_text()
    path = directory / "install.sh"
    path.write_text(script.replace("@PYTHON_VERSION@", python_version).replace("@VERSION@", "0.1.0"))
    path.chmod(0o755)
    return path


def test_install_refuses_another_python(tmp_path: Path) -> None:
    script = _install_script(tmp_path, "3.99")
    done = subprocess.run([str(script), "--prefix", str(tmp_path / "opt"), "--no-systemd"],
                          env={**os.environ, "PYTHON": sys.executable}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "this bundle is for Python 3.99" in done.stderr, done.stderr
    assert not (tmp_path / "opt").exists()


def test_install_refuses_a_damaged_bundle(tmp_path: Path) -> None:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    script = _install_script(tmp_path, version)
    (tmp_path / "edge.toml").write_text("changed after the bundle was built\n")
    (tmp_path / "SHA256SUMS").write_text(f"{hashlib.sha256(b'original').hexdigest()}  edge.toml\n")
    done = subprocess.run([str(script), "--prefix", str(tmp_path / "opt"), "--no-systemd"],
                          env={**os.environ, "PYTHON": sys.executable}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "checksums do not match" in done.stderr, done.stderr
    assert not (tmp_path / "opt").exists()
    bad = subprocess.run([str(script), "--frobnicate"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "unknown option --frobnicate" in bad.stderr
