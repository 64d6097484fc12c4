"""The ``sfsync`` command line: one entry point, each package registers its own commands.

``shared`` must not import ``edge`` or ``central``, so the composition lives here: every
package listed in :data:`COMMAND_MODULES` exposes ``register(subparsers)`` that adds its
commands and sets ``func(args) -> int`` as the handler. Heavy imports stay inside handlers
so ``--help`` is instant.

Optional extras (issue 17): registering a command imports nothing beyond the base install;
the handler is the boundary where ``central``/``sim``/``demo`` import their extra's packages.
Before a handler runs, :mod:`sfsync.extras` checks the command's extra is installed, and a
``ModuleNotFoundError`` for an extra's module is answered the same way: one line naming the
extra to install, exit 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from sfsync.extras import extra_of_module, install_hint, missing_for
from shared.config import ConfigError
from shared.logs import setup_logging

COMMAND_MODULES = ("sfsync.demo", "device_sim.cli", "edge.cli", "central.entrypoints.cli")


def _version() -> str:
    try:
        return version("shopfloor-sync")
    except PackageNotFoundError:
        return "0+unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sfsync",
        description="shopfloor-sync: PLC events to a governed production cost ledger.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="logging level (default INFO)",
    )
    parser.add_argument("--json-logs", action="store_true", help="log one JSON object per line")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.log_level, args.json_logs)
    func = getattr(args, "func", None)
    if func is None:
        parser.parse_args([*(argv or sys.argv[1:]), "--help"])
        return 2
    missing = missing_for(args.command)
    if missing is not None:
        print(install_hint(args.command, *missing), file=sys.stderr)
        return 2
    try:
        code: int = func(args)
    except ModuleNotFoundError as exc:
        extra = extra_of_module(exc.name)
        if extra is None:
            raise
        print(install_hint(args.command, extra, [str(exc.name)]), file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"sfsync: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
