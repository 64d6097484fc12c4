"""``sfsync`` with only [edge] installed: simulated in one subprocess where the extras' packages are absent.

The subprocess marks every top-level module of the central/sim extras as missing
(``sys.modules[name] = None``: ``import`` raises ``ModuleNotFoundError`` and
``importlib.util.find_spec`` answers None, exactly as when the package is not installed), then:

- imports every module of edge/, protocols/ and shared/ (none may need an extra);
- runs a list of ``sfsync`` command lines in-process and reports exit code and stderr of each.

Central, sim and demo commands must answer with the extra to install and exit 2; edge commands
must run (a bad config or target is their own one-line error, not an ImportError). A second run
switches the up-front check off to exercise the safety net: the handler's own
``ModuleNotFoundError`` is answered the same way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from sfsync.extras import EXTRA_MODULES

ROOT = Path(__file__).resolve().parents[2]
#: every top-level module an extra installs, and the ones they bring along that the edge never needs
BLOCKED = sorted(set(EXTRA_MODULES["all"]) - {"httpx"} | {"starlette", "multipart", "mako", "psycopg_binary"})

RUNNER = textwrap.dedent(
    """
    import contextlib, importlib, io, json, pathlib, sys
    blocked, commands, precheck = json.loads(sys.argv[1])
    for name in blocked:
        sys.modules[name] = None
    root = pathlib.Path.cwd()
    broken = []
    for package in ("edge", "protocols", "shared"):
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            try:
                importlib.import_module(".".join(parts))
            except ImportError as exc:
                broken.append(f"{'.'.join(parts)}: {exc!r}")
    import sfsync.cli as cli
    if not precheck:
        cli.missing_for = lambda command: None
    results = []
    for argv in commands:
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = cli.main(argv)
            except SystemExit as exc:
                code = exc.code
            except BaseException as exc:  # reported to the test, which fails on it
                code = "raised " + repr(exc)
        results.append({"argv": argv, "code": code, "err": err.getvalue()})
    print(json.dumps({"broken": broken, "results": results}))
    """
)


def run_blocked(commands: list[list[str]], *, precheck: bool = True) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, json.dumps([BLOCKED, commands, precheck])],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


CENTRAL_SIM_DEMO = [
    (["central", "serve"], "central"),
    (["central", "migrate"], "central"),
    (["central", "token", "--help"], None),  # help needs nothing
    (["sim", "--config", "sim.toml"], "sim"),
    (["demo", "--duration", "1"], "all"),
]


@pytest.fixture(scope="module")
def blocked_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    missing = tmp_path_factory.mktemp("cfg") / "missing.toml"
    commands = [argv for argv, _ in CENTRAL_SIM_DEMO] + [
        ["--help"],
        ["edge", "probe", "--config", str(missing)],
        ["edge", "scan", "modbus://nowhere:99999"],
        ["edge", "browse", "http://not-opc-ua"],
        ["edge", "bundle", "--python-version", "2.7"],
    ]
    return run_blocked(commands)


def test_edge_packages_import_without_the_extras(blocked_run: dict[str, Any]) -> None:
    assert blocked_run["broken"] == []


def test_central_sim_demo_name_the_extra_to_install(blocked_run: dict[str, Any]) -> None:
    results = {tuple(r["argv"]): r for r in blocked_run["results"]}
    for argv, extra in CENTRAL_SIM_DEMO:
        r = results[tuple(argv)]
        if extra is None:
            assert r["code"] == 0, r
            continue
        assert r["code"] == 2, r
        line = _one_line(r["err"])
        assert f"pip install 'shopfloor-sync[{extra}]'" in line, line
        assert line.startswith(f"sfsync {argv[0]}: needs the [{extra}] extra"), line


def test_edge_commands_run_without_the_extras(blocked_run: dict[str, Any]) -> None:
    results = {tuple(r["argv"][:2]): r for r in blocked_run["results"]}
    assert results[("--help",)]["code"] == 0
    probe = results[("edge", "probe")]
    assert probe["code"] == 2 and "configuration error" in _one_line(probe["err"]) and "file not found" in probe["err"]
    scan = results[("edge", "scan")]
    assert scan["code"] == 2 and "port 99999" in _one_line(scan["err"])
    browse = results[("edge", "browse")]
    assert browse["code"] == 2 and "endpoint" in _one_line(browse["err"])
    bundle = results[("edge", "bundle")]
    assert bundle["code"] == 2 and "--python-version" in _one_line(bundle["err"])
    assert not any("shopfloor-sync[" in r["err"] for r in blocked_run["results"] if r["argv"][0] == "edge")


def test_a_handlers_missing_module_is_answered_the_same_way() -> None:
    """Without the up-front check the handler's own import fails: the dispatch still names the extra."""
    run = run_blocked([["central", "migrate"], ["demo", "--duration", "1"]], precheck=False)
    for r in run["results"]:
        assert r["code"] == 2, r
        line = _one_line(r["err"])
        assert "pip install 'shopfloor-sync[" in line and "missing:" in line, line
