"""The demo's live view: read central's API and the edge's metrics, draw them once a second.

On a terminal the screen is redrawn with plain ANSI escapes (no curses); when stdout is not a
TTY (a pipe, a test, a CI log) each refresh prints one summary line instead. Reading is
separate from drawing: :func:`collect` builds a :class:`Snapshot`, the renderers only format.
A read that fails is shown on screen and counted, never hidden.
"""

from __future__ import annotations

import logging
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

log = logging.getLogger(__name__)

__all__ = ["Snapshot", "MachineView", "DemoReader", "render_screen", "render_line", "parse_metrics"]

CLEAR = "\x1b[H\x1b[2J"
BOLD, DIM, RED, GREEN, RESET = "\x1b[1m", "\x1b[2m", "\x1b[31m", "\x1b[32m", "\x1b[0m"
ZERO = Decimal("0")

#: Prometheus names the edge exposes (docs/edge.md); the first present one is used.
BACKLOG_METRICS = ("sfsync_edge_backlog_rows", "sfsync_edge_outbox_rows", "sfsync_edge_backlog_events")
LAST_ACK_METRICS = ("sfsync_edge_acked_through", "sfsync_edge_last_acked_seq", "sfsync_edge_last_ack_seq")
LAST_ACK_TIME_METRICS = ("sfsync_edge_last_ack_timestamp_seconds", "sfsync_edge_last_ack_unixtime")


def dec(value: object) -> Decimal:
    """A decimal string from the API as ``Decimal`` (0 when absent)."""
    if value is None:
        return ZERO
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not a decimal: {value!r}") from None


@dataclass
class MachineView:
    good: int = 0
    scrap: int = 0
    state: str = "?"
    reason: str = ""
    work_order: str = ""


@dataclass
class Snapshot:
    """Everything one refresh shows."""

    machines: dict[str, MachineView] = field(default_factory=dict)
    downtime_hours: dict[str, Decimal] = field(default_factory=dict)  # by reason
    downtime_cost: Decimal = ZERO
    wip: Decimal = ZERO
    finished_goods: Decimal = ZERO
    cost_of_quality: Decimal = ZERO
    total_debit: Decimal = ZERO
    total_credit: Decimal = ZERO
    journal_entries: int | None = None
    backlog: int | None = None
    acked_through: int | None = None
    last_ack_age_s: float | None = None
    link: str = "up"
    errors: list[str] = field(default_factory=list)

    @property
    def good(self) -> int:
        return sum(m.good for m in self.machines.values())

    @property
    def scrap(self) -> int:
        return sum(m.scrap for m in self.machines.values())

    @property
    def balanced(self) -> bool:
        return self.total_debit == self.total_credit


_METRIC_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text -> ``{name: value}``, summing series that differ only by labels."""
    out: dict[str, float] = defaultdict(float)
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _METRIC_LINE.match(line)
        if m is None:
            continue
        try:
            value = float(m.group(3))
        except ValueError:
            continue
        out[m.group(1)] += value
    return dict(out)


def _first(metrics: dict[str, float], names: tuple[str, ...]) -> float | None:
    for name in names:
        if name in metrics:
            return metrics[name]
    return None


def _items(body: Any, *keys: str) -> list[dict[str, Any]]:
    """A list response, bare or wrapped in one of ``keys``."""
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        for key in (*keys, "items", "data", "results"):
            if isinstance(body.get(key), list):
                return list(body[key])
    raise ValueError(f"unexpected response shape: {str(body)[:200]}")


class DemoReader:
    """Reads the running system; keeps a cursor so machine states are fetched incrementally."""

    def __init__(self, api: str, token: str, edge_status: str, machines: list[str]) -> None:
        self.api = api.rstrip("/") + "/api/v1"
        self.edge_status = edge_status.rstrip("/")
        self.machines = machines
        self.http = httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=5.0)
        self._states: dict[str, tuple[str, str]] = {}
        self._state_since: dict[str, str] = {}
        self.read_errors = 0

    def close(self) -> None:
        self.http.close()

    def get(self, path: str, **params: str) -> Any:
        resp = self.http.get(self.api + path, params=params or None)
        if resp.status_code != 200:
            raise RuntimeError(f"GET {path}: HTTP {resp.status_code}: {resp.text[:200]}")
        return resp.json()

    def collect(self) -> Snapshot:
        snap = Snapshot(machines={m: MachineView() for m in self.machines})
        for part in (self._orders, self._states_part, self._downtime, self._quality, self._ledger, self._edge):
            try:
                part(snap)
            except (httpx.HTTPError, RuntimeError, ValueError, KeyError, TypeError) as exc:
                self.read_errors += 1
                snap.errors.append(f"{part.__name__.strip('_')}: {exc}")
                log.debug("view read %s failed: %s", part.__name__, exc)
        for mid, (state, reason) in self._states.items():
            if mid in snap.machines:
                snap.machines[mid].state, snap.machines[mid].reason = state, reason
        return snap

    def _orders(self, snap: Snapshot) -> None:
        for wo in _items(self.get("/work-orders"), "work_orders"):
            machine = wo.get("machine")
            if machine not in snap.machines:
                continue
            view = snap.machines[machine]
            view.good += int(dec(wo.get("good_qty")))
            view.scrap += int(dec(wo.get("scrap_qty")))
            if wo.get("status") in ("running", "started", "in_progress"):
                view.work_order = str(wo.get("id", ""))

    def _states_part(self, snap: Snapshot) -> None:
        for machine in self.machines:
            params = {"machine": machine, "kind": "state"}
            if machine in self._state_since:
                params["since"] = self._state_since[machine]
            events = _items(self.get("/events", **params), "events")
            for ev in events:
                self._states[machine] = (str(ev.get("state", "?")), str(ev.get("reason") or ""))
                if ev.get("ts"):
                    self._state_since[machine] = str(ev["ts"])

    def _downtime(self, snap: Snapshot) -> None:
        body = self.get("/reports/downtime")
        for row in body.get("rows", []):
            reason = str(row.get("reason") or "-")
            snap.downtime_hours[reason] = snap.downtime_hours.get(reason, ZERO) + dec(row.get("hours"))
        snap.downtime_cost = dec(body.get("total_cost"))

    def _quality(self, snap: Snapshot) -> None:
        snap.cost_of_quality = dec(self.get("/reports/cost-of-quality").get("total"))

    def _ledger(self, snap: Snapshot) -> None:
        tb = self.get("/trial-balance")
        snap.total_debit, snap.total_credit = dec(tb.get("total_debit")), dec(tb.get("total_credit"))
        for line in tb.get("lines", []):
            net = dec(line.get("debit")) - dec(line.get("credit"))
            if line.get("role") == "wip":
                snap.wip += net
            elif line.get("role") == "finished_goods":
                snap.finished_goods += net

    def _edge(self, snap: Snapshot) -> None:
        resp = httpx.get(self.edge_status + "/metrics", timeout=3.0)
        resp.raise_for_status()
        metrics = parse_metrics(resp.text)
        backlog = _first(metrics, BACKLOG_METRICS)
        acked = _first(metrics, LAST_ACK_METRICS)
        ack_ts = _first(metrics, LAST_ACK_TIME_METRICS)
        snap.backlog = None if backlog is None else int(backlog)
        snap.acked_through = None if acked is None else int(acked)
        snap.last_ack_age_s = None if not ack_ts else max(0.0, time.time() - ack_ts)


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def _ack(snap: Snapshot) -> str:
    if snap.acked_through is None:
        return "-"
    age = "" if snap.last_ack_age_s is None else f" ({snap.last_ack_age_s:.0f} s ago)"
    return f"seq {snap.acked_through}{age}"


def render_line(snap: Snapshot, elapsed_s: float) -> str:
    """One summary line (stdout is not a terminal)."""
    down_h = sum(snap.downtime_hours.values(), ZERO)
    backlog = "-" if snap.backlog is None else str(snap.backlog)
    parts = [
        f"t={elapsed_s:.0f}s",
        f"good={snap.good}",
        f"scrap={snap.scrap}",
        f"downtime_h={down_h:.3f}",
        f"wip={snap.wip:.2f}",
        f"fg={snap.finished_goods:.2f}",
        f"coq={snap.cost_of_quality:.2f}",
        f"balanced={'yes' if snap.balanced else 'NO'}",
        f"backlog={backlog}",
        f"acked={snap.acked_through if snap.acked_through is not None else '-'}",
        f"link={snap.link.split(' ')[0]}",
    ]
    if snap.errors:
        parts.append(f"errors={len(snap.errors)}")
    return "demo: " + " ".join(parts)


def render_screen(snap: Snapshot, elapsed_s: float, header: list[str]) -> str:
    """The full-screen view (stdout is a terminal)."""
    out = [CLEAR + "\n".join(header), ""]
    out.append(f"{BOLD}{'machine':<10}{'state':<14}{'reason':<12}{'good':>7}{'scrap':>7}  work order{RESET}")
    for mid, m in snap.machines.items():
        colour = GREEN if m.state == "running" else RED if m.state == "down" else ""
        state = f"{colour}{m.state:<14}{RESET if colour else ''}"
        out.append(f"{mid:<10}{state}{m.reason:<12}{m.good:>7}{m.scrap:>7}  {m.work_order}")
    out.append(f"{'total':<36}{snap.good:>7}{snap.scrap:>7}")
    out.append("")
    downtime = ", ".join(f"{r} {h:.3f} h" for r, h in sorted(snap.downtime_hours.items())) or "none yet"
    out.append(f"{BOLD}downtime{RESET}        {downtime} (cost {_money(snap.downtime_cost)})")
    out.append(
        f"{BOLD}value{RESET}           WIP {_money(snap.wip)}   finished goods {_money(snap.finished_goods)}   "
        f"cost of quality {_money(snap.cost_of_quality)}"
    )
    balance = f"{GREEN}balanced{RESET}" if snap.balanced else f"{RED}NOT BALANCED{RESET}"
    totals = f"debit {_money(snap.total_debit)} = credit {_money(snap.total_credit)}"
    out.append(f"{BOLD}ledger{RESET}          {totals}: {balance}")
    link = snap.link if snap.link == "up" else f"{RED}{snap.link}{RESET}"
    backlog = "-" if snap.backlog is None else f"{snap.backlog} events"
    out.append(f"{BOLD}edge{RESET}            backlog {backlog}   last ack {_ack(snap)}   link {link}")
    for err in snap.errors[:4]:
        out.append(f"{DIM}read error: {err[:150]}{RESET}")
    out.append("")
    out.append(f"{DIM}t={elapsed_s:.0f} s   Ctrl-C stops every process cleanly{RESET}")
    return "\n".join(out) + "\n"
