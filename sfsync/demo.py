"""``sfsync demo``: the whole system on embedded defaults (see sfsync/demo_run.py).

``sfsync demo [--duration S] [--fresh|--resume]`` runs it; ``sfsync demo cut --seconds 20``
(from another terminal) cuts the running demo's edge off the broker for a while.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_DATA_DIR = Path("demo-data")


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, not {text}")
    return value


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this package's commands to ``sfsync``."""
    demo = sub.add_parser(
        "demo",
        help="run the whole system on one box: broker, central, simulated plant, edge",
        description=(
            "Start an embedded MQTT broker, central on SQLite with demo master data, a simulated plant of "
            "4 machines (2 OPC UA, 2 Modbus), one edge agent, dispatch work orders and show a live view. "
            "Ctrl-C or --duration stops every process cleanly."
        ),
    )
    demo.add_argument("--duration", type=_positive, default=None, metavar="S", help="stop after S seconds")
    demo.add_argument(
        "--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="where data and logs go (default ./demo-data)"
    )
    mode = demo.add_mutually_exclusive_group()
    mode.add_argument("--fresh", dest="mode", action="store_const", const="fresh", help="delete earlier demo data")
    mode.add_argument(
        "--resume", dest="mode", action="store_const", const="resume", help="continue with earlier demo data"
    )
    demo.set_defaults(mode="auto")
    demo.add_argument(
        "--broker",
        choices=["amqtt", "mosquitto"],
        default="amqtt",
        help="embedded broker (default amqtt, in-memory) or mosquitto when installed",
    )
    demo.add_argument(
        "--speed",
        type=_positive,
        default=1.0,
        help="simulated time per wall second (default 1; above 1 event times run ahead of the clock)",
    )
    demo.add_argument("--seed", type=int, default=42, help="random seed of the simulated plant")
    demo.set_defaults(func=_run)

    demo_sub = demo.add_subparsers(dest="demo_command", metavar="SUBCOMMAND")
    cut = demo_sub.add_parser("cut", help="cut the running demo's edge off the broker for a while")
    cut.add_argument("--seconds", type=_positive, default=20.0, help="how long the link stays cut (default 20)")
    cut.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="the running demo's data directory")
    cut.set_defaults(func=_cut)


def _run(args: argparse.Namespace) -> int:
    from sfsync.demo_run import DemoOptions, run_demo

    opts = DemoOptions(
        data_dir=args.data_dir, duration=args.duration, mode=args.mode, broker=args.broker, speed=args.speed,
        seed=args.seed,
    )
    return run_demo(opts)


def _cut(args: argparse.Namespace) -> int:
    from sfsync.demo_control import request_cut

    try:
        state = request_cut(args.data_dir, args.seconds)
    except RuntimeError as exc:
        print(f"sfsync demo cut: {exc}", file=sys.stderr)
        return 1
    print(f"edge link: {state}")
    return 0
