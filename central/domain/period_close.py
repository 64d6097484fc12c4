"""Period close per work centre: rate, idle, spending, budget and volume variances.

For each work centre, :func:`close_period_for_centre` posts

1. the efficiency to date of every order of the centre still open (one ``efficiency_to_date``
   entry per order; its order close later takes only the rest),
2. one ``period_close`` entry with labour rate, labour idle (one row per downtime reason, the
   rest in an ``unexplained`` row that also takes the rounding cent), VOH spending, FOH budget
   and FOH volume, each against its control account, and
3. whatever cents each control account of the centre still holds, to the rounding account, so
   every control account is 0.00 after the close.

The service layer fills :class:`CentreFacts` from the database (sums over the period's
bookings, the control balances, the machines' intervals) and persists the entries and the
open orders' new accruals.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from types import MappingProxyType

from central.domain.accruals import OrderAccruals
from central.domain.errors import InputError
from central.domain.ledger import EntryHeader, JournalEntry, Tags, balance
from central.domain.master_data import DowntimeCategory, WorkCentre
from central.domain.money import ONE, ZERO
from central.domain.order_close import OrderFacts, efficiency_to_date
from central.domain.posting_rules import VARIANCE_KINDS
from central.domain.postings import PostingContext
from central.domain.roles import CONTROL_ROLES, Role, VarianceType
from central.domain.time_accounting import DowntimeHours
from central.domain.variances import (
    foh_budget,
    foh_volume,
    idle_row,
    labor_idle,
    labor_rate,
    voh_spending,
)

logger = logging.getLogger(__name__)

PERIOD_CLOSE_KIND = "period_close"
UNEXPLAINED = "unexplained"
"""Reason of the labour idle row that downtime does not explain."""
UNSPECIFIED = "unspecified"
"""Reason shown for downtime recorded without a reason code."""
RESIDUE_WARNING = Decimal("0.05")


@dataclass(frozen=True)
class DowntimeLabour:
    """Downtime of the centre in the period for one reason: machine hours and the crew ratio
    of the order that was dispatched (1 when none): idle labour hours = hours x crew ratio."""

    reason: str | None
    category: DowntimeCategory
    hours: Decimal
    crew_ratio: Decimal = ONE


@dataclass(frozen=True)
class CentreFacts:
    """What the period close of one work centre needs (all for the period being closed).

    - ``paid_hours`` / ``booked_amount``: sums of the centre's labour bookings for the period.
    - ``actual_voh`` / ``actual_foh``: sums of its overhead actuals (variable / fixed).
    - ``run_machine_hours``: its orders' run hours in the period (running with no order
      excluded: that is idle until assigned); ``run_labor_hours``: the same x each order's
      crew ratio (:func:`central.domain.time_accounting.work_centre_hours` gives both).
    - ``standard_machine_hours``: units processed in the period at the centre x machine hours
      per unit (:func:`standard_machine_hours`); FOH applied = this x FOH rate.
    - ``downtime``: downtime rows of the period (planned stops excluded), see
      :func:`downtime_labour`.
    - ``control_balances``: signed (debit +) balance of each control role on lines tagged with
      this centre, over every entry posted so far (earlier periods closed to zero), before this
      close (:func:`control_balances`).
    - ``open_orders``: orders of the centre still open, with run hours and quantities as of
      the period end; their efficiency to date posts first.
    """

    work_center: str
    paid_hours: Decimal
    booked_amount: Decimal
    actual_voh: Decimal
    actual_foh: Decimal
    run_machine_hours: Decimal
    run_labor_hours: Decimal
    standard_machine_hours: Decimal
    downtime: tuple[DowntimeLabour, ...] = ()
    control_balances: Mapping[Role, Decimal] = field(default_factory=lambda: MappingProxyType({}))
    open_orders: tuple[OrderFacts, ...] = ()


@dataclass(frozen=True)
class CentreClose:
    """The close of one work centre: entries to persist (efficiency to date first), the open
    orders' new accruals, and the cents each control account sent to rounding."""

    work_center: str
    entries: tuple[JournalEntry, ...]
    accruals: tuple[OrderAccruals, ...]
    residues: Mapping[Role, Decimal]


def control_balances(entries: Iterable[JournalEntry], work_center: str) -> dict[Role, Decimal]:
    """Signed balances of labor_control, voh_control and foh_control on ``work_center``'s lines."""
    listed = list(entries)
    return {
        role: balance(listed, role, lambda tags: tags.work_center == work_center)
        for role in sorted(CONTROL_ROLES)
    }


def standard_machine_hours(ctx: PostingContext, processed_by_item: Mapping[str, Decimal]) -> Decimal:
    """Standard machine hours of units processed (good + scrap) per item, e.g. a centre's
    production in the period."""
    return sum((qty * ctx.card(item).machine_hours for item, qty in processed_by_item.items()), ZERO)


def downtime_labour(
    ctx: PostingContext, rows: Iterable[DowntimeHours], item_of_order: Mapping[str, str]
) -> tuple[DowntimeLabour, ...]:
    """Downtime rows with the crew ratio of the order dispatched during them (its item's
    routing); 1 for downtime with no order. ``item_of_order`` maps work order -> item."""
    result = []
    for row in rows:
        ratio = ONE
        if row.work_order is not None:
            if row.work_order not in item_of_order:
                raise InputError(f"downtime of {row.work_order}: its item is not given")
            ratio = ctx.card(item_of_order[row.work_order]).crew_ratio
        result.append(DowntimeLabour(row.reason, row.category, row.hours, ratio))
    return tuple(result)


def idle_rows(centre: WorkCentre, facts: CentreFacts) -> dict[str, Decimal]:
    """Labour idle split by downtime reason, plus ``unexplained`` (the rest, with the rounding
    cent); the rows add up to (paid hours - run labour hours) x rate. Zero rows are left out."""
    unrounded: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for row in facts.downtime:
        unrounded[row.reason or UNSPECIFIED] += row.hours * row.crew_ratio
    rows = {reason: idle_row(centre, hours, ONE) for reason, hours in sorted(unrounded.items())}
    rows[UNEXPLAINED] = labor_idle(centre, facts.paid_hours, facts.run_labor_hours) - sum(rows.values(), ZERO)
    return {reason: amount for reason, amount in rows.items() if amount != 0}


def close_period_for_centre(ctx: PostingContext, header: EntryHeader, facts: CentreFacts) -> CentreClose:
    """Close the period for one work centre (``header`` dates the entries, in the period closed).

    Posts the open orders' efficiency to date, then labour rate (Dr labor_rate_variance / Cr
    labor_control), labour idle by reason, VOH spending, FOH budget and FOH volume against
    their control accounts, then each control account's remaining cents to rounding.
    """
    try:
        centre = ctx.master.work_center(facts.work_center)
    except KeyError:
        raise InputError(f"unknown work centre {facts.work_center!r}") from None
    entries: list[JournalEntry] = []
    accruals: list[OrderAccruals] = []
    balances = {role: facts.control_balances.get(role, ZERO) for role in CONTROL_ROLES}
    for order in facts.open_orders:
        if ctx.card(order.accruals.item).work_center != centre.id:
            raise InputError(f"{order.accruals.work_order} does not run on {centre.id}")
        posted = efficiency_to_date(ctx, header, order)
        entries.extend(posted.entries)
        accruals.append(posted.accruals)
        for entry in posted.entries:
            for line in entry.lines:
                if line.role in balances:
                    balances[line.role] += line.amount
    base = Tags(work_center=centre.id)
    builder = ctx.builder(header, PERIOD_CLOSE_KIND, base)
    amounts: list[tuple[VarianceType, Decimal, Tags]] = [
        (VarianceType.LABOR_RATE, labor_rate(centre, facts.booked_amount, facts.paid_hours), base),
        *(
            (VarianceType.LABOR_IDLE, amount, replace(base, reason=reason))
            for reason, amount in idle_rows(centre, facts).items()
        ),
        (VarianceType.VOH_SPENDING, voh_spending(centre, facts.actual_voh, facts.run_machine_hours), base),
        (VarianceType.FOH_BUDGET, foh_budget(centre, facts.actual_foh), base),
        (VarianceType.FOH_VOLUME, foh_volume(centre, facts.standard_machine_hours), base),
    ]
    for variance, amount, tags in amounts:
        rule = ctx.rules.rule(VARIANCE_KINDS[variance])
        builder.pair(rule.debit, rule.credit, amount, tags)
        if rule.credit in balances:
            balances[rule.credit] -= amount
    residues = {role: balances[role] for role in sorted(CONTROL_ROLES)}
    for role, residue in residues.items():
        if residue != 0:
            if abs(residue) > RESIDUE_WARNING:
                logger.warning("period close %s: %s left on %s goes to rounding", centre.id, residue, role)
            builder.pair(Role.ROUNDING, role, residue)
    closing = builder.build()
    if closing is not None:
        entries.append(closing)
    return CentreClose(centre.id, tuple(entries), tuple(accruals), MappingProxyType(residues))
