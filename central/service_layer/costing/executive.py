"""The executive summary (issue 15): per plant and per entity, output, OEE, cost of quality,
variances, margin and working capital in WIP and finished goods -- today against yesterday and
this period against the last.

Figures of a scope (one plant, or one entity with all its plants) over a window:

- ``good``, ``scrap``: units posted on the scope's machines (their ``production`` records: of the
  period for a period window, of the posting days for a day window; see
  :mod:`central.service_layer.costing.output_totals`) plus units waiting unassigned, as
  ``/reports/oee`` counts them;
- ``oee``: availability x performance x quality over the scope's machines together
  (:func:`central.domain.operations_reports.oee` of their summed time);
- ``cost_of_quality``: scrap x standard cost per unit processed of the posted scrap, as
  ``/reports/cost-of-quality`` (normal and abnormal together);
- ``variances``: the variance lines (every type, positive = unfavourable) of the journal entries
  of the window -- a period window takes the period's entries (so it ties to
  ``/reports/variances?period=``), a day window the entries dated that day -- attributed to a
  plant as in the margin report (:mod:`central.service_layer.costing.margin`);
- ``margin``: good units x (selling price in force on the window's last day - standard cost of a
  good unit), over the products that have a price, minus ``variances``: the margin the output
  earned after what leaked. ``None`` when no product made in the window has a price.

Working capital: WIP and finished goods balances of the ledger now and at the end of the last
period (WIP by its work order's product, finished goods by item, each to the plant of the
product's routing).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central.adapters.db.models_costing import (
    DispatchRow,
    EventPostingRow,
    LedgerDayBalanceRow,
    PeriodRow,
    WorkOrderRow,
)
from central.domain.master_data import Period
from central.domain.money import ZERO, format_amount, format_money, format_quantity, to_cents
from central.domain.operations_reports import Oee, OrderOutput, ScrapRecord, cost_of_quality, ideal_hours, oee
from central.domain.roles import VARIANCE_OF_ROLE, Role
from central.domain.selling_prices import SellingPrice, entity_of_product, price_at
from central.domain.time_accounting import (
    Dispatch,
    Interval,
    IntervalKind,
    MachineState,
    MachineTime,
    StateEvent,
    clip,
    hours,
    machine_intervals,
)
from central.service_layer.clock import Clock, utc_now
from central.service_layer.costing.master_data import Snapshot, snapshot
from central.service_layer.costing.output_totals import (
    ProductionTotal,
    production_totals,
    unassigned_units,
)
from central.service_layer.costing.past_cache import cached, past_key, posted_scrap_split, production_totals_split
from central.service_layer.costing.selling_prices import stored_prices
from central.service_layer.costing.snapshots import NONE

__all__ = ["Figures", "WorkingCapital", "ScopeSummary", "ExecutiveSummary", "executive_summary", "read_intervals",
           "executive_summary_data"]

ScopeKind = Literal["plant", "entity"]


@dataclass(frozen=True)
class Figures:
    """One scope over one window ``[start, end)``."""

    window: str
    start: datetime
    end: datetime
    good: Decimal
    scrap: Decimal
    oee: Oee | None
    cost_of_quality: Decimal
    variances: Decimal
    margin: Decimal | None


@dataclass(frozen=True)
class WorkingCapital:
    wip: Decimal
    finished_goods: Decimal

    @property
    def total(self) -> Decimal:
        return self.wip + self.finished_goods


@dataclass(frozen=True)
class ScopeSummary:
    kind: ScopeKind
    id: str
    entity: str | None
    currency: str
    working_capital: WorkingCapital
    working_capital_last_period: WorkingCapital | None
    today: Figures
    yesterday: Figures
    this_period: Figures | None
    last_period: Figures | None


@dataclass(frozen=True)
class ExecutiveSummary:
    as_of: datetime
    this_period: str | None
    last_period: str | None
    scopes: tuple[ScopeSummary, ...]


@dataclass(frozen=True)
class _Window:
    name: str
    start: datetime
    end: datetime
    period: str | None  # a period window: variances by the entries' period
    last_day: date


@dataclass(frozen=True)
class _Scope:
    kind: ScopeKind
    id: str
    entity: str | None
    plants: frozenset[str]


class _Book:
    """What every scope and window reads, read once: order items, plants of things, prices."""

    def __init__(self, session: Session, snap: Snapshot) -> None:
        self.session = session
        self.snap = snap
        self.items: dict[str, str] = dict(session.execute(select(WorkOrderRow.id, WorkOrderRow.item)).tuples().all())
        self.prices: list[SellingPrice] = stored_prices(session)
        master = snap.master
        self.plant_of_centre = {wc.id: wc.plant for wc in master.work_centers}
        self.plant_of_machine = {m.id: self.plant_of_centre.get(m.work_center) for m in master.machines}
        self.entity_of_plant = {p.id: p.entity for p in master.plants}
        self.cache: dict[tuple[str, str], Any] = {}
        self.earliest: datetime | None = None
        self.split = datetime.max.replace(tzinfo=UTC)  # set by executive_summary: today's local midnight
        self.split_day = date.max  # set with the split: its local date
        self.db: tuple[str, int] = ("", 0)  # set by executive_summary with the split: past_key
        self._past_intervals: dict[str, list[Interval]] | None = None
        self._today_intervals: dict[str, list[Interval]] | None = None
        self._times: dict[tuple[str, datetime, datetime], MachineTime] = {}

    def plant_of_item(self, item: str | None) -> str | None:
        routing = self.snap.master.routings_by_item.get(item or "")
        return None if routing is None else self.plant_of_centre.get(routing.work_center)

    def sole_plant(self, entity: str | None) -> str | None:
        plants = [p for p, e in self.entity_of_plant.items() if e == entity]
        return plants[0] if len(plants) == 1 else None

    def line_plant(self, centre: str | None, order: str | None, item: str | None, entity: str | None) -> str | None:
        if centre is not None:
            return self.plant_of_centre.get(centre)
        if order is not None:
            return self.plant_of_item(self.items.get(order))
        if item is not None and self.plant_of_item(item) is not None:
            return self.plant_of_item(item)
        return self.sole_plant(entity)

    def good_unit(self, item: str) -> Decimal:
        return self.snap.context(entity_of_product(self.snap.master, item)).card(item).good_unit

    def machine_time(self, machine: str, start: datetime, end: datetime, now: datetime) -> MachineTime:
        """Time split of ``machine`` in ``[start, end)``, as
        :func:`central.domain.time_accounting.machine_time` computes it: time per interval kind
        (exact ``timedelta`` sums), then hours. The part before :attr:`split` (today's local
        midnight: finished days) comes from :mod:`central.service_layer.costing.past_cache`; the
        intervals behind it are read only on a miss. Today's intervals are read once per summary.
        Time adds up exactly across the split."""
        key = (machine, start, end)
        if key not in self._times:
            totals: dict[IntervalKind, timedelta] = defaultdict(timedelta)
            split = max(min(self.split, end), start)
            if split > start:
                for kind, span in cached(("past-time", self.db, machine, start, split),
                                          lambda: _kind_totals(self._past().get(machine, []), start, split)).items():
                    totals[kind] += span
            if end > split:
                for kind, span in _kind_totals(self._today(now).get(machine, []), split, end).items():
                    totals[kind] += span
            self._times[key] = MachineTime(
                window_hours=hours(sum(totals.values(), timedelta())), run_hours=hours(totals[IntervalKind.RUN]),
                planned_stop_hours=hours(totals[IntervalKind.PLANNED]),
                downtime_hours=hours(totals[IntervalKind.DOWNTIME]))
        return self._times[key]

    def _past(self) -> dict[str, list[Interval]]:
        """Intervals of every machine from the earliest window's start to :attr:`split`."""
        if self._past_intervals is None:
            self._past_intervals = _grouped(read_intervals(self.session, self.snap, list(self.plant_of_machine),
                                                       self.earliest, self.split))
        return self._past_intervals

    def _today(self, now: datetime) -> dict[str, list[Interval]]:
        """Intervals of every machine from :attr:`split` to now (from the state at the split)."""
        if self._today_intervals is None:
            self._today_intervals = _grouped(read_intervals(self.session, self.snap, list(self.plant_of_machine),
                                                        self.split, now))
        return self._today_intervals

    def machines(self, scope: _Scope) -> list[str]:
        return [m for m, plant in self.plant_of_machine.items() if plant in scope.plants]


def _state_events(session: Session, machine: str, lo: datetime | None, hi: datetime) -> list[StateEvent]:
    """As :func:`central.service_layer.costing.timeline.state_events` (state events of ``machine``
    in [lo, hi] not held as suspect, plus the last one before ``lo``), reading three columns
    instead of whole rows: over a long history the rows are what cost."""
    cols = select(EventPostingRow.ts, EventPostingRow.state, EventPostingRow.reason).where(
        EventPostingRow.machine == machine, EventPostingRow.kind == "state", EventPostingRow.status != "suspect")
    rows = list(session.execute(cols.where(EventPostingRow.ts <= hi).where(
        EventPostingRow.ts >= lo if lo is not None else EventPostingRow.ts.is_not(None)
    ).order_by(EventPostingRow.ts, EventPostingRow.event_id)))
    if lo is not None:
        before = session.execute(cols.where(EventPostingRow.ts < lo).order_by(
            EventPostingRow.ts.desc(), EventPostingRow.event_id.desc()).limit(1)).first()
        if before is not None:
            rows.insert(0, before)
    return [StateEvent(ts, _STATES[state], reason) for ts, state, reason in rows if state is not None]


_STATES = {state.value: state for state in MachineState}
"""Stored state text -> MachineState (a dict lookup: the enum's call is slow over 10,000s of rows)."""


def read_intervals(session: Session, snap: Snapshot, machines: list[str], lo: datetime | None,
                   hi: datetime) -> list[Interval]:
    """As :func:`central.service_layer.costing.timeline.intervals` (the same intervals: dispatches
    that do not overlap cannot split any), from :func:`_state_events` and one read of the machines'
    dispatches, columns only (the console's pages use it too)."""
    stmt = select(DispatchRow.work_order, DispatchRow.machine, DispatchRow.start, DispatchRow.end).where(
        DispatchRow.machine.in_(machines))
    dispatches = [Dispatch(str(wo), str(m), start, end) for wo, m, start, end in session.execute(stmt)]
    out: list[Interval] = []
    for machine in machines:
        out.extend(machine_intervals(machine, _state_events(session, machine, lo, hi), dispatches,
                                     snap.master.downtime_reasons_by_code, hi))
    return out


def _grouped(intervals: list[Interval]) -> dict[str, list[Interval]]:
    grouped: dict[str, list[Interval]] = defaultdict(list)
    for i in intervals:
        grouped[i.machine].append(i)
    return dict(grouped)


def _kind_totals(intervals: list[Interval], start: datetime, end: datetime) -> dict[IntervalKind, timedelta]:
    """Time per interval kind of one machine's ``intervals`` inside ``[start, end)``."""
    totals: dict[IntervalKind, timedelta] = defaultdict(timedelta)
    for i in clip((i for i in intervals if i.end > start and i.start < end), start, end):
        totals[i.kind] += i.duration
    return dict(totals)


def _amount(value: Any) -> Decimal:
    return ZERO if value is None else Decimal(value)


_CountRow = tuple[str, str | None, str, str | None, str, Decimal]
_LineRow = tuple[str | None, str | None, str | None, str | None, str | None, Decimal]


@dataclass(frozen=True)
class _Output:
    """What every scope needs of one window, read once: production totals (posted units), units
    waiting unassigned, and posted scrap by reason."""

    production: list[ProductionTotal]
    unassigned: list[tuple[str, str, Decimal]]
    scrap: list[tuple[str, str, str | None, Decimal]]


def _output(book: _Book, w: _Window) -> _Output:
    key = ("output", w.name)
    if key not in book.cache and w.end <= book.split:  # finished days: cached across requests
        book.cache[key] = cached(("output", book.db, w.start, w.end, w.period, w.last_day),
                                  lambda: _read_output(book, w))
    if key not in book.cache:
        book.cache[key] = _read_output(book, w)
    out: _Output = book.cache[key]
    return out


def _read_output(book: _Book, w: _Window) -> _Output:
    machines = list(book.plant_of_machine)
    if w.period is not None and w.end > book.split:  # this period: its finished days from the cache
        production = production_totals_split(book.session, w.period, machines, book.split, book.split_day)
    elif w.period is not None:
        production = production_totals(book.session, period=w.period, machines=machines)
    else:
        production = production_totals(book.session, first_day=w.start.date(), last_day=w.last_day,
                                       machines=machines)
    return _Output(production, unassigned_units(book.session, machines, w.start, w.end),
                   posted_scrap_split(book.session, machines, w.start, w.end, book.split))


def _plant_amounts(
    book: _Book, key: tuple[str, str], load: Callable[[], list[_LineRow]]
) -> dict[str | None, Decimal]:
    """Net amount per plant of the (role, centre, order, item, entity, net) rows ``load`` reads,
    read once per ``key``."""
    if key not in book.cache:
        out: dict[str | None, Decimal] = defaultdict(lambda: ZERO)
        for _role, centre, order, item, entity, amount in load():
            out[book.line_plant(centre, order, item, entity)] += amount
        book.cache[key] = dict(out)
    amounts: dict[str | None, Decimal] = book.cache[key]
    return amounts


def _key(value: Any) -> str | None:
    """A snapshot key column's value: ``NONE`` ('') is a dimension the lines did not have."""
    return None if value is None or value == NONE else str(value)


def _variance_rows(book: _Book, w: _Window) -> list[_LineRow]:
    """Variance lines of the window's period (or entry dates) per role, centre, order, item and
    entity, from the ledger day snapshots (``costing/snapshots.py``: the same sums as the journal
    lines, one row per day and key instead of one per line)."""
    t = LedgerDayBalanceRow
    stmt = select(t.role, t.work_center, t.work_order, t.item, t.entity, func.sum(t.debit),
                  func.sum(t.credit)).where(t.role.in_([r.value for r in VARIANCE_OF_ROLE]))
    if w.period is not None:
        stmt = stmt.where(t.period == w.period)
    else:
        stmt = stmt.where(t.day >= w.start.date(), t.day <= w.last_day)
    stmt = stmt.group_by(t.role, t.work_center, t.work_order, t.item, t.entity)
    return [(role, _key(centre), _key(order), _key(item), _key(entity), _amount(debit) - _amount(credit))
            for role, centre, order, item, entity, debit, credit in book.session.execute(stmt)]


def _variances(book: _Book, scope: _Scope, w: _Window) -> Decimal:
    def load() -> list[_LineRow]:
        if w.end <= book.split:  # finished days
            return cached(("variances", book.db, w.start, w.end, w.period, w.last_day), lambda: _variance_rows(book, w))
        return _variance_rows(book, w)
    by_plant = _plant_amounts(book, ("variances", w.name), load)
    return sum((amount for plant, amount in by_plant.items() if plant in scope.plants), ZERO)


def _oee(book: _Book, machines: list[str], w: _Window, now: datetime,
         processed: dict[str, Decimal], good: Decimal, scrap: Decimal) -> Oee | None:
    if not machines:
        return None
    end = min(w.end, now)
    times = [book.machine_time(m, w.start, end, now) for m in machines]
    total = MachineTime(
        window_hours=sum((t.window_hours for t in times), ZERO), run_hours=sum((t.run_hours for t in times), ZERO),
        planned_stop_hours=sum((t.planned_stop_hours for t in times), ZERO),
        downtime_hours=sum((t.downtime_hours for t in times), ZERO),
    )
    entity = book.snap.master.entities[0].id if book.snap.master.entities else None
    return oee(total, ideal_hours(book.snap.context(entity), processed), good, scrap)


def _figures(book: _Book, scope: _Scope, w: _Window, now: datetime) -> Figures:
    machines = book.machines(scope)
    kept = set(machines)
    out = _output(book, w)
    good = scrap = ZERO
    processed: dict[str, Decimal] = defaultdict(lambda: ZERO)
    good_by_item: dict[str, Decimal] = defaultdict(lambda: ZERO)
    good_by_order: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for t in out.production:
        if t.machine not in kept:
            continue
        good, scrap = good + t.good, scrap + t.scrap
        if t.item in book.snap.master.routings_by_item:
            processed[t.item] += t.good + t.scrap
            good_by_item[t.item] += t.good
            good_by_order[t.work_order] += t.good
    for machine, kind, qty in out.unassigned:  # counted for output and OEE quality, no item yet
        if machine in kept:
            if kind == "count":
                good += qty
            else:
                scrap += qty
    records = [ScrapRecord(wo, m, r, q) for wo, m, r, q in out.scrap
               if m in kept and book.items.get(wo) in book.snap.master.routings_by_item]
    entity = book.snap.master.entities[0].id if book.snap.master.entities else None
    outputs = [OrderOutput(wo, book.items[wo], good_by_order[wo]) for wo in {r.work_order for r in records}]
    coq = cost_of_quality(book.snap.context(entity), records, outputs)
    variances = _variances(book, scope, w)
    earned: Decimal | None = None
    for item, qty in good_by_item.items():
        found = price_at(book.prices, item, w.last_day)
        if found is not None:
            earned = (earned or ZERO) + qty * (found.price - book.good_unit(item))
    margin = None if earned is None else to_cents(earned) - variances
    return Figures(w.name, w.start, w.end, good, scrap, _oee(book, machines, w, now, processed, good, scrap),
                   coq.total, variances, margin)


def _balances(book: _Book, scope: _Scope, until: date | None) -> WorkingCapital:
    """WIP and finished goods of the scope, from the ledger (entries dated on or before ``until``);
    the ledger is read once per ``until`` and split by plant."""
    def load(role: Role) -> list[_LineRow]:
        if until is not None and until < book.split.date():  # as of a finished day
            return cached(("stock", book.db, role.value, until), lambda: _stock_rows(book, role, until))
        return _stock_rows(book, role, until)
    wip = _plant_amounts(book, ("wip", str(until)), lambda: load(Role.WIP))
    fg = _plant_amounts(book, ("fg", str(until)), lambda: load(Role.FINISHED_GOODS))
    return WorkingCapital(sum((v for p, v in wip.items() if p in scope.plants), ZERO),
                          sum((v for p, v in fg.items() if p in scope.plants), ZERO))


def _stock_rows(book: _Book, role: Role, until: date | None) -> list[_LineRow]:
    """Net ``role`` lines dated on or before ``until`` (None: all) per order, item and entity, from
    the ledger day snapshots (the same sums as the journal lines)."""
    t = LedgerDayBalanceRow
    stmt = select(t.work_order, t.item, t.entity, func.sum(t.debit), func.sum(t.credit)).where(t.role == role.value)
    if until is not None:
        stmt = stmt.where(t.day <= until)
    stmt = stmt.group_by(t.work_order, t.item, t.entity)
    return [(role.value, None, _key(order), _key(item), _key(entity), _amount(debit) - _amount(credit))
            for order, item, entity, debit, credit in book.session.execute(stmt)]


def _scopes(snap: Snapshot) -> list[_Scope]:
    out = [_Scope("plant", p.id, p.entity, frozenset({p.id})) for p in snap.master.plants]
    out += [_Scope("entity", e.id, e.id, frozenset(p.id for p in snap.master.plants if p.entity == e.id))
            for e in snap.master.entities]
    return out


def _periods(session: Session, today: date) -> tuple[PeriodRow | None, PeriodRow | None]:
    rows = list(session.scalars(select(PeriodRow).order_by(PeriodRow.start)))
    current = next((p for p in rows if p.start <= today <= p.end), None)
    before = [p for p in rows if p.end < (current.start if current is not None else today)]
    return current, (before[-1] if before else None)


def _period_window(name: str, row: PeriodRow, tz: ZoneInfo, now: datetime) -> _Window:
    start, end = Period(row.id, row.start, row.end).bounds(tz)
    return _Window(name, start, min(end, now) if name == "this_period" else end, row.id, row.end)


def executive_summary(session: Session, *, clock: Clock = utc_now, split: datetime | None = None) -> ExecutiveSummary:
    """Every plant and entity: today (midnight in the first entity's zone to now) against
    yesterday, this period (to now) against the last, working capital now and at the last
    period's end. What lies before ``split`` (default: today's midnight; another instant for a
    test) is cached per process (:mod:`central.service_layer.costing.past_cache`)."""
    snap = snapshot(session)
    now = clock()
    entity = snap.master.entities[0].id if snap.master.entities else None
    tz = ZoneInfo(snap.entity(entity).timezone or "UTC")
    today = now.astimezone(tz).date()
    midnight = datetime.combine(today, time(0), tzinfo=tz)
    day = _Window("today", midnight, now, None, today)
    prev = _Window("yesterday", midnight - timedelta(days=1), midnight, None, today - timedelta(days=1))
    current, last = _periods(session, today)
    this_w = None if current is None else _period_window("this_period", current, tz, now)
    last_w = None if last is None else _period_window("last_period", last, tz, now)
    book = _Book(session, snap)
    book.split = midnight if split is None else split
    book.split_day = book.split.astimezone(tz).date()
    book.db = past_key(session, book.split)
    book.earliest = min(w.start for w in (day, prev, this_w, last_w) if w is not None)
    scopes = []
    for scope in _scopes(snap):
        scopes.append(ScopeSummary(
            scope.kind, scope.id, scope.entity, snap.entity(scope.entity).currency,
            _balances(book, scope, None), None if last is None else _balances(book, scope, last.end),
            _figures(book, scope, day, now), _figures(book, scope, prev, now),
            None if this_w is None else _figures(book, scope, this_w, now),
            None if last_w is None else _figures(book, scope, last_w, now),
        ))
    return ExecutiveSummary(now, None if current is None else current.id, None if last is None else last.id,
                            tuple(scopes))


def _ratio(value: Decimal) -> str:
    return format_amount(value, 4)


def _figures_data(f: Figures | None) -> dict[str, Any] | None:
    if f is None:
        return None
    ratios = f.oee.rounded() if f.oee is not None else None
    return {
        "window": f.window, "start": f.start.isoformat(), "end": f.end.isoformat(),
        "good": format_quantity(f.good), "scrap": format_quantity(f.scrap),
        **{k: (None if ratios is None else _ratio(ratios[k])) for k in ("oee", "availability", "performance",
                                                                         "quality")},
        "cost_of_quality": format_money(f.cost_of_quality), "variances": format_money(f.variances),
        "margin": None if f.margin is None else format_money(f.margin),
    }


def _capital(wc: WorkingCapital | None) -> dict[str, str] | None:
    if wc is None:
        return None
    return {"wip": format_money(wc.wip), "finished_goods": format_money(wc.finished_goods),
            "total": format_money(wc.total)}


def executive_summary_data(summary: ExecutiveSummary) -> dict[str, Any]:
    """The summary as the API's JSON (money 2 places, ratios 4, quantities plain)."""
    return {
        "as_of": summary.as_of.isoformat(), "this_period": summary.this_period, "last_period": summary.last_period,
        "scopes": [{
            "kind": s.kind, "id": s.id, "entity": s.entity, "currency": s.currency,
            "working_capital": _capital(s.working_capital),
            "working_capital_last_period": _capital(s.working_capital_last_period),
            "today": _figures_data(s.today), "yesterday": _figures_data(s.yesterday),
            "this_period": _figures_data(s.this_period), "last_period": _figures_data(s.last_period),
        } for s in summary.scopes],
    }

