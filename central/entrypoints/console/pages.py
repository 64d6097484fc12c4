"""The console's pages (GET): plant, machine timeline, cost with drill-down, margin, executive
summary, audit log. Each page is gated by :func:`page_guard` (issue 15's table) and reads through
the same service functions as the API's reports."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from central.domain.bounds import INT64_MAX, check_instant
from central.domain.console_access import Page, pages_for
from central.entrypoints.api.deps import IdPath, SessionDep, get_container
from central.entrypoints.console import charts
from central.entrypoints.console.web import PREFIX, SignedIn, page_guard, render
from central.errors import InvalidInput
from central.service_layer import console_views
from central.service_layer.console_sessions import ConsoleSession
from central.service_layer.costing import executive as executive_summary
from central.service_layer.costing import ledger, margin, reports
from central.service_layer.costing.master_data import snapshot
from central.service_layer.costing.periods import PeriodView, list_periods
from central.service_layer.governance import list_audit
from central.service_layer.governance.seal import verify_all

__all__ = ["router", "current_period"]

router = APIRouter()

Plant = Annotated[ConsoleSession, Depends(page_guard(Page.PLANT))]
Machine = Annotated[ConsoleSession, Depends(page_guard(Page.MACHINE))]
Cost = Annotated[ConsoleSession, Depends(page_guard(Page.COST))]
Executive = Annotated[ConsoleSession, Depends(page_guard(Page.EXECUTIVE))]
MarginPage = Annotated[ConsoleSession, Depends(page_guard(Page.MARGIN))]
Audit = Annotated[ConsoleSession, Depends(page_guard(Page.AUDIT))]
Text = Annotated[str | None, Query(max_length=64)]
ENTRY_EVENTS_SHOWN = 200
"""Machine events an entry's page lists (a production entry of one 500-event batch has ~480): the
rest are one API call away."""
ORDER_ENTRIES_SHOWN = 100
"""Journal entries an order's page lists: the newest (its close and variance entries come last; an
order of the 1M-event history has ~190, one per batch and kind); the rest are one API call away."""


def current_period(periods: Sequence[Mapping[str, Any]], today: date) -> str | None:
    """The period holding ``today``, else the latest one that started, else None."""
    started = [p for p in periods if date.fromisoformat(p["start"]) <= today]
    for p in started:
        if date.fromisoformat(p["end"]) >= today:
            return str(p["id"])
    return str(started[-1]["id"]) if started else (str(periods[0]["id"]) if periods else None)


def _period(session: Any, period: str | None) -> tuple[list[PeriodView], str | None]:
    periods = list_periods(session)
    if period is not None and period not in {p["id"] for p in periods}:
        raise InvalidInput(f"unknown period {period!r}")
    return periods, period or current_period(periods, datetime.now(UTC).date())


@router.get("/", response_class=HTMLResponse)
def home(who: SignedIn) -> Response:
    pages = pages_for(who.principal.role)
    return RedirectResponse(f"{PREFIX}/{pages[0].value}", status_code=303)


@router.get("/plant", response_class=HTMLResponse)
def plant(request: Request, session: SessionDep, who: Plant) -> Response:
    view = console_views.plant_overview(session)
    trend = console_views.oee_trend(session, 7, today_oee=view["oee"])
    pareto: dict[str, Decimal] = {}
    for m in view["machines"]:
        for row in m["downtime"]:
            key = row["reason"] or row["category"]
            pareto[key] = pareto.get(key, Decimal(0)) + Decimal(row["hours"])
    return render(request, "plant.html", {
        "view": view, "trend_svg": charts.trend([(d["day"], Decimal(d["oee"])) for d in trend]),
        "pareto_svg": charts.pareto(sorted(pareto.items())), "page": "plant"}, who=who)


@router.get("/plant/live", response_class=HTMLResponse)
def plant_live(request: Request, session: SessionDep, who: Plant) -> Response:
    """The live part of the plant page (htmx polls it every few seconds)."""
    return render(request, "_plant_live.html", {"view": console_views.plant_overview(session)}, who=who)


def _instant(text: str | None, name: str) -> datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{name}: not an ISO timestamp: {text[:40]!r}") from None
    return check_instant(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC), name).astimezone(UTC)


@router.get("/machines/{machine}", response_class=HTMLResponse)
def machine(request: Request, session: SessionDep, who: Machine, machine: str,
            start: Annotated[str | None, Query(alias="from", max_length=40)] = None,
            end: Annotated[str | None, Query(alias="to", max_length=40)] = None,
            hours: Annotated[int, Query(ge=1, le=168)] = 8) -> Response:
    """A machine's timeline (states, stops, scrap) for a shift: ``from``/``to``, default the last ``hours``."""
    hi = _instant(end, "to") or datetime.now(UTC)
    lo = _instant(start, "from") or hi - timedelta(hours=hours)
    view = console_views.machine_timeline(session, machine, lo, hi)
    oee = console_views.window_figures(session, snapshot(session), reports.Window(lo, hi),
                                       machines=[machine])["oee"][machine]
    return render(request, "machine.html", {
        "view": view, "oee": oee, "timeline_svg": charts.timeline(view["intervals"], view["seconds"]),
        "colours": charts.KIND_COLOURS, "hours": hours, "page": "plant"}, who=who)


@router.get("/cost", response_class=HTMLResponse)
def cost(request: Request, session: SessionDep, who: Cost, period: Text = None) -> Response:
    periods, chosen = _period(session, period)
    snap = snapshot(session)
    w = reports.window(session, snap, chosen, None, None) if chosen else reports.window(session, snap, None, None,
                                                                                         None)
    variances = reports.variances(session, chosen)
    by_type: dict[str, Decimal] = {}
    for v in variances["variances"]:
        by_type[v["type"]] = by_type.get(v["type"], Decimal(0)) + Decimal(v["amount"])
    figures = console_views.cost_figures(session, snap, w)
    downtime = figures["downtime"]
    pareto: dict[str, Decimal] = {}
    for row in downtime["rows"]:
        key = row["reason"] or row["category"]
        pareto[key] = pareto.get(key, Decimal(0)) + Decimal(row["cost"])
    entities: list[str | None] = [e.id for e in snap.master.entities] or [None]
    return render(request, "cost.html", {
        "periods": periods, "period": chosen, "variances": variances,
        "waterfall_svg": charts.waterfall(sorted(by_type.items())), "wip": reports.wip(session),
        "valuation": reports.inventory_valuation(session), "coq": figures["coq"],
        "downtime": downtime, "pareto_svg": charts.pareto(sorted(pareto.items()), unit="", title="Downtime cost"),
        "trial_balances": [ledger.trial_balance(session, e, chosen) for e in entities], "page": "cost"}, who=who)


@router.get("/cost/orders/{order_id}", response_class=HTMLResponse)
def order(request: Request, session: SessionDep, who: Cost, order_id: str,
          variance: Text = None) -> Response:
    """Drill-down step 2: an order's cost sheet, its variances and the journal entries behind them."""
    sheet = reports.cost_sheet(session, order_id)
    shown = ORDER_ENTRIES_SHOWN
    total = ledger.list_journal(session, work_order=order_id, limit=0)["total"]
    journal = ledger.list_journal(session, work_order=order_id, limit=shown, offset=max(0, total - shown))
    return render(request, "order.html", {"sheet": sheet, "journal": journal, "variance": variance,
                                          "page": "cost"}, who=who)


@router.get("/cost/journal/{entry_id}", response_class=HTMLResponse)
def entry(request: Request, session: SessionDep, who: Cost, entry_id: IdPath) -> Response:
    """Drill-down step 3: an entry's lines, its operational record and the machine events with
    their raw PLC values."""
    shown = ENTRY_EVENTS_SHOWN
    return render(request, "entry.html", {"entry": ledger.get_entry(session, entry_id, events_limit=shown),
                                          "shown": shown, "page": "cost"}, who=who)


@router.get("/margin", response_class=HTMLResponse)
def margin_page(request: Request, session: SessionDep, who: MarginPage, period: Text = None, plant: Text = None,
                product: Text = None) -> Response:
    """Standard margin per product, actual margin per closed order, leakage by cause per period
    (the service behind ``GET /reports/margin``)."""
    periods = list_periods(session)
    data = margin.margin_data(margin.margin_report(session, period or None, plant or None, product or None))
    leak: dict[str, Decimal] = {}
    for p in data["periods"][-1:]:
        for c in p["causes"]:
            leak[c["cause"]] = Decimal(c["amount"])
    return render(request, "margin.html", {"m": data, "periods": periods, "period": period or "",
                                           "plant": plant or "", "product": product or "",
                                           "leak_svg": charts.waterfall(list(leak.items()), "Margin leakage by cause"),
                                           "page": "margin"}, who=who)


@router.get("/executive", response_class=HTMLResponse)
def executive(request: Request, session: SessionDep, who: Executive) -> Response:
    """Per plant and entity: today against yesterday, this period against the last (the service
    behind ``GET /reports/executive-summary``)."""
    summary = executive_summary.executive_summary_data(executive_summary.executive_summary(session))
    return render(request, "executive.html", {"s": summary, "page": "executive"}, who=who)


@router.get("/audit", response_class=HTMLResponse)
def audit(request: Request, session: SessionDep, who: Audit,
          after: Annotated[int | None, Query(ge=0, le=INT64_MAX)] = None, action: Text = None,
          actor: Text = None) -> Response:
    page = list_audit(session, limit=100, after=after, newest_first=True, action=action or None,
                      actor=actor or None)
    return render(request, "audit.html", {"page_data": page, "action": action or "", "actor": actor or "",
                                          "verify": None, "page": "audit"}, who=who)


@router.get("/audit/verify", response_class=HTMLResponse)
def audit_verify(request: Request, session: SessionDep, who: Audit) -> Response:
    report = verify_all(get_container(request).read_sessions)
    page = list_audit(session, limit=100, newest_first=True)
    return render(request, "audit.html", {"page_data": page, "action": "", "actor": "", "verify": report,
                                          "page": "audit"}, who=who)
