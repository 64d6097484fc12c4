"""Which optional extra each ``sfsync`` command needs, and the one-line answer when it is missing.

``pip install 'shopfloor-sync[edge]'`` installs only the base dependencies (what ``edge/``,
``protocols/`` and ``shared/`` import). The ``central``, ``sim`` and ``demo`` commands need an
extra; their handlers import the heavy packages inside the handler (the command boundary), so
``sfsync --help`` and every ``edge`` command work without them. Before a handler runs,
:func:`missing_for` checks (without importing anything) that the modules of the command's extra
are installed; when one is not, ``sfsync`` prints :func:`install_hint` and exits 2 instead of
an ``ImportError`` traceback. tests/unit/test_import_boundary.py checks that
:data:`EXTRA_MODULES` matches the extras in pyproject.toml.
"""

from __future__ import annotations

import importlib.util

__all__ = ["COMMAND_EXTRAS", "EXTRA_MODULES", "IMPORT_NAMES", "missing_for", "install_hint", "extra_of_module"]

#: top-level command -> the extra it needs (commands not listed need only the base install)
COMMAND_EXTRAS: dict[str, str] = {"central": "central", "sim": "sim", "demo": "all"}

#: distribution name (as in pyproject.toml, lower case) -> the module it installs, where they differ
IMPORT_NAMES: dict[str, str] = {
    "paho-mqtt": "paho",
    "pyyaml": "yaml",
    "python-multipart": "python_multipart",
    "psycopg": "psycopg",
}

#: extra -> the top-level modules its distributions install (checked against pyproject.toml)
EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "central": (
        "fastapi", "uvicorn", "sqlalchemy", "alembic", "psycopg", "httpx", "yaml", "jinja2", "python_multipart",
    ),
    "sim": ("amqtt", "yaml", "httpx"),
}
EXTRA_MODULES["all"] = tuple(dict.fromkeys(EXTRA_MODULES["central"] + EXTRA_MODULES["sim"]))


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package that fails to import, or a broken __spec__
        return False


def missing_for(command: str) -> tuple[str, list[str]] | None:
    """``(extra, missing modules)`` when ``command`` needs an extra that is not fully installed."""
    extra = COMMAND_EXTRAS.get(command)
    if extra is None:
        return None
    missing = [m for m in EXTRA_MODULES[extra] if not _installed(m)]
    return (extra, missing) if missing else None


def extra_of_module(module: str | None) -> str | None:
    """The smallest extra that installs ``module`` (a top-level or dotted name), or None."""
    if not module:
        return None
    top = module.split(".")[0]
    return next((extra for extra, mods in EXTRA_MODULES.items() if top in mods), None)


def install_hint(command: str, extra: str, missing: list[str]) -> str:
    """The one line printed instead of a traceback."""
    return (
        f"sfsync {command}: needs the [{extra}] extra (missing: {', '.join(missing)}): "
        f"pip install 'shopfloor-sync[{extra}]'"
    )
