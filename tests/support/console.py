"""Helpers for the console tests: a plant scenario through the real ingest and API, and signing
in the way a browser does (sign-in form, CSRF value, session cookie)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from central.bootstrap import Container
from support.api import ok
from support.costing import MACHINE, ingest, wire_events, worked_example_master

API = "/api/v1"
CONSOLE = "/console"
STREAM = "s-console"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "no CSRF field in the page"
    return found.group(1)


def sign_in(client: TestClient, token: str) -> str:
    """Sign in with ``token`` (an API token, not the header); returns the session's CSRF value."""
    form = client.get(f"{CONSOLE}/sign-in")
    assert form.status_code == 200, form.text
    resp = client.post(f"{CONSOLE}/sign-in", data={"token": token, "csrf": csrf_of(form.text)},
                       follow_redirects=False)
    assert resp.status_code == 303, resp.text
    page = client.get(f"{CONSOLE}/plant")
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


def bearer(header: dict[str, str]) -> str:
    return header["Authorization"].split(" ", 1)[1]


def units(t0: datetime, n: int, first_seq: int, kind: str = "count", flags: list[str] | None = None) -> list[Any]:
    return wire_events([{"kind": kind, "ts": t0 + timedelta(minutes=i), "qty": 1, "flags": flags or [],
                         "reason": "BURR" if kind == "scrap" else None,
                         "raw": {"tag": kind, "value": 1000 + first_seq + i, "prev": 999 + first_seq + i}}
                        for i in range(n)], first_seq=first_seq)


def plant_scenario(central: Container, client: TestClient, admin: dict[str, str]) -> dict[str, Any]:
    """Master data; WO-1 runs on the press (states, units, scrap, two suspect events) and is
    closed, so variances exist; WO-2 runs with a gap in its stream (seq 30 missing, 31.. held)."""
    ok(client.post(f"{API}/master-data", json=worked_example_master(), headers=admin))
    for wo in ("WO-1", "WO-2"):
        ok(client.post(f"{API}/work-orders", json={"id": wo, "item": "BR-100", "qty": "100"}, headers=admin), 201)
        ok(client.post(f"{API}/work-orders/{wo}/release", headers=admin))
    t0 = (datetime.now(UTC) - timedelta(hours=4)).replace(microsecond=0)
    ok(client.post(f"{API}/work-orders/WO-1/start", json={"machine": MACHINE, "at": t0.isoformat()}, headers=admin))
    run = wire_events([{"kind": "state", "ts": t0, "state": "running", "raw": {"tag": "state", "value": 1,
                                                                                  "prev": 0}}])
    stop = wire_events([{"kind": "state", "ts": t0 + timedelta(minutes=30), "state": "down", "reason": "EQ_FAIL",
                         "raw": {"tag": "state", "value": 3, "prev": 1}}], first_seq=20)
    again = wire_events([{"kind": "state", "ts": t0 + timedelta(minutes=45), "state": "running",
                          "raw": {"tag": "state", "value": 1, "prev": 3}}], first_seq=21)
    ingest(central, [*run, *units(t0 + timedelta(minutes=1), 12, 2), *units(t0 + timedelta(minutes=14), 3, 14,
                                                                             kind="scrap"),
                     *units(t0 + timedelta(minutes=18), 2, 17, flags=["suspect"]), *wire_events([], 19), *stop,
                     *again], 50, stream=STREAM)
    ingest(central, units(t0 + timedelta(minutes=50), 1, 19), 50, stream=STREAM)
    t1 = t0 + timedelta(minutes=60)
    ok(client.post(f"{API}/work-orders/WO-1/complete", json={"at": t1.isoformat()}, headers=admin))
    ok(client.post(f"{API}/work-orders/WO-1/close", headers=admin))
    ok(client.post(f"{API}/work-orders/WO-2/start", json={"machine": MACHINE, "at": (t1 + timedelta(minutes=1))
                                                          .isoformat()}, headers=admin))
    ingest(central, units(t1 + timedelta(minutes=2), 5, 22), 50, stream=STREAM)
    ingest(central, units(t1 + timedelta(minutes=10), 3, 31), 50, stream=STREAM)  # seqs 27..30 missing
    return {"t0": t0, "stream": STREAM}
