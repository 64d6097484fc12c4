"""Read planning: which Modbus requests fetch all configured tags in as few round trips as possible.

Tags of the same device id and function whose addresses are close (at most ``max_gap``
unused registers apart) share one request, as long as the request stays within the
protocol limits (125 registers, 2000 bits) or the source's lower configured limits.
Reading a few unused registers is far cheaper than another round trip to a PLC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from protocols.config import ModbusFunction, ModbusSourceConfig, ModbusTagConfig

__all__ = ["ReadGroup", "plan_reads"]


@dataclass(frozen=True, slots=True)
class ReadGroup:
    """One request: ``count`` registers (or bits) from ``start`` of ``function`` on ``device_id``."""

    device_id: int
    function: ModbusFunction
    start: int
    count: int
    tags: tuple[ModbusTagConfig, ...]

    @property
    def bits(self) -> bool:
        return self.function in ("coil", "discrete")

    def slice_for(self, tag: ModbusTagConfig, data: Sequence[int]) -> list[int]:
        """The registers (bits as 0/1) of ``tag`` out of this group's response ``data``."""
        first = tag.address - self.start
        return [int(x) for x in data[first : first + tag.count]]

    def describe(self) -> str:
        return f"{self.function} {self.start}..{self.start + self.count - 1} (device {self.device_id})"


def plan_reads(config: ModbusSourceConfig) -> list[ReadGroup]:
    """Group the source's tags into requests; deterministic (sorted by device, function, address)."""
    by_key: dict[tuple[int, ModbusFunction], list[ModbusTagConfig]] = {}
    for tag in config.tags:
        by_key.setdefault((config.device_id(tag), tag.function), []).append(tag)

    groups: list[ReadGroup] = []
    for (device_id, function), tags in sorted(by_key.items()):
        bits = function in ("coil", "discrete")
        limit = config.max_bits_per_read if bits else config.max_registers_per_read
        current: list[ModbusTagConfig] = []
        start = end = 0  # end is exclusive
        for tag in sorted(tags, key=lambda t: (t.address, t.count)):
            tag_end = tag.address + tag.count
            if current and tag.address <= end + config.max_gap and max(end, tag_end) - start <= limit:
                current.append(tag)
                end = max(end, tag_end)
                continue
            if current:
                groups.append(ReadGroup(device_id, function, start, end - start, tuple(current)))
            current, start, end = [tag], tag.address, tag_end
        if current:
            groups.append(ReadGroup(device_id, function, start, end - start, tuple(current)))
    return groups
