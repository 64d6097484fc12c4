"""``sfsync edge browse|scan|bundle``: the commands of an edge box's first hour (issue 17).

``browse`` lists an OPC UA server's variables (:mod:`edge.browse`), ``scan`` reads a Modbus
device's holding and input registers (:mod:`edge.scan`), ``bundle`` builds the offline install
archive (:mod:`edge.bundle`). Every failure a user can cause (bad option, unreachable or
refusing server, wrong security policy, refused register range, a target platform without
wheels) is one line on stderr and exit status 2, never a traceback; browse and scan never write
to the PLC. As in :mod:`edge.cli`, the handlers import asyncua/pymodbus code when they run, so
``sfsync --help`` stays instant.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from edge.bundle import DEFAULT_PYTHON, BundleError, build_bundle
from shared.config import read_toml

if TYPE_CHECKING:
    from protocols.config import OpcUaSourceConfig

__all__ = ["register_onboarding"]

PASSWORD_ENV = "SFSYNC_OPCUA_PASSWORD"
KEY_PASSWORD_ENV = "SFSYNC_OPCUA_KEY_PASSWORD"


def register_onboarding(cmds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add browse, scan and bundle under ``sfsync edge``."""
    text = ("walk an OPC UA server's address space: browse paths, node ids, data types, access levels, "
            "current values; --toml prints ready tag entries")
    b = cmds.add_parser("browse", help=text, description=text)
    b.add_argument("endpoint", nargs="?", help="opc.tcp://HOST:PORT (or take it from --config/--source)")
    b.add_argument("--depth", type=int, default=20, help="levels below Objects to walk (default 20)")
    b.add_argument("--limit", type=int, default=2000, help="stop after this many nodes (default 2000)")
    b.add_argument("--match", metavar="PATTERN",
                   help="keep variables whose browse path (pattern with '/') or browse name matches this glob")
    b.add_argument("--toml", action="store_true", help="print tag entries (browse path form) for the variables")
    b.add_argument("--namespace-uri", help="the namespace whose segments are written without an index prefix")
    b.add_argument("--standard-nodes", action="store_true",
                   help="also walk the namespace-0 nodes under Objects (Server diagnostics, Aliases, Locations)")
    b.add_argument("--config", type=Path, help="edge TOML: take endpoint, security and user from a source in it")
    b.add_argument("--source", help="the source's name in --config (default: the only OPC UA source)")
    b.add_argument("--security-mode", choices=["None", "Sign", "SignAndEncrypt"], default=None)
    b.add_argument("--security-policy", choices=["Basic256Sha256", "Aes128Sha256RsaOaep", "Aes256Sha256RsaPss"],
                   default=None)
    b.add_argument("--certificate", help="client certificate (PEM or DER)")
    b.add_argument("--private-key", help="client private key (PEM)")
    b.add_argument("--server-certificate", help="the server's certificate (PEM or DER)")
    b.add_argument("--username")
    b.add_argument("--timeout", type=float, default=None, help="seconds per request (default 4)")
    b.epilog = f"Passwords come from the environment: {PASSWORD_ENV} (user), {KEY_PASSWORD_ENV} (private key)."
    b.set_defaults(func=_browse)

    text = ("read holding (FC 3) and input (FC 4) registers of a Modbus device over a range, in blocks, "
            "skipping refused ranges; non-zero registers with 16/32-bit decodings in every byte/word order")
    s = cmds.add_parser("scan", help=text, description=text + ". Never writes.")
    s.add_argument("target", help="modbus://HOST:PORT")
    s.add_argument("--range", dest="range_", default="0-99", metavar="A-B", help="register addresses (default 0-99)")
    s.add_argument("--unit", type=int, default=1, help="unit / device id (default 1)")
    s.add_argument("--block", type=int, default=100, help="registers per request, 1..125 (default 100)")
    s.add_argument("--table", choices=["both", "holding", "input"], default="both", help="which registers to read")
    s.add_argument("--timeout", type=float, default=3.0, help="seconds per request (default 3)")
    s.set_defaults(func=_scan)

    text = ("build the offline install archive for an edge box: project wheel, every [edge] dependency wheel, "
            "systemd unit, annotated edge.toml, install.sh")
    d = cmds.add_parser("bundle", help=text, description=text)
    d.add_argument("--python-version", default=DEFAULT_PYTHON, help=f"target Python X.Y (default {DEFAULT_PYTHON})")
    d.add_argument("--platform", action="append", default=None, metavar="TAG",
                   help="target platform tag for pip download, e.g. manylinux2014_aarch64 (repeatable; "
                   "default: this machine's)")
    d.add_argument("--out", type=Path, default=None, help="archive path (default dist/sfsync-edge-...tar.gz)")
    d.add_argument("--find-links", action="append", default=[], metavar="DIR",
                   help="also take wheels from this directory (repeatable)")
    d.add_argument("--no-index", action="store_true", help="take wheels only from --find-links, not the index")
    d.set_defaults(func=_bundle)


def _quiet_libraries(args: argparse.Namespace) -> None:
    """asyncua/pymodbus log their own view of a failure (a refused connect, a timeout): the command
    reports it in its one line, so their records are kept only with ``sfsync --log-level DEBUG``."""
    if getattr(args, "log_level", "INFO") != "DEBUG":
        for name in ("pymodbus", "asyncua"):
            logging.getLogger(name).setLevel(logging.CRITICAL)


def _fail(message: str) -> int:
    print(f"sfsync edge: {message}", file=sys.stderr)
    return 2


def _validation_line(exc: ValidationError) -> str:
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": str(exc)}
    where = ".".join(str(p) for p in first.get("loc", ())) or "options"
    return f"{where}: {first.get('msg', '')}".removeprefix("Value error, ")


def _browse_config(args: argparse.Namespace) -> OpcUaSourceConfig:
    from edge.browse import BrowseError
    from protocols.config import OpcUaSourceConfig

    base: dict[str, object] = {}
    if args.config is not None:
        # only the sources are read (machines may not be mapped yet: that is what browse is for)
        raw = read_toml(args.config).get("sources", [])
        sources = [s for s in raw if isinstance(s, dict) and s.get("protocol") == "opcua"]
        if args.source is not None:
            sources = [s for s in sources if s.get("name") == args.source]
        if len(sources) != 1:
            which = f"named {args.source!r}" if args.source else "(give --source NAME)"
            raise BrowseError(f"{args.config}: {len(sources)} OPC UA sources {which}; need exactly one")
        base = {k: v for k, v in sources[0].items() if k != "tags"}
    elif args.source is not None:
        raise BrowseError("--source needs --config")
    options = {
        "endpoint": args.endpoint,
        "security_mode": args.security_mode,
        "security_policy": args.security_policy,
        "certificate": args.certificate,
        "private_key": args.private_key,
        "server_certificate": args.server_certificate,
        "username": args.username,
        "password": os.environ.get(PASSWORD_ENV) or None,
        "private_key_password": os.environ.get(KEY_PASSWORD_ENV) or None,
        "request_timeout_s": args.timeout,
    }
    doc = {**base, **{k: v for k, v in options.items() if v is not None}}
    doc.setdefault("name", "browse")
    if "endpoint" not in doc:
        raise BrowseError("give the endpoint, opc.tcp://HOST:PORT (or --config with an OPC UA source)")
    try:
        return OpcUaSourceConfig.model_validate(doc)
    except ValidationError as exc:
        raise BrowseError(_validation_line(exc)) from None


def _browse(args: argparse.Namespace) -> int:
    from edge.browse import BrowseError, browse_server, select, toml_lines, tree_lines

    _quiet_libraries(args)
    try:
        config = _browse_config(args)
        result = asyncio.run(
            browse_server(config, depth=args.depth, limit=args.limit, standard_nodes=args.standard_nodes,
                          namespace_uri=args.namespace_uri)
        )
    except BrowseError as exc:
        return _fail(f"browse: {exc}")
    shown = select(result, args.match)
    lines = toml_lines(result, shown) if args.toml else tree_lines(result, shown)
    print("\n".join(lines))
    if args.match is not None and not any(n.is_variable for n in shown):
        print(f"no variable matches {args.match!r}", file=sys.stderr)
    return 0


def _scan(args: argparse.Namespace) -> int:
    from edge.scan import ScanError, Table, parse_range, parse_target, report_lines, scan_device

    _quiet_libraries(args)
    try:
        target = parse_target(args.target)
        start, end = parse_range(args.range_)
        if not 0 < args.timeout <= 600:
            raise ScanError(f"--timeout {args.timeout} is not 0..600 seconds")
        tables: tuple[Table, ...] = ("holding", "input") if args.table == "both" else (args.table,)
        scans = asyncio.run(
            scan_device(target, unit=args.unit, start=start, end=end, block=args.block, timeout_s=args.timeout,
                        tables=tables)
        )
    except ScanError as exc:
        return _fail(f"scan: {exc}")
    print("\n".join(report_lines(target, args.unit, start, end, scans)))
    return 0


def _bundle(args: argparse.Namespace) -> int:
    try:
        archive = build_bundle(
            python_version=args.python_version, platforms=args.platform, out=args.out,
            find_links=args.find_links, no_index=args.no_index,
        )
    except BundleError as exc:
        return _fail(f"bundle: {exc}")
    print(f"sfsync edge bundle: {archive}")
    return 0
