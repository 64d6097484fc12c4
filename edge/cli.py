"""``sfsync edge run|probe|status --config edge.toml``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import time
from typing import Any

from edge.onboarding import register_onboarding

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this package's commands to ``sfsync``."""
    edge = sub.add_parser("edge", help="edge agent: read PLC tags, keep an outbox, forward over MQTT")
    cmds = edge.add_subparsers(dest="edge_command", metavar="EDGE_COMMAND", required=True)
    for name, func, text in (
        ("run", _run, "run the edge agent until SIGTERM/SIGINT"),
        ("probe", _probe, "read every configured tag once; print raw registers, decodings, quality, and for "
         "32/64-bit Modbus tags the value under every byte/word order with the most plausible one marked"),
        ("status", _status, "backlog, oldest unacked event, last ack, connections"),
    ):
        p = cmds.add_parser(name, help=text, description=text)
        p.add_argument("--config", required=True, help="edge TOML file (keys overridable by SFSYNC_EDGE_*)")
        p.set_defaults(func=func)
        if name == "probe":
            p.add_argument(
                "--watch", type=_seconds, default=0.0, metavar="SECONDS",
                help="keep reading Modbus tags at the poll interval for SECONDS: the byte/word order whose "
                "value moves by small non-negative steps (a counting counter) is the one meant",
            )
    register_onboarding(cmds)  # browse, scan, bundle (edge/onboarding.py)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"{text} s: give more than 0 and at most 3600 seconds")
    return value


def _run(args: argparse.Namespace) -> int:
    from edge.agent import Agent
    from edge.config import check_files, check_status_port, load_edge_settings

    settings = load_edge_settings(args.config)
    check_files(settings, str(args.config))
    check_status_port(settings, str(args.config))

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await Agent(settings).run(stop)
        stuck = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
        if stuck:
            # The outbox is committed and closed; a PLC library task that ignores cancellation
            # must not keep the process alive (asyncio.run would wait for it forever).
            logging.getLogger(__name__).warning(
                "exiting with %d task(s) that ignored cancellation: %s", len(stuck), [t.get_name() for t in stuck]
            )
            logging.shutdown()
            os._exit(0)

    asyncio.run(main())
    return 0


def _probe(args: argparse.Namespace) -> int:
    from edge.config import load_edge_settings
    from edge.probe import probe_sources

    settings = load_edge_settings(args.config)
    return asyncio.run(probe_sources(settings, args.watch))


def _status(args: argparse.Namespace) -> int:
    from edge.config import load_edge_settings
    from edge.errors import OutboxError
    from edge.outbox import Outbox

    settings = load_edge_settings(args.config)
    try:
        outbox = Outbox(settings.outbox.path, settings.plant, settings.edge, read_only=True)
    except OutboxError as exc:
        print(f"outbox: {exc}", file=sys.stderr)
        return 1
    try:
        stats = outbox.stats()
        url = outbox.get_meta("status_url")
    finally:
        outbox.close()
    now = time.time()
    print(f"edge {settings.plant}/{settings.edge}  stream {stats.stream}")
    print(f"backlog: {stats.rows} events, {stats.bytes} bytes (budget {stats.max_rows} rows / {stats.max_bytes} bytes"
          f"{', OVER BUDGET' if stats.over_budget else ''}); disk free {stats.disk_free} bytes")
    oldest = "none" if stats.oldest_created is None else f"{now - stats.oldest_created:.1f} s"
    print(f"oldest unacked event: {oldest}; last seq {stats.last_seq}, acked through {stats.acked_through}")
    print("last ack: " + ("never" if stats.acked_at is None else f"{now - stats.acked_at:.1f} s ago"))
    live = _fetch_health(url)
    if live is None:
        print(f"agent: not reachable{' at ' + url if url else ''} (not running, or status endpoint disabled)")
        return 0
    broker = live.get("broker", {})
    print(f"agent: {live.get('status')} at {url}; broker {'connected' if broker.get('connected') else 'DISCONNECTED'}"
          f" ({broker.get('reconnects', 0)} reconnects, drain {broker.get('drain_rate_events_per_s', 0)} ev/s)")
    if not broker.get("connected") and broker.get("last_error"):
        print(f"broker: {broker['last_error']} ({broker.get('connect_failures', 0)} failed attempts)")
    for name, src in live.get("sources", {}).items():
        state = "connected" if src.get("connected") else "DISCONNECTED"
        extra = src.get("error") or src.get("last_error") or ""
        print(f"source {name}: {state}" + (f" ({extra})" if extra and not src.get("connected") else ""))
    for tag, problem in live.get("tag_problems", {}).items():
        print(f"tag {tag}: {problem}")
    return 0


def _fetch_health(url: str | None) -> dict[str, Any] | None:
    if not url:
        return None
    import httpx

    try:
        response = httpx.get(url + "/health", timeout=3.0)
        response.raise_for_status()
        doc: dict[str, Any] = response.json()
    except (httpx.HTTPError, ValueError):
        return None
    return doc
