"""``sfsync edge probe``: read every configured tag, print what a plant engineer needs to map it.

For every tag: address, type, raw registers, decoded value, quality. For a 32/64-bit Modbus
tag also the value under every byte/word order, named both ways (``CDAB`` = ``byte_order =
"big", word_order = "little"`` = low word first), the most plausible order marked with its
reason (:func:`protocols.modbus_orders.rank_orders`, fed with what this edge's machines
expect of the tag: a counter's width/max and sanity, state and reason codes, a timestamp's
range), and the tag's TOML with that order, ready to paste. ``--watch SECONDS`` keeps reading
for that long, so a counter that moves settles the question.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence

from edge.config import EdgeSettings, MachineConfig, normalize_code
from protocols import ProbeRow, build_source
from protocols.config import ModbusSourceConfig, ModbusTagConfig, SourceConfig
from protocols.modbus import _TS_MAX_MS, _TS_MIN_MS, ModbusSource
from protocols.modbus_orders import Expectation, NamedOrder, Verdict, order_by_key, orders_for, rank_orders, tag_snippet

__all__ = ["probe_sources", "expectation_for", "describe_row", "MULTI_REGISTER_TYPES"]

#: the types whose value spans several registers in a byte/word order worth ranking
MULTI_REGISTER_TYPES = ("u32", "i32", "f32", "u64", "f64")
_SHOWN_SAMPLES = 6


async def probe_sources(settings: EdgeSettings, watch_s: float = 0.0) -> int:
    """Probe every source (concurrently: a watch takes ``watch_s`` once, not per source) and
    print the report; 1 when a source could not be probed or a tag was not good, else 0."""
    results = await asyncio.gather(*(_probe(cfg, watch_s) for cfg in settings.sources), return_exceptions=True)
    failures = 0
    for cfg, result in zip(settings.sources, results, strict=True):
        print(f"== source {cfg.name} ({cfg.protocol})")
        if isinstance(result, BaseException):
            if not isinstance(result, Exception):
                raise result
            print(f"   cannot probe: {result!r}")
            failures += 1
            continue
        if watch_s > 0 and not isinstance(cfg, ModbusSourceConfig):
            print("   (--watch applies to Modbus sources: read once)")
        tags = {t.name: t for t in cfg.tags} if isinstance(cfg, ModbusSourceConfig) else {}
        for row in result:
            tag = tags.get(row.tag)
            expectation = expectation_for(settings, tag) if tag is not None else None
            for line in describe_row(row, tag, expectation):
                print(line)
            failures += row.quality.value != "good"
    return 1 if failures else 0


async def _probe(cfg: SourceConfig, watch_s: float) -> list[ProbeRow]:
    source = build_source(cfg)
    if watch_s > 0 and isinstance(source, ModbusSource):
        return await source.probe(watch_s=watch_s)
    return await source.probe()


def describe_row(row: ProbeRow, tag: ModbusTagConfig | None, expectation: Expectation | None) -> list[str]:
    """The lines printed for one tag."""
    lines = [
        f"   {row.tag}: {row.address} {row.data_type}",
        f"      raw {row.raw or '-'}  value {row.value!r}  quality {row.quality.value}"
        + (f"  ({row.error})" if row.error else ""),
    ]
    orders = orders_for(tag.count) if tag is not None and tag.type in MULTI_REGISTER_TYPES else ()
    if tag is None or not orders or not row.alternatives:
        lines += [f"      as {key}: {alt!r}" for key, alt in row.alternatives.items()]
        return lines
    samples = list(row.samples) or [row.alternatives]
    current = next(o for o in orders if (o.byte_order, o.word_order) == (tag.byte_order, tag.word_order))
    verdict = rank_orders(orders, samples, expectation=expectation, current=current)
    for key, alt in row.alternatives.items():
        order = order_by_key(tag.count, key)
        shown = _values(samples, key) if len(samples) > 1 else repr(alt)
        text = f"      as {key}: {shown}"
        if order is not None:
            text += f"  = {order.name}, {order.words}"
            text += "  (configured)" if order == current else ""
            text += "  <- most plausible" if verdict.chosen == order else ""
        lines.append(text)
    lines += _verdict_lines(row, tag, verdict, current)
    return lines


def _values(samples: Sequence[Mapping[str, object]], key: str) -> str:
    values = [repr(s.get(key)) for s in samples]
    if len(values) > _SHOWN_SAMPLES:
        values = [*values[: _SHOWN_SAMPLES // 2], "...", *values[-(_SHOWN_SAMPLES // 2) :]]
    return " -> ".join(values) + f"  ({len(samples)} reads)"


def _verdict_lines(row: ProbeRow, tag: ModbusTagConfig, verdict: Verdict, current: NamedOrder) -> list[str]:
    if verdict.all_agree:
        return [f"      {verdict.reason}"]
    chosen = verdict.chosen
    if chosen is None:
        return [f"      no order stands out: {verdict.reason}"]
    same = f"; {', '.join(o.name for o in verdict.same_as_chosen)} read the same here" if verdict.same_as_chosen else ""
    lines = [f"      most plausible: {chosen.name} ({chosen.config}, {chosen.words}): {verdict.reason}{same}"]
    if chosen == current:
        lines.append("      the configured order is the most plausible one")
    else:
        lines.append(f"      the configured order is {current.name} (reads {row.alternatives.get(current.key)!r})")
    snippet = tag_snippet(tag.model_dump(mode="json", exclude_defaults=True), chosen)
    lines.append(f"      paste into the source's tags: {snippet}")
    return lines


def expectation_for(settings: EdgeSettings, tag: ModbusTagConfig) -> Expectation | None:
    """What this edge's configuration says the tag's value looks like, or None."""
    for machine in settings.machines:
        found = _machine_expectation(machine, tag.name)
        if found is not None:
            return found
    for source in settings.sources:
        for other in source.tags:
            if isinstance(other, ModbusTagConfig) and other.timestamp_tag == tag.name:
                return Expectation("a plausible ms-since-1970 time (2001..2100)", low=_TS_MIN_MS, high=_TS_MAX_MS)
    return None


def _machine_expectation(machine: MachineConfig, name: str) -> Expectation | None:
    counters = [("good", machine.good)] if machine.good is not None else []
    counters += [("scrap", s) for s in machine.scrap]
    for kind, counter in counters:
        if counter is not None and counter.tag == name:
            return Expectation(
                f"the {kind} counter range of {machine.id} (0..{counter.max_value})",
                low=0, high=counter.max_value, max_step=counter.sanity,
            )
    for scrap in machine.scrap:
        if scrap.reason_tag == name and scrap.reason_map:
            return _codes(f"the scrap reason codes of {machine.id}", scrap.reason_map)
    state = machine.state
    if state is not None and state.tag == name:
        return _codes(f"the state codes of {machine.id}", state.states)
    if state is not None and state.reason_tag == name and state.reasons:
        return _codes(f"the stop reason codes of {machine.id}", state.reasons)
    return None


def _codes(what: str, codes: Iterable[str]) -> Expectation | None:
    numbers = set()
    for code in codes:
        text = normalize_code(code)
        if text is not None and text.lstrip("-").isdigit():
            numbers.add(int(text))
    return Expectation(what, codes=frozenset(numbers)) if numbers else None
