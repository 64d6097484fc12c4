"""Import cycles through package ``__init__`` modules, which the module graph alone misses.

``import a.b.c`` runs ``a/__init__.py`` and ``a/b/__init__.py`` first, so a module that imports
``a.b.c`` depends on those packages too. A cycle through a package's ``__init__`` fails at import
time only when the modules are imported in a particular order (one process once imported the SQL
unit of work first and found a governance module half-initialised), so it is checked here on the
source. The packages the importer itself lives in are left out: they are already being
initialised when it runs, and a package re-exporting its own modules is no cycle.
"""

from __future__ import annotations

from test_import_graph import _cycles, imports, modules


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:end]) for end in range(1, len(parts))]


def _edges() -> dict[str, set[str]]:
    ours = modules()
    edges: dict[str, set[str]] = {name: set() for name in ours}
    for imp in imports():
        if imp.imported not in ours or imp.imported == imp.importer:
            continue
        own = {*_ancestors(imp.importer), imp.importer}
        edges[imp.importer].add(imp.imported)
        edges[imp.importer] |= {p for p in _ancestors(imp.imported) if p in ours and p not in own}
    return edges


def test_no_import_cycles_through_package_inits() -> None:
    components = _cycles(_edges())
    assert not components, "modules in import cycles once package __init__ modules count:\n" + "\n".join(
        ", ".join(c) for c in components)


def test_a_package_init_edge_is_counted() -> None:
    """The events router imports ingest.operations, which runs the ingest package first."""
    assert "central.service_layer.ingest" in _edges()["central.entrypoints.api.routers.events"]
