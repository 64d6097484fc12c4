"""``sfsync edge bundle`` / ``make bundle``: one archive to install an edge box without internet.

The archive (``dist/sfsync-edge-<version>-py<X.Y>-<platform>.tar.gz``) holds one directory::

    wheels/               the project wheel and every wheel of its [edge] dependencies
    install.sh            creates a venv, pip install --no-index --find-links wheels (deploy/bundle)
    sfsync-edge.service   the systemd unit (deploy/systemd)
    edge.toml             the annotated example configuration (deploy/examples/edge.toml)
    SHA256SUMS            checked by install.sh before it installs
    README.txt            what the bundle is for (Python version, platform, wheel list)

The dependencies (the base list of pyproject.toml, which is the [edge] install) are fetched
first with ``pip download --only-binary=:all: --python-version X.Y [--platform TAG ...]``:
wheels only, for the target's Python and platform, not this machine's. Then the project wheel
is built from this source checkout (copied to a temporary directory first, so the checkout
gets no build/ or egg-info). A dependency without a wheel for the
target is a :class:`BundleError` naming it (one line, exit 2); docs/deploy-edge.md says what to
do (build that wheel on a box of the target's kind and pass ``--find-links``).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import tomllib
from collections.abc import Sequence
from pathlib import Path

__all__ = ["BundleError", "build_bundle", "DEFAULT_PYTHON", "ROOT", "missing_wheel"]

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
#: what the project wheel is built from (as the Dockerfile copies it)
_SOURCES = ("shared", "protocols", "edge", "central", "device_sim", "sfsync")
_FILES = ("pyproject.toml", "README.md")
_TEMPLATE = ROOT / "deploy" / "bundle" / "install.sh"
_UNIT = ROOT / "deploy" / "systemd" / "sfsync-edge.service"
_CONFIG = ROOT / "deploy" / "examples" / "edge.toml"


class BundleError(Exception):
    """Why the bundle cannot be built: the one line printed."""


def _project() -> tuple[str, list[str]]:
    """The project's version and its base ([edge]) requirements, from pyproject.toml."""
    path = ROOT / "pyproject.toml"
    try:
        project = tomllib.loads(path.read_text(encoding="utf-8"))["project"]
        return str(project["version"]), [str(r) for r in project["dependencies"]]
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise BundleError(f"cannot read the version and dependencies from {path}: {exc!r}") from exc


def _check_checkout() -> None:
    needed = [ROOT / f for f in _FILES] + [ROOT / d for d in _SOURCES] + [_TEMPLATE, _UNIT, _CONFIG]
    missing = [str(p.relative_to(ROOT)) for p in needed if not p.exists()]
    if missing:
        raise BundleError(
            f"the bundle is built from a source checkout; {ROOT} lacks {', '.join(missing)} "
            "(git clone the project and run make bundle there)"
        )


def missing_wheel(pip_output: str) -> str | None:
    """The requirement pip found no wheel for, from ``pip download``'s output (None: another failure)."""
    m = re.search(r"No matching distribution found for (\S+)", pip_output)
    if m is not None:
        return m.group(1)
    m = re.search(r"Could not find a version that satisfies the requirement (\S+)", pip_output)
    return m.group(1) if m is not None else None


def _last_error(output: str) -> str:
    errors = [line.strip() for line in output.splitlines() if line.strip().startswith("ERROR:")]
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return (errors or lines or ["(no output)"])[-1].removeprefix("ERROR: ")


def _pip(args: Sequence[str], what: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise BundleError(f"{what}: cannot run pip: {exc}") from exc


def _build_project_wheel(dest: Path, index: list[str]) -> Path:
    with tempfile.TemporaryDirectory(prefix="sfsync-src-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for name in _FILES:
            shutil.copy2(ROOT / name, src / name)
        for name in _SOURCES:
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        done = _pip(["wheel", "--quiet", "--no-deps", *index, "--wheel-dir", str(dest), str(src)], "building")
    if done.returncode != 0:
        raise BundleError(f"building the project wheel failed: {_last_error(done.stderr + done.stdout)}")
    wheels = sorted(dest.glob("shopfloor_sync-*.whl"))
    if not wheels:
        raise BundleError("building the project wheel produced no shopfloor_sync wheel")
    return wheels[-1]


def _target_options(python_version: str, platforms: Sequence[str]) -> list[str]:
    nodot = python_version.replace(".", "")
    options = ["--only-binary=:all:", "--python-version", python_version, "--implementation", "cp"]
    options += ["--abi", f"cp{nodot}", "--abi", "abi3", "--abi", "none"]
    for platform in platforms:
        options += ["--platform", platform]
    return options


def _platform_label(platforms: Sequence[str]) -> str:
    label = platforms[0] if platforms else sysconfig.get_platform()
    return re.sub(r"[^A-Za-z0-9_.]+", "_", label)


def build_bundle(
    *,
    python_version: str = DEFAULT_PYTHON,
    platforms: Sequence[str] | None = None,
    out: Path | None = None,
    find_links: Sequence[str] = (),
    no_index: bool = False,
) -> Path:
    """Build the archive and return its path; :class:`BundleError` says why it cannot be."""
    if re.fullmatch(r"3\.\d{1,2}", python_version) is None:
        raise BundleError(f"--python-version {python_version!r} is not 3.X (e.g. 3.11)")
    if int(python_version.split(".")[1]) < 11:
        raise BundleError(f"--python-version {python_version}: shopfloor-sync needs Python 3.11 or later")
    platforms = list(platforms or [])
    for platform in platforms:
        if re.fullmatch(r"[A-Za-z0-9_.]+", platform) is None:
            raise BundleError(f"--platform {platform!r} is not a wheel platform tag (e.g. manylinux2014_aarch64)")
    for link in find_links:
        if not Path(link).is_dir():
            raise BundleError(f"--find-links {link}: no such directory")
    _check_checkout()
    version, requirements = _project()
    name = f"sfsync-edge-{version}-py{python_version}-{_platform_label(platforms)}"
    archive = out if out is not None else ROOT / "dist" / f"{name}.tar.gz"
    index = ["--no-index"] if no_index else []
    for link in find_links:
        index += ["--find-links", str(Path(link).resolve())]

    with tempfile.TemporaryDirectory(prefix="sfsync-bundle-") as tmp:
        top = Path(tmp) / name
        wheels = top / "wheels"
        wheels.mkdir(parents=True)
        # the dependencies first: a target without wheels fails here, before the wheel build
        target = _target_options(python_version, platforms)
        done = _pip(["download", "--quiet", "--dest", str(wheels), *index, *target, *requirements], "downloading")
        if done.returncode != 0:
            output = done.stderr + done.stdout
            where = f"Python {python_version} on {', '.join(platforms) or sysconfig.get_platform()}"
            missing = missing_wheel(output)
            if missing is not None:
                raise BundleError(
                    f"no wheel of {missing} for {where}: build it there (pip wheel) and pass --find-links DIR "
                    "(docs/deploy-edge.md)"
                )
            raise BundleError(f"downloading the [edge] wheels for {where} failed: {_last_error(output)}")
        _build_project_wheel(wheels, index)
        _write_files(top, version, python_version, platforms)
        archive.parent.mkdir(parents=True, exist_ok=True)
        partial = archive.with_name(archive.name + ".part")
        with tarfile.open(partial, "w:gz") as tar:
            tar.add(top, arcname=name)
        partial.replace(archive)
    return archive


def _write_files(top: Path, version: str, python_version: str, platforms: Sequence[str]) -> None:
    script = _TEMPLATE.read_text(encoding="utf-8")
    script = script.replace("@PYTHON_VERSION@", python_version).replace("@VERSION@", version)
    (top / "install.sh").write_text(script, encoding="utf-8")
    (top / "install.sh").chmod(0o755)
    shutil.copy2(_UNIT, top / "sfsync-edge.service")
    shutil.copy2(_CONFIG, top / "edge.toml")
    wheels = sorted(p.name for p in (top / "wheels").glob("*.whl"))
    where = ", ".join(platforms) if platforms else f"{sysconfig.get_platform()} (the building machine's)"
    (top / "README.txt").write_text(
        f"shopfloor-sync {version}: offline install of the edge agent\n"
        f"target: Python {python_version} on {where}\n\n"
        "  sudo ./install.sh                         venv in /opt/sfsync/.venv, systemd unit, /etc/sfsync/edge.toml\n"
        "  ./install.sh --prefix DIR --no-systemd    just the venv\n\n"
        "Then map the PLC (sfsync edge browse opc.tcp://... / sfsync edge scan modbus://...), check the\n"
        "mapping (sfsync edge probe --config /etc/sfsync/edge.toml) and start the service\n"
        "(systemctl enable --now sfsync-edge). Step by step: docs/deploy-edge.md of the project.\n\n"
        f"wheels ({len(wheels)}):\n" + "".join(f"  {w}\n" for w in wheels),
        encoding="utf-8",
    )
    sums = []
    for path in sorted(top.rglob("*")):
        if path.is_file():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            sums.append(f"{digest}  {path.relative_to(top).as_posix()}\n")
    (top / "SHA256SUMS").write_text("".join(sums), encoding="utf-8")
