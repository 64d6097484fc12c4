"""Configuration loading shared by every process: TOML file -> environment overrides -> typed settings.

Each process (edge, central, sim) defines its settings as pydantic models and calls
:func:`load_config`. Keys come from a TOML file; any key can be overridden by an
environment variable ``{PREFIX}{KEY}`` where nested keys are joined by a double
underscore, e.g. ``SFSYNC_EDGE_MQTT__PORT=1884`` sets ``mqtt.port``. Environment
values are read as TOML values when they parse as one (numbers, booleans, inline
arrays and tables), else as plain strings.

A bad file never produces a traceback for the user: :class:`ConfigError` names the
file, the key path and the reason, and the CLI prints it and exits with status 2. A file
that is not UTF-8 or not TOML is such an error, and so is a float that is not finite
(``inf``, ``nan``: :class:`StrictModel` refuses them in every section; ranges are each
field's own ``ge``/``le``).
"""

from __future__ import annotations

import errno
import os
import socket
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

__all__ = [
    "ConfigError",
    "load_config",
    "env_overrides",
    "env_variable",
    "listen_socket",
    "read_toml",
    "StrictModel",
]

M = TypeVar("M", bound=BaseModel)


class ConfigError(Exception):
    """Invalid configuration: ``source`` (file or environment), ``key`` path and ``reason``."""

    def __init__(self, source: str, key: str, reason: str) -> None:
        self.source = source
        self.key = key
        self.reason = reason
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {reason}")


class StrictModel(BaseModel):
    """Base for settings sections: unknown keys are an error, not silently ignored, and a float
    must be finite (a plain pydantic ``float`` takes ``inf`` and ``nan``, which then break
    ``timedelta`` arithmetic deep inside a worker)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _parse_env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def env_overrides(prefix: str, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Collect ``{prefix}A__B=value`` variables into a nested dict ``{"a": {"b": value}}``."""
    env = os.environ if environ is None else environ
    out: dict[str, Any] = {}
    for name, raw in env.items():
        if not name.startswith(prefix) or name == prefix:
            continue
        path = [p.lower() for p in name[len(prefix) :].split("__") if p]
        if not path:
            continue
        node = out
        for part in path[:-1]:
            nxt = node.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise ConfigError("environment", name, "conflicts with another variable")
            node = nxt
        node[path[-1]] = _parse_env_value(raw)
    return out


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file, mapping every failure to :class:`ConfigError`."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(str(path), "", "file not found") from None
    except OSError as exc:
        raise ConfigError(str(path), "", f"cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), "", f"not UTF-8 text (byte {exc.start}): a TOML file is UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), "", f"not valid TOML: {exc}") from exc


def load_config(
    model: type[M],
    path: str | Path | None,
    env_prefix: str,
    environ: Mapping[str, str] | None = None,
) -> M:
    """Load ``path`` (optional), apply ``env_prefix`` overrides, validate into ``model``."""
    source = str(path) if path is not None else "defaults"
    data: dict[str, Any] = read_toml(Path(path)) if path is not None else {}
    overrides = env_overrides(env_prefix, environ)
    if overrides:
        data = _merge(data, overrides)
        source = f"{source} (+ {env_prefix}* environment)"
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        more = len(exc.errors()) - 1
        reason = first["msg"] + (f" (and {more} more error(s))" if more else "")
        variable = env_variable(env_prefix, key)
        if variable in (os.environ if environ is None else environ):
            source = f"{source}, from {variable}"
        raise ConfigError(source, key, reason) from None


def env_variable(prefix: str, key: str) -> str:
    """The environment variable that overrides ``key``: ``mqtt.port`` -> ``{prefix}MQTT__PORT``."""
    return prefix + "__".join(part.upper() for part in key.split("."))


def listen_socket(host: str, port: int, source: str, section: str, *, listen: bool = True) -> socket.socket:
    """A socket bound to ``host``:``port`` (listening unless ``listen=False``), or ConfigError
    naming ``{section}.host`` (does not resolve) or ``{section}.port`` (in use, not allowed).

    Start-up checks of a process's own listening addresses, before anything else is opened. A
    name binds IPv4, an address with ``:`` IPv6, an empty host every interface; SO_REUSEADDR is
    set as asyncio and uvicorn do. The caller closes the socket or hands it to its server.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        infos = socket.getaddrinfo(host or None, port, family=family, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, socket.gaierror) else str(exc)
        raise ConfigError(source, f"{section}.host", f"cannot resolve {host!r}: {reason}") from None
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(infos[0][4])
        if listen:
            sock.listen(128)
    except OSError as exc:
        sock.close()
        key = f"{section}.port" if exc.errno in (errno.EADDRINUSE, errno.EACCES) else f"{section}.host"
        raise ConfigError(source, key, f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock
