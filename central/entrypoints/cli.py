"""``sfsync central serve|migrate|load|token``. Heavy imports stay inside the handlers.

``serve`` prints parseable lines on stdout (the demo and end-to-end tests read them)::

    sfsync: admin token: <token>          (first start only)
    sfsync: API at http://127.0.0.1:PORT
    sfsync: ingest from mqtt://HOST:PORT (FILTER)
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``central`` and its subcommands to ``sfsync``."""
    central = sub.add_parser("central", help="central service: API, MQTT ingest, database")
    csub = central.add_subparsers(dest="central_command", metavar="COMMAND", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", type=Path, default=None, help="central.toml (default: defaults + environment)")

    serve = csub.add_parser("serve", help="run the API and the MQTT ingest in one process")
    common(serve)
    serve.add_argument("--api-host", default=None, help="override api.host")
    serve.add_argument("--api-port", type=int, default=None, help="override api.port (0 = ephemeral)")
    serve.add_argument("--no-ingest", action="store_true", help="API only")
    serve.add_argument("--no-migrate", action="store_true", help="do not upgrade the database at start")
    serve.set_defaults(func=_serve)

    migrate = csub.add_parser("migrate", help="apply database migrations (Alembic)")
    common(migrate)
    migrate.add_argument("--sql", action="store_true", help="print the SQL instead of running it")
    migrate.set_defaults(func=_migrate)

    load = csub.add_parser("load", help="load or update master data from a YAML file")
    common(load)
    load.add_argument("file", type=Path)
    load.add_argument("--user", default="cli", help="who loads it (for the audit log)")
    load.set_defaults(func=_load)

    from central.entrypoints.cli_tokens import register as register_token

    register_token(csub, common, _checked_settings)


def _settings(args: argparse.Namespace) -> Any:
    from central.config import load_settings

    return load_settings(args.config)


def _source(args: argparse.Namespace) -> str:
    """Where the settings came from, for a :class:`~shared.config.ConfigError` of a start-up check."""
    from central.config import ENV_PREFIX

    source = str(args.config) if args.config is not None else "defaults"
    if any(name.startswith(ENV_PREFIX) for name in os.environ):
        source += f" (+ {ENV_PREFIX}* environment)"
    return source


def _check_database(args: argparse.Namespace, settings: Any) -> None:
    """Exit 2 (ConfigError) on an unusable database before anything is created or migrated."""
    from central.entrypoints.preflight import check_database

    check_database(settings.database, _source(args))


def _print(line: str) -> None:
    print(f"sfsync: {line}", flush=True)


def _migrate(args: argparse.Namespace) -> int:
    settings = _settings(args)  # checks first: a config error is one line, before Alembic's imports log
    if not args.sql:
        _check_database(args, settings)
    from central.adapters.db.engine import make_engine, write_engine
    from central.adapters.db.migrate import current_revision, offline_sql, upgrade

    if args.sql:
        print(offline_sql(settings.database.url))
        return 0
    engine = make_engine(settings.database)
    try:
        upgrade(write_engine(engine))
        _print(f"database at revision {current_revision(engine)}")
    finally:
        engine.dispose()
    return 0


def _checked_settings(args: argparse.Namespace) -> Any:
    """Settings of ``--config``, the database checked (exit 2 on an unusable one); for ``token``."""
    settings = _settings(args)
    _check_database(args, settings)
    return settings


def _load(args: argparse.Namespace) -> int:
    """Settings, then the file (every problem with its key path), then the database: a bad
    file or a bad setting exits 2 before the database is created or touched."""
    from central.adapters.unit_of_work import SqlAlchemyUnitOfWork
    from central.domain.commands import LoadMasterData
    from central.domain.errors import MasterDataError
    from central.errors import CentralError
    from central.service_layer.costing.master_data import load_master_data
    from central.service_layer.costing.master_file import read_master_file

    settings = _settings(args)
    try:
        document = read_master_file(args.file)
    except MasterDataError as exc:
        _print_master_errors(args.file, exc)
        return 2
    _check_database(args, settings)
    from central.bootstrap import bootstrap

    container = bootstrap(settings, migrate=True)
    try:
        command = LoadMasterData(document, args.user, source=str(args.file))
        summary = load_master_data(command, SqlAlchemyUnitOfWork(container.write_sessions)).to_data()
    except MasterDataError as exc:
        _print_master_errors(args.file, exc)
        return 2
    except CentralError as exc:  # DomainError included: one tree
        print(f"sfsync: cannot load {args.file}: {exc}", file=sys.stderr)
        return 2
    finally:
        container.dispose()
    _print(f"loaded {args.file}: {summary}")
    return 0


def _print_master_errors(path: Path, exc: Any) -> None:
    print(f"sfsync: cannot load {path}: {len(exc.errors)} error(s), nothing written", file=sys.stderr)
    for error in exc.errors:
        print(f"sfsync: {path}: {error.key_path}: {error.message}", file=sys.stderr)


def _validated_api(current: Any, override: dict[str, Any]) -> Any:
    """``--api-host``/``--api-port`` through the same checks as the file's ``[api]``."""
    from pydantic import ValidationError

    from shared.config import ConfigError

    try:
        return type(current).model_validate({**current.model_dump(), **override})
    except ValidationError as exc:
        first = exc.errors()[0]
        key = "api." + ".".join(str(p) for p in first["loc"])
        raise ConfigError("command line", key, first["msg"]) from None


def _serve(args: argparse.Namespace) -> int:
    from central.entrypoints.preflight import bind_api

    settings = _settings(args)
    api: dict[str, Any] = {}
    if args.api_host is not None:
        api["host"] = args.api_host
    if args.api_port is not None:
        api["port"] = args.api_port
    if api:
        settings = settings.model_copy(update={"api": _validated_api(settings.api, api)})
    if args.no_ingest:
        settings = settings.model_copy(update={"ingest": settings.ingest.model_copy(update={"enabled": False})})
    _check_database(args, settings)
    sock = bind_api(settings.api, _source(args)) if settings.api.enabled else None
    from central.entrypoints.server import serve  # after the checks (its imports log at INFO)

    try:
        return serve(settings, migrate=not args.no_migrate, out=_print, sock=sock)
    finally:
        if sock is not None:
            sock.close()
