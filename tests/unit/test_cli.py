"""The ``sfsync`` command line: every command has --help, --version works, config errors are one line."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from sfsync.cli import build_parser, main

EXPECTED = {
    ("demo",),
    ("sim",),
    ("edge", "run"),
    ("edge", "probe"),
    ("edge", "status"),
    ("edge", "browse"),
    ("edge", "scan"),
    ("edge", "bundle"),
    ("central", "serve"),
    ("central", "migrate"),
    ("central", "load"),
    ("central", "token"),
}


def command_paths(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    found: set[tuple[str, ...]] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                path = (*prefix, name)
                children = command_paths(sub, path)
                found |= {path} | children
    return found


def test_every_api_md_command_is_registered() -> None:
    assert command_paths(build_parser()) >= EXPECTED


@pytest.mark.parametrize("path", sorted(EXPECTED))
def test_help_everywhere(path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([*path, "--help"])
    assert info.value.code == 0
    assert "usage: sfsync" in capsys.readouterr().out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.startswith("sfsync 0.")


@pytest.mark.parametrize("command", [["edge", "run"], ["central", "serve"], ["sim"]])
def test_bad_config_is_one_line_not_a_traceback(tmp_path: Path, command: list[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("this is = = not toml\n")
    proc = subprocess.run(
        [sys.executable, "-m", "sfsync.cli", *command, "--config", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert str(bad) in proc.stderr and "not valid TOML" in proc.stderr
