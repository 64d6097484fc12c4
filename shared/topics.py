"""MQTT topic names of wire contract v1: builders and parsers."""

from __future__ import annotations

import re
from typing import Final, Literal

from shared.contract import ID_PATTERN, ContractError

__all__ = [
    "PREFIX",
    "EVENTS_FILTER",
    "SHARED_EVENTS_FILTER",
    "STATUS_FILTER",
    "events_topic",
    "ack_topic",
    "status_topic",
    "parse_topic",
]

PREFIX: Final = "sfsync/v1"
EVENTS_FILTER: Final = f"{PREFIX}/+/+/events"
SHARED_EVENTS_FILTER: Final = f"$share/central/{EVENTS_FILTER}"
STATUS_FILTER: Final = f"{PREFIX}/+/+/status"
_ID: Final = ID_PATTERN.strip("^$")
_TOPIC_RE: Final = re.compile(rf"^sfsync/v1/({_ID})/({_ID})/(events|ack|status)$")

Channel = Literal["events", "ack", "status"]


def _check(kind: str, value: str) -> str:
    if not re.fullmatch(_ID, value):
        raise ContractError(f"{kind} id {value!r} does not match {ID_PATTERN}")
    return value


def events_topic(plant: str, edge: str) -> str:
    return f"{PREFIX}/{_check('plant', plant)}/{_check('edge', edge)}/events"


def ack_topic(plant: str, edge: str) -> str:
    return f"{PREFIX}/{_check('plant', plant)}/{_check('edge', edge)}/ack"


def status_topic(plant: str, edge: str) -> str:
    return f"{PREFIX}/{_check('plant', plant)}/{_check('edge', edge)}/status"


def parse_topic(topic: str) -> tuple[str, str, Channel]:
    """Split a v1 topic into ``(plant, edge, channel)``; ContractError if it is not one."""
    match = _TOPIC_RE.match(topic)
    if match is None:
        raise ContractError(f"not a sfsync v1 topic: {topic!r}")
    channel: Channel = match.group(3)  # type: ignore[assignment]
    return match.group(1), match.group(2), channel
