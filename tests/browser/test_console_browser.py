"""The console in a real browser: Playwright driving Debian's Chromium against central served by
uvicorn on a free port (SQLite). Per role: sign in, see exactly its pages; the queue actions a
role may take (suspect event accepted, gap accepted, approval by a second controller, alert
acknowledged, recommendation acknowledged and dismissed), each checked through the HTTP API; the
drill-down from a variance to a raw PLC value; and the plant's live figures changing while events
arrive.

Skipped, with the reason, when Playwright or Chromium is missing (``.ci/run`` installs Chromium).
"""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.api import api_client, token
from support.console import API, CONSOLE, STREAM, bearer, plant_scenario, units
from support.costing import MACHINE, costing_container, ingest, wire_events

from central.adapters.db.models_recommendations import RecommendationRow
from central.bootstrap import Container
from central.domain.console_access import ALL_ROLES, Page, may_view, pages_for
from central.service_layer.alerts import raise_alert
from sfsync.broker import free_port

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install -e '.[dev]')")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install -y chromium; "
                                                         ".ci/run installs it)")
PAGE_PATHS = {Page.PLANT: "/plant", Page.MACHINE: f"/machines/{MACHINE}", Page.COST: "/cost",
              Page.MARGIN: "/margin", Page.EXECUTIVE: "/executive", Page.QUEUES: "/queues", Page.AUDIT: "/audit"}
TIMEOUT_MS = 20_000


class Served:
    """Central on a free port, with the container (for ingest), the base URL and an admin header."""

    def __init__(self, container: Container, base: str, admin: dict[str, str]) -> None:
        self.container, self.base, self.admin = container, base, admin

    def api(self, method: str, path: str, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        resp = httpx.request(method, f"{self.base}{API}{path}", headers=headers or self.admin, timeout=30, **kw)
        assert resp.status_code < 300, resp.text
        return resp.json()

    def token(self, user: str, role: str) -> str:
        return bearer(token(self.container, user, role))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, central_sqlite_template: Path) -> Iterator[Served]:
    import uvicorn

    from central.entrypoints.api.app import create_app

    db = tmp_path_factory.mktemp("console-browser") / "central.db"
    shutil.copyfile(central_sqlite_template, db)
    container = costing_container(f"sqlite:///{db}")
    admin = token(container, "boss", "admin")
    plant_scenario(container, api_client(container), admin)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(container), host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, name="console-uvicorn", daemon=True)
    thread.start()
    try:
        ready = threading.Event()
        for _ in range(200):
            if server.started:
                ready.set()
                break
            thread.join(0.05)
        assert ready.is_set(), "uvicorn did not start"
        yield Served(container, f"http://127.0.0.1:{port}", admin)
    finally:
        server.should_exit = True
        thread.join(10)
        container.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


def signed_in(browser: Any, served: Served, api_token: str) -> Any:
    """A new browser context signed in through the sign-in form; returns its page."""
    context = browser.new_context(base_url=served.base)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(f"{CONSOLE}/plant")  # not signed in: sent to the sign-in form
    assert "/sign-in" in page.url
    page.fill("#token", api_token)
    page.click("#sign-in")
    page.wait_for_url(re.compile(r".*/console/(plant|cost|queues)$"))
    return page


def test_sign_in_is_refused_for_a_bad_token(browser: Any, served: Served) -> None:
    page = browser.new_page(base_url=served.base)
    page.goto(f"{CONSOLE}/sign-in")
    page.fill("#token", "sfs_0000_not-a-token")
    page.click("#sign-in")
    sync_api.expect(page.locator("#signin-error")).to_contain_text("unknown token")
    page.context.close()


def test_the_demo_sign_in_link_signs_in_at_once_and_drops_the_token_from_the_address(
    browser: Any, served: Served
) -> None:
    page = browser.new_page(base_url=served.base)
    page.goto(f"{CONSOLE}/sign-in#token={served.token('demo-admin', 'admin')}")
    page.wait_for_url(re.compile(r".*/console/plant$"))
    sync_api.expect(page.locator("#who")).to_contain_text("demo-admin (admin)")
    assert "token" not in page.url
    page.context.close()


@pytest.mark.parametrize("role", ALL_ROLES)
def test_each_role_sees_its_pages_and_no_others(role: str, browser: Any, served: Served) -> None:
    page = signed_in(browser, served, served.token(f"b-{role}", role))
    shown = set(page.locator("#nav a").evaluate_all("els => els.map(e => e.dataset.page)"))
    assert shown == {p.value for p in pages_for(role)}
    for target, path in PAGE_PATHS.items():
        resp = page.goto(CONSOLE + path)
        assert resp is not None
        if may_view(role, target):
            assert resp.status == 200, (role, path)
            assert page.locator("#error").count() == 0
        else:
            assert resp.status == 403, (role, path)
            sync_api.expect(page.locator("#error")).to_contain_text("does not see")
    page.goto(f"{CONSOLE}/plant")
    page.click("#sign-out")
    page.wait_for_url(re.compile(r".*/sign-in.*"))
    assert page.goto(f"{CONSOLE}/plant") is not None and "/sign-in" in page.url  # the session is over
    page.context.close()


def test_controller_accepts_a_suspect_event_and_a_gap(browser: Any, served: Served) -> None:
    held = served.api("GET", "/suspect-events")["events"]
    page = signed_in(browser, served, served.token("carla", "controller"))
    page.goto(f"{CONSOLE}/queues")
    page.locator(f'#suspect tr[data-event="{held[0]["id"]}"] button.accept-suspect').click()
    sync_api.expect(page.locator("#flash")).to_contain_text("accepted")
    left = served.api("GET", "/suspect-events")["events"]
    assert held[0]["id"] not in {e["id"] for e in left}
    stream = next(s for s in served.api("GET", "/streams")["streams"] if s["stream"] == STREAM)
    assert stream["gaps"], "the scenario has a gap"
    row = page.locator(f'#gaps tr[data-stream="{STREAM}"]').first
    row.locator('input[name="reason"]').fill("edge replaced, those seqs are gone")
    row.locator("button.accept-gap").click()
    sync_api.expect(page.locator("#flash")).to_contain_text("accepted through")
    after = next(s for s in served.api("GET", "/streams")["streams"] if s["stream"] == STREAM)
    assert after["gaps"] == [] and after["held"] == 0 and after["acked_through"] == stream["last_seq"]
    page.context.close()


def test_an_approval_is_made_by_a_second_controller_never_the_requester(browser: Any, served: Served) -> None:
    carla = {"Authorization": f"Bearer {served.token('carla2', 'controller')}"}
    proposed = served.api("POST", "/journal", headers=carla, json={
        "memo": "browser test accrual",
        "lines": [{"account": "1300", "debit": "12.00"}, {"account": "2000", "credit": "12.00"}]})
    approval = proposed["approval"]["id"]
    own = signed_in(browser, served, bearer(carla))
    own.goto(f"{CONSOLE}/queues")
    row = own.locator(f'#approvals tr[data-approval="{approval}"]')
    sync_api.expect(row).to_contain_text("your own request")
    assert row.locator("button.approve").count() == 0
    own.context.close()
    page = signed_in(browser, served, served.token("dora", "controller"))
    page.goto(f"{CONSOLE}/queues")
    page.locator(f'#approvals tr[data-approval="{approval}"] button.approve').click()
    sync_api.expect(page.locator("#flash")).to_contain_text("approved")
    decided = served.api("GET", f"/approvals/{approval}")["approval"]
    assert decided["status"] == "approved" and decided["decided_by"] == "dora"
    page.context.close()


def test_an_operator_acknowledges_an_alert(browser: Any, served: Served) -> None:
    with served.container.write_sessions() as s, s.begin():
        alert_id = raise_alert(s, "browser", "browser-test", "die change overdue on PRESS-2", datetime.now(UTC)).id
    page = signed_in(browser, served, served.token("otto", "operator"))
    page.goto(f"{CONSOLE}/queues")
    assert page.locator("button.accept-suspect").count() == 0  # not the operator's action
    page.locator(f'#alerts tr[data-alert="{alert_id}"] button.ack-alert').click()
    sync_api.expect(page.locator("#flash")).to_contain_text("acknowledged")
    alert = served.api("GET", f"/alerts/{alert_id}")["alert"]
    assert alert["status"] == "acknowledged" and alert["acked_by"] == "otto"
    page.context.close()


def test_a_recommendation_is_acknowledged_by_an_operator_and_dismissed_by_a_controller(
    browser: Any, served: Served
) -> None:
    now = datetime.now(UTC)
    with served.container.write_sessions() as s, s.begin():
        row = RecommendationRow(
            kind="anomaly", metric="cycle_time", key=f"cycle_time|{MACHINE}|browser", machine=MACHINE, item=None,
            component=None, work_order="WO-1", plant=None, message=f"cycle time on {MACHINE} 25 % over its baseline",
            value="12.5", threshold="11.0", baseline={"median": "10.0"}, evidence={"cycles": 40}, count=1,
            status="open", created=now, last_seen=now)
        s.add(row)
        s.flush()
        rec_id = row.id
    page = signed_in(browser, served, served.token("otto-r", "operator"))
    page.goto(f"{CONSOLE}/queues")
    row_of = f'#recommendations tr[data-recommendation="{rec_id}"]'
    assert page.locator(f"{row_of} button.dismiss-recommendation").count() == 0  # a controller's action
    page.locator(f"{row_of} button.ack-recommendation").click()
    sync_api.expect(page.locator("#flash")).to_contain_text(f"recommendation {rec_id} acknowledged")
    got = served.api("GET", f"/recommendations/{rec_id}")["recommendation"]
    assert (got["status"], got["decided_by"]) == ("acknowledged", "otto-r")
    page.context.close()
    page = signed_in(browser, served, served.token("carla-r", "controller"))
    page.goto(f"{CONSOLE}/queues")
    page.locator(f'{row_of} select[name="reason"]').select_option("data_error")
    page.locator(f"{row_of} button.dismiss-recommendation").click()
    sync_api.expect(page.locator("#flash")).to_contain_text(f"recommendation {rec_id} dismissed (data_error)")
    got = served.api("GET", f"/recommendations/{rec_id}")["recommendation"]
    assert (got["status"], got["reason"], got["decided_by"]) == ("dismissed", "data_error", "carla-r")
    assert page.locator(row_of).count() == 0  # out of the queue
    page.context.close()


def test_drill_down_from_a_variance_to_the_raw_plc_value(browser: Any, served: Served) -> None:
    page = signed_in(browser, served, served.token("aud", "auditor"))
    page.goto(f"{CONSOLE}/cost")
    page.locator("#variances a.drill").first.click()
    page.wait_for_url(re.compile(r".*/cost/orders/WO-1.*"))
    entries = page.locator("#entries a.entry")
    raw_texts: list[str] = []
    for i in range(entries.count()):
        page.locator("#entries a.entry").nth(i).click()
        page.wait_for_url(re.compile(r".*/cost/journal/\d+$"))
        raw_texts += page.locator("#events td.raw").all_inner_texts()
        if raw_texts:
            break
        page.go_back()
    assert raw_texts, "no entry of the order shows machine events"
    shown = [int(m) for t in raw_texts for m in re.findall(r'"value":\s*(\d+)', t)]
    counted = served.api("GET", "/events", params={"machine": MACHINE, "kind": "count", "limit": 500})["events"]
    assert set(shown) <= {e["raw"]["value"] for e in counted if e.get("raw")} | {
        e["raw"]["value"] for e in served.api("GET", "/events", params={"machine": MACHINE, "kind": "scrap"})["events"]
        if e.get("raw")}
    assert shown
    page.context.close()


def test_live_figures_change_while_events_arrive(browser: Any, served: Served) -> None:
    page = signed_in(browser, served, served.token("pat", "planner"))
    page.goto(f"{CONSOLE}/plant")
    good = page.locator("#plant-good")
    before = good.inner_text()
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    run = wire_events([{"kind": "state", "ts": now, "state": "running", "raw": {"tag": "state", "value": 1,
                                                                                   "prev": 0}}])
    ingest(served.container, [*run, *units(now + timedelta(seconds=10), 4, 2)], 50, stream="s-live")
    sync_api.expect(good).not_to_have_text(before, timeout=TIMEOUT_MS)  # htmx polls every 3 s
    assert int(good.inner_text()) == int(before) + 4
    page.context.close()
