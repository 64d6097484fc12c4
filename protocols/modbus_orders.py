"""Which byte/word order a 32/64-bit Modbus value is stored in: the orders named, and ranked.

Vendors name a layout by the order its bytes arrive in, ``A`` the most significant byte:
for 32 bits ``ABCD`` (big/big, the Modbus default), ``CDAB`` (low word first: our
``word_order = "little"``), ``BADC`` (bytes swapped in each register: ``byte_order =
"little"``) and ``DCBA`` (both); for 64 bits the same four, spelled by their 16-bit words:
``ABCDEFGH``, ``GHEFCDAB``, ``BADCFEHG``, ``HGFEDCBA``.

:func:`rank_orders` picks the most plausible order from what ``sfsync edge probe`` read, by
this precedence (pure, no I/O):

1. with several samples (``--watch``): the order whose value moves by small non-negative
   steps (a counter counting); wrong orders jump by 2^8, 2^16, 2^24 ... or go backwards;
2. the value within what the configuration expects of the tag (counter width/max, state or
   reason codes, a timestamp's plausible range);
3. the smallest non-negative value (a counter starts at 0); a float only when its magnitude is
   plausible for a process value (0, or 1e-6..1e9; NaN and infinities never).

When every order reads the same (a counter at 0, say) nothing can be told apart: the
verdict says so and asks for a new probe once the value has moved.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from protocols.modbus_codec import Order

__all__ = [
    "NamedOrder",
    "Expectation",
    "Verdict",
    "ALL_AGREE",
    "orders_for",
    "order_by_key",
    "rank_orders",
    "tag_snippet",
]

ALL_AGREE: Final = "all orders agree: let it count, then probe again"

#: float magnitudes a process value plausibly has; outside it a float is most likely misordered
_FLOAT_MIN, _FLOAT_MAX = 1e-6, 1e9


@dataclass(frozen=True, slots=True)
class NamedOrder:
    """One byte/word order: the vendor's name, the config keys, and the words people use."""

    name: str
    byte_order: Order
    word_order: Order
    words: str

    @property
    def key(self) -> str:
        """The key of this order in ``ProbeRow.alternatives`` (as ``all_interpretations`` spells it)."""
        return f"byte_order={self.byte_order} word_order={self.word_order}"

    @property
    def config(self) -> str:
        """The TOML that selects this order."""
        return f'byte_order = "{self.byte_order}", word_order = "{self.word_order}"'


_WORDS: Final[dict[tuple[Order, Order], str]] = {
    ("big", "big"): "big-endian, high word first (Modbus default)",
    ("big", "little"): "low word first (word swap)",
    ("little", "big"): "bytes swapped in each register (byte swap)",
    ("little", "little"): "little-endian (byte and word swap)",
}
_NAMES: Final[dict[int, dict[tuple[Order, Order], str]]] = {
    2: {("big", "big"): "ABCD", ("big", "little"): "CDAB", ("little", "big"): "BADC", ("little", "little"): "DCBA"},
    4: {
        ("big", "big"): "ABCDEFGH",
        ("big", "little"): "GHEFCDAB",
        ("little", "big"): "BADCFEHG",
        ("little", "little"): "HGFEDCBA",
    },
}


def orders_for(register_count: int) -> tuple[NamedOrder, ...]:
    """The four named orders of a 2-register (32-bit) or 4-register (64-bit) value; else none."""
    names = _NAMES.get(register_count)
    if names is None:
        return ()
    return tuple(NamedOrder(name, b, w, _WORDS[(b, w)]) for (b, w), name in names.items())


def order_by_key(register_count: int, key: str) -> NamedOrder | None:
    """The named order behind an ``alternatives`` key, or None."""
    return next((o for o in orders_for(register_count) if o.key == key), None)


@dataclass(frozen=True, slots=True)
class Expectation:
    """What the configuration says a tag's value should look like (all optional).

    ``low``/``high`` bound the value (a counter: ``0..max``); ``codes`` are the only values it
    takes (state or reason codes); ``max_step`` is the largest plausible increase between two
    samples (a counter's ``sanity``); ``what`` says where it comes from, for the reason text.
    """

    what: str
    low: float | None = None
    high: float | None = None
    codes: frozenset[int] | None = None
    max_step: float | None = None

    def admits(self, value: float) -> bool:
        if self.low is not None and value < self.low:
            return False
        if self.high is not None and value > self.high:
            return False
        return self.codes is None or (float(value).is_integer() and int(value) in self.codes)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The order judged most plausible (``None`` when nothing tells the orders apart) and why."""

    chosen: NamedOrder | None
    reason: str
    all_agree: bool = False
    #: orders reading the same value as the chosen one at every sample (indistinguishable from it)
    same_as_chosen: tuple[NamedOrder, ...] = field(default=())


Number = int | float


def _number(value: object) -> Number | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _plausible_float(value: Number) -> bool:
    return isinstance(value, int) or value == 0 or _FLOAT_MIN <= abs(value) <= _FLOAT_MAX


def rank_orders(
    orders: Sequence[NamedOrder],
    samples: Sequence[Mapping[str, object]],
    *,
    expectation: Expectation | None = None,
    current: NamedOrder | None = None,
) -> Verdict:
    """Judge which order is meant; ``samples`` are ``alternatives`` dicts, oldest first.

    Orders whose value is undecodable or not finite in any sample are out. Ties (orders that
    read the same at every sample) go to ``current`` (the configured order), then to the
    order listed first.
    """
    if not orders or not samples:
        return Verdict(None, "no 32/64-bit orders to compare")
    series: dict[str, list[Number]] = {}
    for order in orders:
        values = [_number(sample.get(order.key)) for sample in samples]
        if all(v is not None for v in values):
            series[order.key] = [v for v in values if v is not None]
    if not series:
        return Verdict(None, "no order gives a finite number")
    distinct = {tuple(v) for v in series.values()}
    if len(distinct) == 1 and len(series) == len(orders):
        return Verdict(None, ALL_AGREE, all_agree=True)
    candidates = [o for o in _tie_order(orders, current) if o.key in series]

    moving = _rank_by_movement(candidates, series, expectation) if len(samples) > 1 else None
    if moving is not None:
        return _verdict(moving[0], moving[1], candidates, series)
    note = " (the value did not move while watched)" if len(samples) > 1 and not _moved(series) else ""

    last = {o.key: series[o.key][-1] for o in candidates}
    if expectation is not None:
        admitted = [o for o in candidates if expectation.admits(last[o.key])]
        if len({last[o.key] for o in admitted}) == 1:
            reason = f"the only value within {expectation.what}{note}"
            return _verdict(admitted[0], reason, candidates, series)
        if admitted:
            chosen = _smallest(admitted, last)
            if chosen is not None:
                reason = f"smallest non-negative value within {expectation.what}{note}"
                return _verdict(chosen, reason, candidates, series)
        note += f" (no order reads a value within {expectation.what})" if not admitted else ""
    chosen = _smallest(candidates, last)
    if chosen is None:
        return Verdict(None, f"no order reads a non-negative value of plausible size{note}")
    return _verdict(chosen, f"smallest non-negative value{note}", candidates, series)


def _tie_order(orders: Sequence[NamedOrder], current: NamedOrder | None) -> list[NamedOrder]:
    return sorted(orders, key=lambda o: o != current)  # stable: current first, then as listed


def _moved(series: Mapping[str, Sequence[Number]]) -> bool:
    return any(len(set(v)) > 1 for v in series.values())


def _rank_by_movement(
    candidates: Sequence[NamedOrder], series: Mapping[str, Sequence[Number]], expectation: Expectation | None
) -> tuple[NamedOrder, str] | None:
    """The order whose value rose by the smallest non-negative steps (and never fell), or None."""
    best: tuple[Number, NamedOrder, list[Number]] | None = None
    for order in candidates:
        values = series[order.key]
        steps = [b - a for a, b in itertools.pairwise(values)]
        if not steps or min(steps) < 0 or max(steps) == 0:
            continue
        if expectation is not None and expectation.max_step is not None and max(steps) > expectation.max_step:
            continue
        if best is None or max(steps) < best[0]:
            best = (max(steps), order, steps)
    if best is None:
        return None
    shown = ", ".join(f"+{_fmt(s)}" for s in best[2][:8]) + (" ..." if len(best[2]) > 8 else "")
    others = "the other orders jumped or went backwards" if len(candidates) > 1 else ""
    return best[1], f"moved by small non-negative steps while watched ({shown}); {others}".rstrip("; ")


def _smallest(candidates: Iterable[NamedOrder], last: Mapping[str, Number]) -> NamedOrder | None:
    best: NamedOrder | None = None
    for order in candidates:
        value = last[order.key]
        if value < 0 or not _plausible_float(value):
            continue
        if best is None or value < last[best.key]:
            best = order
    return best


def _verdict(
    chosen: NamedOrder, reason: str, candidates: Sequence[NamedOrder], series: Mapping[str, Sequence[Number]]
) -> Verdict:
    same = tuple(o for o in candidates if o != chosen and series[o.key] == series[chosen.key])
    return Verdict(chosen, reason, same_as_chosen=same)


def _fmt(value: Number) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def tag_snippet(tag: Mapping[str, Any], order: NamedOrder) -> str:
    """A TOML inline table for the tag with ``order`` chosen, ready to paste into ``tags = [...]``.

    ``tag`` is the tag's settings (``model_dump(exclude_defaults=True)``); ``byte_order`` and
    ``word_order`` are written explicitly, after the type, so the choice is visible.
    """
    settings = {k: v for k, v in tag.items() if k not in ("byte_order", "word_order") and v is not None}
    items: list[tuple[str, Any]] = []
    for key, value in settings.items():
        items.append((key, value))
        if key == "type":
            items += [("byte_order", order.byte_order), ("word_order", order.word_order)]
    if "type" not in settings:
        items += [("byte_order", order.byte_order), ("word_order", order.word_order)]
    return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in items) + " }"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    raise TypeError(f"no TOML form for {type(value).__name__}")
