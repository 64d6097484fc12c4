"""Helpers for costing tests: the worked example of ACCOUNTING.md as master data and as a real
machine timeline (event batches of the wire contract), and a container that posts."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from central.bootstrap import Container
from central.service_layer.costing import CostingHandler, load_master, parse_master_file
from shared.contract import format_ts
from support.central import EDGE, PLANT, make_container, payload, topic

MACHINE = "PRESS-2"
ROLES = [
    ("1300", "raw_materials"), ("1400", "wip"), ("1500", "finished_goods"), ("2000", "accounts_payable"),
    ("2100", "wages_payable"), ("2200", "overhead_payable"), ("5100", "labor_control"), ("5110", "voh_control"),
    ("5120", "foh_control"), ("5200", "material_price_variance"), ("5210", "material_usage_variance"),
    ("5300", "labor_rate_variance"), ("5310", "labor_idle_variance"), ("5320", "labor_efficiency_variance"),
    ("5400", "voh_spending_variance"), ("5410", "voh_efficiency_variance"), ("5500", "foh_budget_variance"),
    ("5510", "foh_volume_variance"), ("5600", "abnormal_spoilage"), ("5900", "rounding"),
]


def window_start(now: datetime | None = None) -> datetime:
    """Start of the example's 40 h window: three days ago, on the hour."""
    now = now or datetime.now(UTC)
    return (now - timedelta(days=3)).replace(minute=0, second=0, microsecond=0)


def period_id() -> str:
    return "P-TEST"


def worked_example_master(today: date | None = None, foh_budget: str = "1400.00", normal_hours: str = "40") -> \
        dict[str, Any]:
    """Master data of the worked example; one period around today (so API inputs default into it)."""
    today = today or datetime.now(UTC).date()
    return {
        "entities": [{"id": "E1", "name": "Example Metal Ltd", "currency": "EUR", "timezone": "UTC"}],
        "plants": [{"id": PLANT, "entity": "E1"}],
        "accounts": [{"code": code, "name": role.replace("_", " "), "role": role} for code, role in ROLES],
        "items": [
            {"id": "S", "class": "raw", "unit": "kg", "standard_cost": "4.00", "issue": "manual"},
            {"id": "F", "class": "raw", "unit": "pcs", "standard_cost": "0.25", "issue": "manual"},
            {"id": "BR-100", "class": "finished", "unit": "pcs"},
        ],
        "boms": [{"item": "BR-100", "components": [{"item": "S", "qty": "1.5"}, {"item": "F", "qty": "4"}]}],
        "work_centers": [{"id": "WC-PRESS", "plant": PLANT, "labor_rate": "25.00", "voh_rate": "15.00",
                          "foh_budget": foh_budget, "normal_hours": normal_hours}],
        "routings": [{"item": "BR-100", "work_center": "WC-PRESS", "labor_hours": "0.04", "machine_hours": "0.04",
                      "normal_spoilage": "0.03"}],
        "machines": [{"id": MACHINE, "work_center": "WC-PRESS", "edge": EDGE}],
        "downtime_reasons": [
            {"code": "EQ_FAIL", "category": "equipment", "planned": False},
            {"code": "MATERIAL", "category": "material", "planned": False},
            {"code": "BREAK", "category": "other", "planned": True},
        ],
        "scrap_reasons": [{"code": "BURR"}, {"code": "DIM"}],
        "periods": [{"id": period_id(), "start": (today - timedelta(days=30)).isoformat(),
                     "end": (today + timedelta(days=30)).isoformat()}],
    }


def costing_container(url: str) -> Container:
    return make_container(url, posting=CostingHandler())


def load(container: Container, doc: dict[str, Any], user: str = "engineer") -> dict[str, Any]:
    with container.write_sessions() as session, session.begin():
        return load_master(session, parse_master_file(copy.deepcopy(doc)), user).to_data()


RUNS = [(0, 10), (11, 21), (24, 29), (30, 40)]
"""Running spans of the window in hours: 35 h; 10-11 planned (BREAK), 21-24 EQ_FAIL, 29-30 MATERIAL."""


STATES = [(0, "running", None), (10, "planned_stop", "BREAK"), (11, "running", None), (21, "down", "EQ_FAIL"),
          (24, "running", None), (29, "idle", "MATERIAL"), (30, "running", None), (40, "planned_stop", "BREAK")]


def timeline(t0: datetime, good: int = 800, scrap: int = 30) -> list[dict[str, Any]]:
    """The example's events in time order (seq assigned later): state changes, and units spread
    evenly over the running spans with scrap interleaved; each carries its raw counter value."""
    events: list[tuple[datetime, int, dict[str, Any]]] = [
        (t0 + timedelta(hours=h), 0, {"kind": "state", "state": st, "reason": reason,
                                      "raw": {"tag": "state", "value": st, "prev": None}})
        for h, st, reason in STATES
    ]
    total = good + scrap
    seconds = sum(b - a for a, b in RUNS) * 3600
    step = seconds / (total + 1)
    counters = {"count": 0, "scrap": 0}
    for n in range(total):
        kind = "scrap" if (n + 1) * scrap // total > n * scrap // total else "count"
        counters[kind] += 1
        offset = step * (n + 1)
        for a, b in RUNS:
            if offset < (b - a) * 3600:
                ts = t0 + timedelta(hours=a, seconds=offset)
                break
            offset -= (b - a) * 3600
        events.append((ts, 1, {"kind": kind, "qty": 1, "reason": "BURR" if kind == "scrap" else None,
                               "raw": {"tag": kind, "value": counters[kind], "prev": counters[kind] - 1}}))
    events.sort(key=lambda e: (e[0], e[1]))
    return [{**doc, "ts": ts} for ts, _, doc in events]


def wire_events(events: list[dict[str, Any]], first_seq: int = 1) -> list[dict[str, Any]]:
    """Wire-contract event documents with consecutive seqs."""
    out = []
    for n, e in enumerate(events):
        stamp = format_ts(e["ts"])
        doc = {"seq": first_seq + n, "machine": MACHINE, "kind": e["kind"], "ts": stamp, "rx": stamp,
               "flags": e.get("flags", []), "raw": e["raw"]}
        for key in ("qty", "state", "reason"):
            if e.get(key) is not None:
                doc[key] = e[key]
        out.append(doc)
    return out


def chunks(docs: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(docs), size):
        yield docs[start:start + size]


def ingest(container: Container, docs: list[dict[str, Any]], size: int, stream: str = "s-example") -> None:
    """Deliver ``docs`` to the ingest as real batches of ``size`` events (no broker)."""
    for part in chunks(docs, size):
        result = container.ingest.handle_events(topic(), payload(part, stream=stream))
        assert result is not None
