"""The [edge] install boundary (issue 17): what edge/, protocols/ and shared/ import vs pyproject.toml.

``pip install 'shopfloor-sync[edge]'`` installs only the base dependencies. Every import in
edge/, protocols/ and shared/ (module level, inside functions, under ``TYPE_CHECKING``: the
AST sees them all) and in sfsync's command dispatch must therefore be the standard library,
one of those packages, or a base dependency. The reverse holds too: a base dependency nothing
on the edge imports is weight the edge box does not need. The extras' module lists that
``sfsync`` checks before running a central/sim/demo command (sfsync/extras.py) must match the
extras declared in pyproject.toml.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterator
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

from sfsync.extras import EXTRA_MODULES, IMPORT_NAMES

ROOT = Path(__file__).resolve().parents[2]
EDGE_PACKAGES = ("edge", "protocols", "shared")
#: the modules ``sfsync`` loads to dispatch any command (the rest of sfsync is the demo: [all])
SFSYNC_EDGE_PATH = ("sfsync/__init__.py", "sfsync/cli.py", "sfsync/extras.py")
OURS = ("edge", "protocols", "shared", "central", "device_sim", "sfsync")
#: imports provided by a base dependency under another distribution name, each with the reason.
#: pydantic_core: pydantic pins its pydantic-core release exactly; shared/contract.py uses its
#: public PydanticCustomError, so listing pydantic-core separately could only disagree with pydantic.
PROVIDED_BY = {"pydantic_core": "pydantic"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@cache
def pyproject() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as fh:
        return tomllib.load(fh)


def _dist(requirement: str) -> str:
    m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert m is not None, requirement
    return _norm(m.group(1))


def base_dependencies() -> set[str]:
    project = pyproject()["project"]
    assert isinstance(project, dict)
    return {_dist(r) for r in project["dependencies"]}


def extra(name: str) -> set[str]:
    project = pyproject()["project"]
    assert isinstance(project, dict)
    return {_dist(r) for r in project["optional-dependencies"][name]}


def module_of(dist: str) -> str:
    return IMPORT_NAMES.get(dist, dist.replace("-", "_"))


def _files() -> Iterator[Path]:
    for package in EDGE_PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))
    for name in SFSYNC_EDGE_PATH:
        yield ROOT / name


def top_level_imports(path: Path) -> Iterator[tuple[str, int]]:
    """(top-level module, line) of every absolute import anywhere in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            yield node.module.split(".")[0], node.lineno


@cache
def third_party() -> dict[str, list[str]]:
    """top-level module -> where it is imported (file:line), for the edge files."""
    found: dict[str, list[str]] = {}
    for path in _files():
        for module, line in top_level_imports(path):
            if module in sys.stdlib_module_names or module == "__future__" or module in OURS:
                continue
            found.setdefault(module, []).append(f"{path.relative_to(ROOT)}:{line}")
    return found


def distribution_of(module: str) -> str | None:
    if module in PROVIDED_BY:
        return PROVIDED_BY[module]
    by_name = {module_of(d): d for d in base_dependencies()}
    if module in by_name:
        return by_name[module]
    dists = packages_distributions().get(module)
    return _norm(dists[0]) if dists else None


def test_edge_code_imports_only_base_dependencies() -> None:
    base = base_dependencies()
    wrong = {
        module: where for module, where in third_party().items() if distribution_of(module) not in base
    }
    report = "\n  ".join(f"{m} ({distribution_of(m) or 'not installed'}): {', '.join(w)}" for m, w in wrong.items())
    assert not wrong, f"edge code imports packages outside [edge] ({sorted(base)}):\n  {report}"


def test_every_base_dependency_is_imported_on_the_edge() -> None:
    used = {distribution_of(m) for m in third_party()}
    unused = base_dependencies() - used
    assert not unused, f"base dependencies nothing in {', '.join(EDGE_PACKAGES)} imports: {sorted(unused)}"


def test_edge_extra_is_the_base_install() -> None:
    assert extra("edge") == set()


def test_extra_module_lists_match_pyproject() -> None:
    for name in ("central", "sim"):
        declared = {module_of(d) for d in extra(name)}
        assert declared == set(EXTRA_MODULES[name]), (name, declared ^ set(EXTRA_MODULES[name]))
    assert extra("all") == extra("central") | extra("sim")
    assert set(EXTRA_MODULES["all"]) == set(EXTRA_MODULES["central"]) | set(EXTRA_MODULES["sim"])


def test_no_central_framework_in_the_base_install() -> None:
    heavy = {"fastapi", "uvicorn", "sqlalchemy", "alembic", "psycopg", "amqtt", "jinja2", "python-multipart"}
    assert not heavy & base_dependencies()


def test_the_collector_sees_function_level_and_type_checking_imports(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import fastapi\n"
        "def f() -> None:\n    from sqlalchemy.orm import Session\n    from . import sibling\n",
        encoding="utf-8",
    )
    assert {m for m, _ in top_level_imports(source)} == {"typing", "fastapi", "sqlalchemy"}
