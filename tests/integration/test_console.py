"""The web console through the TestClient (no browser): the session cookie's flags, CSRF on every
form, a revoked token ending the session, sessions shared by two central processes, every role's
pages (shown and served exactly per issue 15's table), queue actions checked through the API,
the drill-down to raw PLC values, and odd input never answered with a 5xx."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from support.api import api_client, err, ok, token
from support.console import API, CONSOLE, bearer, csrf_of, plant_scenario, sign_in
from support.costing import costing_container, worked_example_master

from central.adapters.db.models_recommendations import RecommendationRow
from central.bootstrap import Container
from central.domain.console_access import ALL_ROLES, Page, may_view, pages_for
from central.entrypoints.console import pages as console_pages
from central.entrypoints.console.web import SESSION_COOKIE, SIGNIN_COOKIE
from central.service_layer import console_views
from central.service_layer.alerts import raise_alert
from central.service_layer.costing import reports
from central.service_layer.costing.executive import executive_summary
from central.service_layer.costing.master_data import snapshot
from central.service_layer.ingest import queries

PAGE_PATHS = {Page.PLANT: "/plant", Page.MACHINE: "/machines/PRESS-2", Page.COST: "/cost",
              Page.MARGIN: "/margin", Page.EXECUTIVE: "/executive", Page.QUEUES: "/queues", Page.AUDIT: "/audit"}


@pytest.fixture
def scenario(central: Container, client: TestClient, admin: dict[str, str]) -> dict[str, Any]:
    return plant_scenario(central, client, admin)


def _nav(html: str) -> set[str]:
    block = html.split('<nav id="nav">', 1)[1].split("</nav>", 1)[0]
    return set(re.findall(r'data-page="([a-z]+)"', block))


def test_sign_in_sets_an_httponly_samesite_strict_cookie_and_stores_only_its_hash(
    central: Container, client: TestClient, admin: dict[str, str]
) -> None:
    form = client.get(f"{CONSOLE}/sign-in")
    assert "HttpOnly" in form.headers["set-cookie"] and "SameSite=strict" in form.headers["set-cookie"]
    resp = client.post(f"{CONSOLE}/sign-in", data={"token": bearer(admin), "csrf": csrf_of(form.text)},
                       follow_redirects=False)
    assert resp.status_code == 303
    cookie = next(c for c in resp.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE + "="))
    flags = [f.strip().lower() for f in cookie.split(";")]
    assert "httponly" in flags and "samesite=strict" in flags and "path=/console" in flags
    session_id = cookie.split(";", 1)[0].split("=", 1)[1]
    with central.read_sessions() as s:
        rows = s.execute(sa.text("SELECT id_hash, token_id FROM console_sessions")).all()
    assert len(rows) == 1 and session_id not in rows[0][0] and len(rows[0][0]) == 64
    assert client.get(f"{CONSOLE}/plant").status_code == 200


def test_bad_token_missing_csrf_and_no_session_are_refused(client: TestClient, admin: dict[str, str]) -> None:
    form = client.get(f"{CONSOLE}/sign-in")
    bad = client.post(f"{CONSOLE}/sign-in", data={"token": "sfs_nope_nope", "csrf": csrf_of(form.text)})
    assert bad.status_code == 401 and "sign-in refused" in bad.text
    form = client.get(f"{CONSOLE}/sign-in")
    no_csrf = client.post(f"{CONSOLE}/sign-in", data={"token": bearer(admin), "csrf": "forged"})
    assert no_csrf.status_code == 403 and SESSION_COOKIE not in client.cookies
    fresh = TestClient(client.app, raise_server_exceptions=False)
    page = fresh.get(f"{CONSOLE}/cost", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith(f"{CONSOLE}/sign-in")
    htmx = fresh.get(f"{CONSOLE}/plant/live", headers={"HX-Request": "true"})
    assert htmx.status_code == 401 and htmx.headers["HX-Redirect"].startswith(f"{CONSOLE}/sign-in")


def test_every_form_needs_the_session_csrf_value(
    scenario: dict[str, Any], client: TestClient, admin: dict[str, str]
) -> None:
    sign_in(client, bearer(admin))
    alerts_before = ok(client.get(f"{API}/suspect-events", headers=admin))["events"]
    event_id = alerts_before[0]["id"]
    for data in ({}, {"csrf": "wrong"}):
        refused = client.post(f"{CONSOLE}/queues/suspect/{event_id}/accept", data=data)
        assert refused.status_code == 403 and 'data-code="csrf"' in refused.text
    refused = client.post(f"{CONSOLE}/sign-out", data={"csrf": "wrong"})
    assert refused.status_code == 403
    assert ok(client.get(f"{API}/suspect-events", headers=admin))["events"] == alerts_before
    assert client.get(f"{CONSOLE}/plant").status_code == 200  # still signed in


def test_revoked_token_ends_the_session_and_sign_out_ends_it_too(
    central: Container, client: TestClient, admin: dict[str, str]
) -> None:
    h = token(central, "carla", "controller")
    csrf = sign_in(client, bearer(h))
    token_id = bearer(h).split("_")[1]
    ok(client.post(f"{API}/tokens/{token_id}/revoke", headers=admin))
    gone = client.get(f"{CONSOLE}/queues", follow_redirects=False)
    assert gone.status_code == 303 and "revoked" in gone.headers["location"]
    other = TestClient(client.app, raise_server_exceptions=False)
    csrf = sign_in(other, bearer(admin))
    out = other.post(f"{CONSOLE}/sign-out", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303 and other.get(f"{CONSOLE}/plant", follow_redirects=False).status_code == 303
    audit = ok(client.get(f"{API}/audit", params={"action": "console.*"}, headers=admin))["records"]
    assert {r["action"] for r in audit} == {"console.sign_in", "console.sign_out"}


def test_a_session_works_in_another_central_process_on_the_same_database(
    central_db_url: str, central: Container, client: TestClient, admin: dict[str, str]
) -> None:
    sign_in(client, bearer(admin))
    second = costing_container(central_db_url)
    try:
        other = api_client(second)
        other.cookies.set(SESSION_COOKIE, client.cookies[SESSION_COOKIE], path="/console")
        assert other.get(f"{CONSOLE}/plant").status_code == 200
    finally:
        second.dispose()


@pytest.mark.parametrize("role", ALL_ROLES)
def test_each_role_sees_and_is_served_exactly_its_pages(
    role: str, scenario: dict[str, Any], central: Container, client: TestClient
) -> None:
    sign_in(client, bearer(token(central, f"u-{role}", role)))
    home = client.get(f"{CONSOLE}/")
    assert home.status_code == 200
    assert _nav(home.text) == {p.value for p in pages_for(role)}
    for page, path in PAGE_PATHS.items():
        resp = client.get(CONSOLE + path)
        if may_view(role, page):
            assert resp.status_code == 200, (role, path, resp.text[:500])
        else:
            assert resp.status_code == 403 and "data-status=\"403\"" in resp.text, (role, path)


def test_executive_reads_and_writes_nothing(central: Container, client: TestClient, admin: dict[str, str]) -> None:
    h = token(central, "eve", "executive")
    ok(client.get(f"{API}/reports/wip", headers=h))
    err(client.post(f"{API}/work-orders", json={"item": "BR-100", "qty": "1"}, headers=h), 403)
    err(client.post(f"{API}/alerts/1/ack", headers=h), 403)
    err(client.post(f"{API}/approvals/1/approve", headers=h), 403)
    csrf = sign_in(client, bearer(h))
    assert client.post(f"{CONSOLE}/queues/alerts/1/ack", data={"csrf": csrf}).status_code == 403


def test_queue_actions_as_the_api_with_roles_and_segregation_of_duties(
    scenario: dict[str, Any], central: Container, client: TestClient, admin: dict[str, str]
) -> None:
    operator = TestClient(client.app, raise_server_exceptions=False)
    op_csrf = sign_in(operator, bearer(token(central, "otto", "operator")))
    suspect = ok(client.get(f"{API}/suspect-events", headers=admin))["events"]
    queues = operator.get(f"{CONSOLE}/queues").text
    assert "accept-suspect" not in queues and "accept-gap" not in queues
    assert operator.post(f"{CONSOLE}/queues/suspect/{suspect[0]['id']}/accept",
                         data={"csrf": op_csrf}).status_code == 403

    csrf = sign_in(client, bearer(token(central, "carla", "controller")))
    page = client.get(f"{CONSOLE}/queues").text
    assert "accept-suspect" in page and "accept-gap" in page
    done = client.post(f"{CONSOLE}/queues/suspect/{suspect[0]['id']}/accept", data={"csrf": csrf})
    assert done.status_code == 200 and "accepted" in done.text
    left = ok(client.get(f"{API}/suspect-events", headers=admin))["events"]
    assert [e["id"] for e in left] == [suspect[1]["id"]]
    stream = ok(client.get(f"{API}/streams", headers=admin))["streams"][0]
    gap = stream["gaps"][0]
    done = client.post(f"{CONSOLE}/queues/gaps/{stream['stream']}/accept",
                       data={"csrf": csrf, "through": str(gap["through"]), "reason": "edge replaced"})
    assert done.status_code == 200, done.text
    after = ok(client.get(f"{API}/streams", headers=admin))["streams"][0]
    assert after["gaps"] == [] and after["acked_through"] == stream["last_seq"]
    records = ok(client.get(f"{API}/audit", params={"actor": "carla"}, headers=admin))["records"]
    assert any(r["request_digest"] for r in records) and all(r["role"] == "controller" for r in records
                                                              if r["actor"] == "carla")


def test_approval_needs_a_second_controller_never_the_requester(
    central: Container, client: TestClient, admin: dict[str, str]
) -> None:
    doc = worked_example_master()
    ok(client.post(f"{API}/master-data", json=doc, headers=admin))
    carla, dora = token(central, "carla", "controller"), token(central, "dora", "controller")
    rule = ok(client.get(f"{API}/accounts", headers=carla))
    assert rule  # master data is there
    pending = client.post(f"{API}/journal", headers=carla, json={
        "memo": "accrual", "lines": [{"account": "1300", "debit": "10.00"}, {"account": "2000", "credit": "10.00"}]})
    assert pending.status_code == 202, pending.text
    approval = pending.json()["approval"]["id"]
    own = TestClient(client.app, raise_server_exceptions=False)
    own_csrf = sign_in(own, bearer(carla))
    assert f'queues/approvals/{approval}/approve' not in own.get(f"{CONSOLE}/queues").text
    refused = own.post(f"{CONSOLE}/queues/approvals/{approval}/approve", data={"csrf": own_csrf})
    assert refused.status_code == 403 and "segregation" in refused.text
    csrf = sign_in(client, bearer(dora))
    assert f'queues/approvals/{approval}/approve' in client.get(f"{CONSOLE}/queues").text
    assert client.post(f"{CONSOLE}/queues/approvals/{approval}/approve", data={"csrf": csrf}).status_code == 200
    decided = ok(client.get(f"{API}/approvals/{approval}", headers=admin))["approval"]
    assert decided["status"] == "approved" and decided["decided_by"] == "dora"


def test_drill_down_from_a_variance_to_the_raw_plc_value(
    scenario: dict[str, Any], client: TestClient, admin: dict[str, str]
) -> None:
    sign_in(client, bearer(admin))
    cost = client.get(f"{CONSOLE}/cost").text
    order_link = re.search(r'class="drill" href="(/console/cost/orders/WO-1\?variance=[a-z_]+)"', cost)
    assert order_link is not None, "no variance of WO-1 links to its order"
    order = client.get(order_link.group(1).replace("&amp;", "&")).text
    entries = re.findall(r'class="entry" href="(/console/cost/journal/\d+)"', order)
    assert entries
    raw_values = []
    for link in entries:
        page = client.get(link).text
        raw_values += re.findall(r'class="mono raw">([^<]+)<', page)
    events = ok(client.get(f"{API}/events", params={"machine": "PRESS-2", "kind": "count"}, headers=admin))
    first = events["events"][0]
    assert any(f'&#34;value&#34;: {first["raw"]["value"]}' in r or f'"value": {first["raw"]["value"]}' in r
               for r in raw_values), raw_values[:3]


def test_an_alert_is_acknowledged_by_an_operator_and_resolved_by_a_controller(
    central: Container, client: TestClient, admin: dict[str, str]
) -> None:
    with central.write_sessions() as s, s.begin():
        alert_id = raise_alert(s, "test", "console-test", "press 2 dies worn", datetime.now(UTC)).id
    csrf = sign_in(client, bearer(token(central, "otto", "operator")))
    page = client.get(f"{CONSOLE}/queues").text
    assert f"/queues/alerts/{alert_id}/ack" in page and f"/queues/alerts/{alert_id}/resolve" not in page
    assert client.post(f"{CONSOLE}/queues/alerts/{alert_id}/resolve", data={"csrf": csrf}).status_code == 403
    assert client.post(f"{CONSOLE}/queues/alerts/{alert_id}/ack", data={"csrf": csrf}).status_code == 200
    alert = ok(client.get(f"{API}/alerts/{alert_id}", headers=admin))["alert"]
    assert alert["status"] == "acknowledged" and alert["acked_by"] == "otto"
    boss = TestClient(client.app, raise_server_exceptions=False)
    boss_csrf = sign_in(boss, bearer(token(central, "carla", "controller")))
    assert boss.post(f"{CONSOLE}/queues/alerts/{alert_id}/assign",
                     data={"csrf": boss_csrf, "assignee": "maint"}).status_code == 200
    assert boss.post(f"{CONSOLE}/queues/alerts/{alert_id}/resolve", data={"csrf": boss_csrf}).status_code == 200
    alert = ok(client.get(f"{API}/alerts/{alert_id}", headers=admin))["alert"]
    assert alert["status"] == "resolved" and alert["assignee"] == "maint" and alert["resolved_by"] == "carla"


def test_an_entry_page_lists_its_first_events_and_says_how_many_there_are(
    scenario: dict[str, Any], client: TestClient, admin: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sign_in(client, bearer(admin))
    entries = ok(client.get(f"{API}/journal", params={"work_order": "WO-1", "limit": 100}, headers=admin))["entries"]
    full = max((ok(client.get(f"{API}/journal/{e['id']}", headers=admin)) for e in entries),
               key=lambda e: len(e["lineage"]["events"]))
    count = len(full["lineage"]["events"])
    assert count >= 2
    page = client.get(f"{CONSOLE}/cost/journal/{full['id']}").text
    assert page.count('<tr class="event">') == count and 'id="events-more"' not in page
    monkeypatch.setattr(console_pages, "ENTRY_EVENTS_SHOWN", 1)
    page = client.get(f"{CONSOLE}/cost/journal/{full['id']}").text
    assert page.count('<tr class="event">') == 1 and f"the first 1 of {count} events" in page


def test_an_order_page_lists_its_newest_entries_and_says_how_many_there_are(
    scenario: dict[str, Any], client: TestClient, admin: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sign_in(client, bearer(admin))
    entries = ok(client.get(f"{API}/journal", params={"work_order": "WO-1", "limit": 500}, headers=admin))["entries"]
    ids = [e["id"] for e in entries]
    assert len(ids) >= 3
    page = client.get(f"{CONSOLE}/cost/orders/WO-1").text
    assert sorted(int(i) for i in re.findall(r'class="entry" href="/console/cost/journal/(\d+)"', page)) == ids
    assert 'id="entries-more"' not in page
    monkeypatch.setattr(console_pages, "ORDER_ENTRIES_SHOWN", 2)
    page = client.get(f"{CONSOLE}/cost/orders/WO-1").text
    assert sorted(int(i) for i in re.findall(r'class="entry" href="/console/cost/journal/(\d+)"', page)) == ids[-2:]
    assert f"the newest 2 of {len(ids)} entries" in page


def _open_recommendation(central: Container, machine: str) -> int:
    """An open scrap-rate recommendation as the detector writes one (the detector is tested in
    test_recommendations.py; here only the console's actions on it matter)."""
    now = datetime.now(UTC)
    with central.write_sessions() as s, s.begin():
        row = RecommendationRow(
            kind="anomaly", metric="scrap_rate", key=f"scrap_rate|{machine}|BR-100|", machine=machine,
            item="BR-100", component=None, work_order="WO-1", plant="P1",
            message=f"scrap rate on {machine} 0.150 over its threshold 0.080", value="0.150", threshold="0.080",
            baseline={"median": "0.05"}, evidence={"units": 200}, count=1, status="open", created=now, last_seen=now)
        s.add(row)
        s.flush()
        return row.id


def test_recommendations_are_acknowledged_by_any_writer_dismissed_and_escalated_by_a_controller(
    central: Container, client: TestClient, admin: dict[str, str]
) -> None:
    first, second = _open_recommendation(central, "PRESS-1"), _open_recommendation(central, "PRESS-2")

    def rec(rec_id: int) -> dict[str, Any]:
        return dict(ok(client.get(f"{API}/recommendations/{rec_id}", headers=admin))["recommendation"])

    executive = TestClient(client.app, raise_server_exceptions=False)
    exec_csrf = sign_in(executive, bearer(token(central, "eve", "executive")))
    assert executive.get(f"{CONSOLE}/queues").status_code == 403
    assert executive.post(f"{CONSOLE}/queues/recommendations/{first}/ack", data={"csrf": exec_csrf}).status_code == 403

    operator = TestClient(client.app, raise_server_exceptions=False)
    op_csrf = sign_in(operator, bearer(token(central, "otto", "operator")))
    page = operator.get(f"{CONSOLE}/queues").text
    assert f'data-recommendation="{first}"' in page and f"/queues/recommendations/{first}/ack" in page
    assert f"/recommendations/{first}/dismiss" not in page and f"/recommendations/{first}/escalate" not in page
    for action, data in (("dismiss", {"reason": "normal"}), ("escalate", {})):
        refused = operator.post(f"{CONSOLE}/queues/recommendations/{first}/{action}", data={"csrf": op_csrf, **data})
        assert refused.status_code == 403, action
    assert rec(first)["status"] == "open"
    done = operator.post(f"{CONSOLE}/queues/recommendations/{first}/ack", data={"csrf": op_csrf, "comment": "on it"})
    assert done.status_code == 200 and "acknowledged" in done.text
    assert (rec(first)["status"], rec(first)["decided_by"], rec(first)["comment"]) == ("acknowledged", "otto", "on it")
    again = operator.post(f"{CONSOLE}/queues/recommendations/{first}/ack", data={"csrf": op_csrf})
    assert again.status_code == 409 and "acknowledged by otto" in again.text

    csrf = sign_in(client, bearer(token(central, "carla", "controller")))
    page = client.get(f"{CONSOLE}/queues").text
    assert f"/recommendations/{first}/ack" not in page  # acknowledged already
    assert f"/recommendations/{first}/dismiss" in page and f"/recommendations/{second}/escalate" in page
    bad = client.post(f"{CONSOLE}/queues/recommendations/{first}/dismiss", data={"csrf": csrf, "reason": "because"})
    assert bad.status_code == 422 and rec(first)["status"] == "acknowledged"
    assert client.post(f"{CONSOLE}/queues/recommendations/{first}/dismiss",
                       data={"csrf": csrf, "reason": "one_off"}).status_code == 200
    assert (rec(first)["status"], rec(first)["reason"], rec(first)["decided_by"]) == ("dismissed", "one_off", "carla")
    assert client.post(f"{CONSOLE}/queues/recommendations/{second}/escalate", data={"csrf": csrf}).status_code == 200
    escalated = rec(second)
    assert escalated["status"] == "escalated" and escalated["alert_id"]
    alert = ok(client.get(f"{API}/alerts/{escalated['alert_id']}", headers=admin))["alert"]
    assert alert["kind"] == "anomaly" and alert["detail"]["recommendation"] == second
    page = client.get(f"{CONSOLE}/queues").text
    assert f'data-recommendation="{first}"' not in page and f'data-recommendation="{second}"' not in page
    assert f'data-alert="{escalated["alert_id"]}"' in page
    trail = ok(client.get(f"{API}/audit", params={"action": "recommendation.*"}, headers=admin))["records"]
    assert [(r["action"], r["actor"]) for r in trail] == [
        ("recommendation.acknowledged", "otto"), ("recommendation.dismissed", "carla"),
        ("recommendation.escalated", "carla")]


def test_the_oee_trend_is_the_oee_report_per_day(
    scenario: dict[str, Any], central: Container, client: TestClient, admin: dict[str, str]
) -> None:
    with central.read_sessions() as s:
        trend = console_views.oee_trend(s, 3)
    assert [d["day"] for d in trend] == sorted(d["day"] for d in trend) and len(trend) == 3
    for point in trend:
        day = ok(client.get(f"{API}/reports/oee", params={"from": point["day"], "to": point["day"]}, headers=admin))
        assert (point["good"], point["scrap"], point["oee"]) == (day["good"], day["scrap"], day["oee"])
    assert sum(int(d["good"]) for d in trend) > 0  # the scenario ran in the last hours


def test_the_plant_and_cost_figures_read_once_are_the_api_reports(
    scenario: dict[str, Any], central: Container
) -> None:
    """The plant page reads the intervals and units once for every machine; each figure must still
    be the API's report for that machine and for the plant (no divergence between console and API)."""
    with central.read_sessions() as s:
        snap = snapshot(s)
        now = datetime.now(UTC)
        for w in (console_views.today_window(s, snap, lambda: now),
                  reports.window(s, snap, None, "2020-01-01", None, clock=lambda: now)):
            got = console_views.window_figures(s, snap, w, clock=lambda: now)
            for m in snap.master.machines:
                assert got["oee"][m.id] == reports.oee(s, w, m.id, clock=lambda: now), m.id
            assert got["plant_oee"] == reports.oee(s, w, None, clock=lambda: now)
            assert got["downtime"] == reports.downtime(s, w, None, clock=lambda: now)
            costs = console_views.cost_figures(s, snap, w, clock=lambda: now)
            assert costs["downtime"] == reports.downtime(s, w, None, clock=lambda: now)
            assert costs["coq"] == reports.cost_of_quality(s, w)
        assert int(got["plant_oee"]["good"]) > 0 and got["downtime"]["rows"]  # the scenario has both
        assert costs["coq"]["rows"] and costs["downtime"]["rows"]
        # split inside the scenario's stop (t0 + 30 to 45 min) and between its scrap events: the cached
        # part before the split and the part after it add up to the reports, then again from the cache
        split = scenario["t0"] + timedelta(minutes=35)
        for _ in range(2):
            assert console_views.cost_figures(s, snap, w, clock=lambda: now, split=split) == costs
        late = scenario["t0"] + timedelta(minutes=15, seconds=30)
        assert console_views.cost_figures(s, snap, w, clock=lambda: now, split=late) == costs
        overview = console_views.plant_overview(s, clock=lambda: now)
        held = {st["stream"]: st["held"] for st in console_views.stream_summaries(s)}
    with central.read_sessions() as s:
        assert held == {st["stream"]: st["held"] for st in queries.list_streams(s)} and any(held.values())
    assert overview["streams"] and {r["machine"] for r in overview["machines"]} == {m.id for m in snap.master.machines}


def test_the_executive_summary_is_the_same_read_whole_split_anywhere_and_from_its_cache(
    scenario: dict[str, Any], central: Container
) -> None:
    """The summary caches what lies before its split (today's midnight); split at the epoch nothing
    is cached, which is the reference. Inside the scenario's stop and between its units, then the
    same split again (from the cache): the same summary."""
    now = datetime.now(UTC)
    with central.read_sessions() as s:
        whole = executive_summary(s, clock=lambda: now, split=datetime(1970, 1, 1, tzinfo=UTC))
        assert any(sc.today.good + sc.yesterday.good > 0 for sc in whole.scopes)  # the last 4 hours
        for split in (None, scenario["t0"] + timedelta(minutes=35), scenario["t0"] + timedelta(minutes=35),
                      scenario["t0"] + timedelta(minutes=15, seconds=30)):
            assert executive_summary(s, clock=lambda: now, split=split) == whole, split


@pytest.mark.parametrize("path", [
    "/machines/NOPE", "/machines/PRESS-2?from=yesterday", "/machines/PRESS-2?hours=99999",
    "/machines/PRESS-2?from=9999-12-31T23:59:59-01:00", "/cost?period=%00", "/cost?period=" + "x" * 500,
    "/cost/orders/NOPE", "/cost/journal/99999999999999999999", "/cost/journal/-1", "/margin?plant=ZZ",
    "/audit?after=-5", "/queues?period=NOPE", "/nope",
])
def test_odd_input_is_never_a_server_error(
    path: str, scenario: dict[str, Any], client: TestClient, admin: dict[str, str]
) -> None:
    sign_in(client, bearer(admin))
    resp = client.get(CONSOLE + path)
    assert 400 <= resp.status_code < 500 or resp.status_code == 200, (path, resp.status_code, resp.text[:300])
    assert "text/html" in resp.headers["content-type"]


def test_odd_form_posts_are_never_a_server_error(
    scenario: dict[str, Any], client: TestClient, admin: dict[str, str]
) -> None:
    csrf = sign_in(client, bearer(admin))
    for path, data in [
        ("/queues/suspect/99999999999999999999/accept", {}), ("/queues/suspect/424242/accept", {}),
        ("/queues/gaps/nope/accept", {"through": "x", "reason": "r"}),
        ("/queues/gaps/nope/accept", {"through": "5", "reason": ""}),
        ("/queues/unassigned/1/assign", {"work_order": "\x00"}), ("/queues/alerts/7/ack", {}),
        ("/queues/recommendations/7/ack", {}), ("/queues/recommendations/7/dismiss", {"reason": "x"}),
        ("/queues/approvals/5/reject", {"reason": ""}), ("/periods/NOPE/close", {}),
    ]:
        resp = client.post(CONSOLE + path, data={"csrf": csrf, **data})
        assert 400 <= resp.status_code < 500, (path, resp.status_code, resp.text[:300])
    assert SIGNIN_COOKIE  # the sign-in cookie name is part of the contract the docs describe
