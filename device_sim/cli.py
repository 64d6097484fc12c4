"""Command registration (filled in by the package's own issue)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this package's commands to ``sfsync``."""
