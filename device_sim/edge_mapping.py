"""Edge configuration that reads a simulated plant: ``sources`` and ``machines`` for ``edge.toml``.

:func:`edge_mapping` returns a dict shaped exactly like ``EdgeSettings``'s ``sources`` and
``machines`` (protocols.config / edge.config); :func:`edge_mapping_toml` renders it as TOML to
paste under ``plant``/``edge``/``mqtt``. Each machine is read over **one** protocol (reading
both would count every unit twice): the first of ``prefer`` the machine is served on.

Scrap is mapped as one counter per scrap reason with a fixed ``reason`` (exact even when two
reasons happen between two polls); state as the state code with the downtime reason tag and
the ``[reasons.downtime]`` table. Modbus tags carry ``timestamp_tag`` = the machine's u64
"last change" register, so events get the virtual time of the change.

Every counter gets ``max_rate_per_s`` from the machine model (:func:`max_rate_per_s`): the
fastest the simulated machine can count in wall-clock time, so the edge tells a rollover from
a reset exactly as it would for a real machine whose top speed the engineer states.
"""

from __future__ import annotations

import json
import math
from typing import Any

from device_sim.config import ResolvedMachine, SimSettings
from device_sim.layout import OFF_DOWN_REASON, OFF_GOOD, OFF_SCRAP_BY_REASON, OFF_STATE, OFF_TIME, node_id

__all__ = ["edge_mapping", "edge_mapping_toml", "max_rate_per_s"]

#: headroom over the model's top rate: the simulator catches up in bursts after a lag
RATE_HEADROOM = 1.25
#: the edge config's bound on max_rate_per_s
MAX_RATE = 1_000_000.0


def max_rate_per_s(m: ResolvedMachine, speed: float) -> float:
    """Units per wall-clock second the machine can make at most: ``speed`` / its shortest cycle
    (``cycle_s - cycle_jitter_s``, or a scripted step's ``cycle_s``), with some headroom;
    rounded up to 3 significant digits."""
    cycles = [m.spec.cycle_s - m.spec.cycle_jitter_s]
    cycles += [step.cycle_s for step in m.spec.script or [] if step.cycle_s]
    rate = min(RATE_HEADROOM * speed / max(min(cycles), 0.001), MAX_RATE)
    digits = 2 - math.floor(math.log10(rate))
    scale = 10.0**digits
    return min(round(math.ceil(rate * scale) / scale, max(digits, 0)), MAX_RATE)


def edge_mapping(
    settings: SimSettings,
    *,
    opcua_endpoint: str | None = None,
    modbus_host: str | None = None,
    modbus_port: int | None = None,
    prefer: tuple[str, ...] = ("opcua", "modbus"),
    poll_interval_ms: int = 500,
    publishing_interval_ms: int = 100,
    sanity: int = 1000,
) -> dict[str, Any]:
    """``{"sources": [...], "machines": [...]}`` for an edge reading this simulated plant.

    Endpoints default to the configured ones; pass the real ones when ports were 0 (free).
    """
    machines = settings.resolve()
    endpoint = opcua_endpoint or f"opc.tcp://{settings.opcua.host}:{settings.opcua.port}{settings.opcua.path}"
    host = modbus_host or settings.modbus.host
    port = modbus_port or settings.modbus.port
    opcua_tags: list[dict[str, Any]] = []
    modbus_sources: dict[int, dict[str, Any]] = {}
    out_machines: list[dict[str, Any]] = []
    downtime = {str(code): name for name, code in settings.reasons.downtime.items()}
    for m in machines:
        proto = next((p for p in prefer if (p == "opcua" and m.opcua) or (p == "modbus" and m.modbus)), None)
        if proto is None:
            continue
        tag = _tag_names(m, settings.scrap_reason_names)
        if proto == "opcua":
            opcua_tags += _opcua_tags(settings, m, tag)
        else:
            assert m.device_id is not None
            src = modbus_sources.setdefault(
                m.device_id,
                {"name": f"sim-modbus-{m.device_id}", "protocol": "modbus", "host": host, "port": port,
                 "unit": m.device_id, "poll_interval_ms": poll_interval_ms, "tags": []},
            )
            src["tags"] += _modbus_tags(settings, m, tag)
        width = m.spec.counter_bits
        rate = max_rate_per_s(m, settings.clock.speed)
        out_machines.append({
            "id": m.id,
            "good": {"tag": tag["good"], "width": width, "sanity": sanity, "max_rate_per_s": rate},
            "scrap": [
                {"tag": tag[f"scrap.{r}"], "width": width, "sanity": sanity, "max_rate_per_s": rate, "reason": r}
                for r in settings.scrap_reason_names
            ],
            "state": {"tag": tag["state"], "reason_tag": tag["reason"], "reasons": dict(downtime)},
        })
    sources: list[dict[str, Any]] = []
    if opcua_tags:
        sources.append({"name": "sim-opcua", "protocol": "opcua", "endpoint": endpoint,
                        "namespace_uri": settings.opcua.namespace,
                        "publishing_interval_ms": publishing_interval_ms, "tags": opcua_tags})
    sources += list(modbus_sources.values())
    return {"sources": sources, "machines": out_machines}


def _tag_names(m: ResolvedMachine, reasons: list[str]) -> dict[str, str]:
    names = {k: f"{m.id}.{k}" for k in ("good", "state", "reason", "time")}
    names.update({f"scrap.{r}": f"{m.id}.scrap.{r}" for r in reasons})
    return names


def _opcua_tags(settings: SimSettings, m: ResolvedMachine, tag: dict[str, str]) -> list[dict[str, Any]]:
    def node(folder: str, leaf: str) -> str:
        return f"s={node_id(settings, m, folder, leaf)}"

    tags = [{"name": tag["good"], "node": node("Counters", "Good")}]
    tags += [{"name": tag[f"scrap.{r}"], "node": node("Counters", f"Scrap_{r}")} for r in settings.scrap_reason_names]
    tags += [{"name": tag["state"], "node": node("Status", "State")},
             {"name": tag["reason"], "node": node("Status", "DowntimeReason")}]
    return tags


def _modbus_tags(settings: SimSettings, m: ResolvedMachine, tag: dict[str, str]) -> list[dict[str, Any]]:
    assert m.base is not None
    fn, order = settings.modbus.function, m.spec.word_order
    ctype = "u16" if m.spec.counter_bits == 16 else "u32"
    ts = tag["time"]

    def reg(name: str, offset: int, vtype: str) -> dict[str, Any]:
        out: dict[str, Any] = {"name": name, "function": fn, "address": m.base + offset if m.base is not None else 0,
                               "type": vtype}
        if vtype not in ("u16", "i16"):
            out["word_order"] = order
        if name != ts:
            out["timestamp_tag"] = ts
        return out

    tags = [reg(tag["good"], OFF_GOOD, ctype)]
    tags += [reg(tag[f"scrap.{r}"], OFF_SCRAP_BY_REASON + 2 * i, ctype)
             for i, r in enumerate(settings.scrap_reason_names)]
    tags += [reg(tag["state"], OFF_STATE, "u16"), reg(tag["reason"], OFF_DOWN_REASON, "u16"), reg(ts, OFF_TIME, "u64")]
    return tags


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() and not key.isdigit() else json.dumps(key)


def edge_mapping_toml(mapping: dict[str, Any]) -> str:
    """Render :func:`edge_mapping`'s result as ``[[sources]]`` and ``[[machines]]`` TOML tables."""
    parts: list[str] = []
    for section in ("sources", "machines"):
        for table in mapping.get(section, []):
            lines = [f"[[{section}]]"]
            for key, value in table.items():
                if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                    items = ",\n".join(f"  {_toml_value(v)}" for v in value)
                    lines.append(f"{_toml_key(key)} = [\n{items},\n]")
                else:
                    lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
            parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"
