"""The dependency rules of the layout (docs/architecture.md), checked on the source text.

Every module of the product packages is parsed with :mod:`ast` and every ``import`` and
``from ... import`` anywhere in its tree is collected: module level, inside functions, under
``if TYPE_CHECKING:``. A function-local import is still a dependency; counting it is what stops
one from hiding a cycle. Relative imports are resolved against the importing module.

Each rule is its own test and lists every violation it finds (``file:line importer -> imported``),
so a failure says what to move rather than stopping at the first offender.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("shared", "protocols", "edge", "central", "device_sim", "sfsync")

# Where each third-party framework may be imported: the adapters and entry points that own it.
PAHO_ALLOWED = ("central.adapters.mqtt", "edge.forwarder")
WEB_ALLOWED = ("central.entrypoints",)
# Which product packages each may import (docs/architecture.md, "Packages"): shared is the bottom.
PACKAGE_DEPENDENCIES: dict[str, tuple[str, ...]] = {
    "shared": (),
    "protocols": ("shared",),
    "edge": ("shared", "protocols"),
    "central": ("shared",),
    "device_sim": ("shared",),
    "sfsync": ("shared", "device_sim"),
}
# Adapters import nothing above them: no service layer, entry point or bootstrap, not even an
# interface. The interfaces the handlers are written against (the abstract unit of work, the
# repositories' protocols, the clock) live in the adapters beside their implementations, the value
# types they carry in the domain; the service layer re-exports them (service_layer.unit_of_work).
# Migrations import no service code either.
ABOVE_ADAPTERS = ("central.service_layer", "central.entrypoints", "central.bootstrap")
MIGRATIONS = ROOT / "central" / "adapters" / "db" / "migrations" / "versions"
DOMAIN_FORBIDDEN = (
    "central.adapters", "central.service_layer", "central.entrypoints", "central.bootstrap",
    "sqlalchemy", "fastapi", "starlette", "paho",
)


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str  # the deepest product module the statement names, or the third-party name as written
    path: Path
    line: int

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line} {self.importer} -> {self.imported}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts and "versions" in path.parts:
                continue  # Alembic revisions are loaded by file, not imported
            found[_module_name(path)] = path
    return found


def _is_package(name: str) -> bool:
    path = modules().get(name)
    return (path is not None and path.name == "__init__.py") or (ROOT / name.replace(".", "/")).is_dir()


def _resolve(name: str) -> str:
    """The longest prefix of a dotted name that is one of our modules, else the name itself."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules():
            return candidate
    return name


def _base(importer: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = importer if _is_package(importer) else importer.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def _imports_of(name: str, path: Path) -> Iterator[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(name, _resolve(alias.name), path, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = _base(name, node)
            for alias in node.names:
                # ``from pkg import mod`` depends on pkg.mod when that is a module, else on pkg.
                target = _resolve(f"{base}.{alias.name}") if alias.name != "*" else base
                yield Import(name, target if target in modules() else _resolve(base), path, node.lineno)


@cache
def imports() -> tuple[Import, ...]:
    return tuple(imp for name, path in modules().items() for imp in _imports_of(name, path))


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _report(title: str, found: list[Import]) -> str:
    lines = sorted({str(i) for i in found})
    return f"{title} ({len(lines)}):\n  " + "\n  ".join(lines)


# ---------------------------------------------------------------------- cycles


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (or a module importing itself)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(start: str) -> None:  # iterative Tarjan: the graph is deep enough to worry recursion
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in edges.get(node, ()):
                    found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def _shortest_cycle(start: str, edges: dict[str, set[str]], within: set[str]) -> list[str]:
    """``[start, ..., start]``: the fewest imports that lead from ``start`` back to it."""
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for child in sorted(edges[node] & within):
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start] if len(path) > 1 else [start, start]
                if child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    return []


def _where(importer: str, imported: str) -> str:
    lines = sorted({i.line for i in imports() if i.importer == importer and i.imported == imported})
    path = modules()[importer].relative_to(ROOT)
    return f"{path}:{','.join(map(str, lines))}"


def test_no_import_cycles_in_the_product_packages() -> None:
    ours = modules()
    edges: dict[str, set[str]] = {name: set() for name in ours}
    for imp in imports():
        if imp.imported in ours and imp.imported != imp.importer:
            edges[imp.importer].add(imp.imported)
    components = _cycles(edges)
    report: list[str] = []
    for component in components:
        members = set(component)
        report.append(f"modules importing each other: {', '.join(component)}")
        shown: set[frozenset[str]] = set()
        for start in component:
            cycle = _shortest_cycle(start, edges, members)
            if frozenset(cycle) in shown:
                continue
            shown.add(frozenset(cycle))
            report.append("  cycle: " + " -> ".join(cycle))
            report += [f"    {a} -> {b}  ({_where(a, b)})" for a, b in itertools.pairwise(cycle)]
    assert not components, f"{len(components)} group(s) of modules in import cycles:\n" + "\n".join(report)


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


# ---------------------------------------------------------------------- layers


def test_the_central_domain_is_pure() -> None:
    found = [i for i in imports() if _under(i.importer, ("central.domain",)) and _under(i.imported, DOMAIN_FORBIDDEN)]
    assert not found, _report("central.domain imports adapters, services, entry points or frameworks", found)


def test_fastapi_and_starlette_only_in_central_entrypoints() -> None:
    found = [i for i in imports()
             if _under(i.imported, ("fastapi", "starlette")) and not _under(i.importer, WEB_ALLOWED)]
    assert not found, _report("FastAPI/Starlette imported outside central.entrypoints", found)


def test_paho_only_in_the_two_mqtt_adapters() -> None:
    found = [i for i in imports() if _under(i.imported, ("paho",)) and i.importer not in PAHO_ALLOWED]
    assert not found, _report(f"paho imported outside {', '.join(PAHO_ALLOWED)}", found)


def test_shared_imports_nothing_of_ours() -> None:
    others = tuple(p for p in PRODUCT if p != "shared")
    found = [i for i in imports() if _under(i.importer, ("shared",)) and _under(i.imported, others)]
    assert not found, _report("shared imports from the other product packages", found)


def test_relative_and_function_level_imports_are_seen(tmp_path: Path) -> None:
    """The collector sees what a reviewer would: an import inside a function body counts."""
    source = tmp_path / "costing.py"
    source.write_text("def f() -> None:\n    from . import money\n    from .. import bootstrap\n"
                      "    import paho.mqtt.client\n", encoding="utf-8")
    found = {i.imported for i in _imports_of("central.domain.costing", source)}
    assert found == {"central.domain.money", "central.bootstrap", "paho.mqtt.client"}


def test_packages_import_only_the_packages_below_them() -> None:
    found = [i for i in imports()
             if (target := i.imported.split(".")[0]) in PRODUCT and target != i.importer.split(".")[0]
             and target not in PACKAGE_DEPENDENCIES[i.importer.split(".")[0]]]
    assert not found, _report("imports across packages that docs/architecture.md does not allow", found)


def test_adapters_never_import_the_service_layer_or_entry_points() -> None:
    found = [i for i in imports()
             if _under(i.importer, ("central.adapters",)) and _under(i.imported, ABOVE_ADAPTERS)]
    assert not found, _report("adapters importing the service layer, entry points or bootstrap", found)


def test_migrations_import_no_service_code() -> None:
    """A revision must not change when the service does: it carries frozen copies of what it runs."""
    revisions = sorted(MIGRATIONS.glob("*.py"))
    assert revisions, MIGRATIONS
    found = [i for path in revisions for i in _imports_of(_module_name(path), path)
             if _under(i.imported, ABOVE_ADAPTERS)]
    assert not found, _report("migrations importing the service layer or entry points", found)
