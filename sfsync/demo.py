"""``sfsync demo``: the whole system on embedded defaults (see sfsync/demo_run.py)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this package's commands to ``sfsync``."""
