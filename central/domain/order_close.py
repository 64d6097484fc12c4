"""Work order close: usage, spoilage and efficiency variances; the order's WIP goes to 0.00.

Every close amount follows the cumulative rule like production does: the variance is computed
from the order's totals to date and posts ``target - already posted``. So

- a period close that finds the order still open takes its efficiency to date
  (:func:`efficiency_to_date`), and the order close later takes only the rest;
- a late event for an already closed order posts as usual and then
  :func:`adjust_closed_order` recomputes the close for the difference.

After the variances, whatever WIP the order still holds (cents left by rounding unit costs and
lines) goes to the rounding account, so the order's WIP is exactly 0.00.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from decimal import Decimal

from central.domain.accruals import CLOSE_ROUNDING, VARIANCE, OrderAccruals, element
from central.domain.costing import StandardCost
from central.domain.errors import InputError, OrderStateError
from central.domain.ledger import EntryBuilder, EntryHeader, JournalEntry, Tags
from central.domain.posting_rules import VARIANCE_KINDS
from central.domain.postings import Posted, PostingContext
from central.domain.roles import Role, VarianceType
from central.domain.variances import (
    OrderVarianceAmounts,
    abnormal_spoilage,
    labor_efficiency,
    material_usage,
    voh_efficiency,
)

logger = logging.getLogger(__name__)

CLOSE_KIND = "work_order_close"
EFFICIENCY_KIND = "efficiency_to_date"

USAGE_KEY = element(VARIANCE, VarianceType.MATERIAL_USAGE)
SPOILAGE_KEY = element(VARIANCE, VarianceType.ABNORMAL_SPOILAGE)
LABOR_EFFICIENCY_KEY = element(VARIANCE, VarianceType.LABOR_EFFICIENCY)
VOH_EFFICIENCY_KEY = element(VARIANCE, VarianceType.VOH_EFFICIENCY)

ROUNDING_WARNING = Decimal("0.05")
"""A close that sends more than this to rounding is logged: rounding should be cents, not errors."""


@dataclass(frozen=True)
class OrderFacts:
    """What a close needs about one work order besides master data.

    - ``accruals``: the order's :class:`OrderAccruals` as persisted after its last posting
      (quantities good/scrap and issues posted, cents posted per element).
    - ``run_hours``: machine run hours of the order (hours ``running`` while dispatched), to date
      for an order close, up to the period end for a period close
      (:func:`central.domain.time_accounting.run_hours_by_order`).
    - ``good`` / ``scrap``: only for a period close of an open order, the quantities processed
      up to the period end (events dated after it post in the next period); None = the
      accruals' totals. An order close refuses values that differ from the accruals.
    """

    accruals: OrderAccruals
    run_hours: Decimal
    good: Decimal | None = None
    scrap: Decimal | None = None

    @property
    def good_qty(self) -> Decimal:
        return self.accruals.good_qty if self.good is None else self.good

    @property
    def scrap_qty(self) -> Decimal:
        return self.accruals.scrap_qty if self.scrap is None else self.scrap

    @property
    def processed_qty(self) -> Decimal:
        return self.good_qty + self.scrap_qty


def order_variances(ctx: PostingContext, facts: OrderFacts) -> OrderVarianceAmounts:
    """The order's close variances from its totals (cents, cumulative, nothing netted)."""
    acc = facts.accruals
    card = ctx.card(acc.item)
    processed = facts.processed_qty
    costs = {item: ctx.unit_cost(item) for item in {*acc.issued, *(m.item for m in card.materials)}}
    return OrderVarianceAmounts(
        material_usage=material_usage(ctx.master, card, acc.issued, processed, costs),
        abnormal_spoilage=abnormal_spoilage(card, facts.good_qty, facts.scrap_qty),
        labor_efficiency=labor_efficiency(card, processed, facts.run_hours),
        voh_efficiency=voh_efficiency(card, processed, facts.run_hours),
    )


def close_work_order(ctx: PostingContext, header: EntryHeader, facts: OrderFacts) -> Posted:
    """Close an open order: one ``work_order_close`` entry with

    - material usage per component (Dr material_usage_variance / Cr wip),
    - abnormal spoilage (Dr abnormal_spoilage / Cr wip; a credit when scrap was below normal),
    - labour and VOH efficiency (Dr variance / Cr labor_control, voh_control), net of what a
      period close already took,
    - the cents left in the order's WIP (Dr rounding / Cr wip, or the reverse),

    and the accruals marked closed. ``header`` dates the close (its period must be open).
    """
    if facts.accruals.closed:
        raise OrderStateError(f"{facts.accruals.work_order} is already closed (late events: adjust_closed_order)")
    return _settle(ctx, header, facts)


def adjust_closed_order(ctx: PostingContext, header: EntryHeader, facts: OrderFacts) -> Posted:
    """Late adjustment of a closed order, after its late events posted: the close variances are
    recomputed from the new totals and only the difference posts (entry kind
    ``work_order_close``, in the first open period named by ``header``, flagged late there)."""
    if not facts.accruals.closed:
        raise OrderStateError(f"{facts.accruals.work_order} is open: close it instead")
    return _settle(ctx, header, facts)


def efficiency_to_date(ctx: PostingContext, header: EntryHeader, facts: OrderFacts) -> Posted:
    """For an order still open at a period close: labour and VOH efficiency to the period end
    (``facts`` as of the period end), net of what posted before. Entry kind
    ``efficiency_to_date``, dated by ``header`` in the period being closed; the order close
    later takes only the rest."""
    if facts.accruals.closed:
        raise OrderStateError(f"{facts.accruals.work_order} is closed: its efficiency posted at close")
    acc = facts.accruals
    builder = ctx.builder(header, EFFICIENCY_KIND, _tags(acc, ctx.card(acc.item)))
    targets = _post_efficiency(ctx, builder, acc, order_variances(ctx, facts))
    accruals = replace(acc.with_posted(targets), run_hours=facts.run_hours)
    return Posted(_entries(builder.build()), accruals)


def _tags(accruals: OrderAccruals, card: StandardCost) -> Tags:
    return Tags(work_order=accruals.work_order, item=accruals.item, work_center=card.work_center)


def _entries(entry: JournalEntry | None) -> tuple[JournalEntry, ...]:
    return (entry,) if entry is not None else ()


def _post_efficiency(
    ctx: PostingContext, builder: EntryBuilder, acc: OrderAccruals, amounts: OrderVarianceAmounts
) -> dict[str, Decimal]:
    targets = {LABOR_EFFICIENCY_KEY: amounts.labor_efficiency, VOH_EFFICIENCY_KEY: amounts.voh_efficiency}
    kinds = {
        LABOR_EFFICIENCY_KEY: VARIANCE_KINDS[VarianceType.LABOR_EFFICIENCY],
        VOH_EFFICIENCY_KEY: VARIANCE_KINDS[VarianceType.VOH_EFFICIENCY],
    }
    for key, target in targets.items():
        ctx.post(builder, kinds[key], target - acc.amount(key))
    return targets


def _settle(ctx: PostingContext, header: EntryHeader, facts: OrderFacts) -> Posted:
    acc = facts.accruals
    if (facts.good is not None and facts.good != acc.good_qty) or (
        facts.scrap is not None and facts.scrap != acc.scrap_qty
    ):
        raise InputError(f"{acc.work_order}: close quantities differ from what posted; post the production first")
    card = ctx.card(acc.item)
    base = _tags(acc, card)
    builder = ctx.builder(header, CLOSE_KIND, base)
    amounts = order_variances(ctx, facts)
    targets: dict[str, Decimal] = {}
    usage_kind = VARIANCE_KINDS[VarianceType.MATERIAL_USAGE]
    for item, amount in sorted(amounts.material_usage.items()):
        key = element(USAGE_KEY, item)
        targets[key] = amount
        ctx.post(builder, usage_kind, amount - acc.amount(key), replace(base, item=item))
    targets[SPOILAGE_KEY] = amounts.abnormal_spoilage
    spoilage_kind = VARIANCE_KINDS[VarianceType.ABNORMAL_SPOILAGE]
    ctx.post(builder, spoilage_kind, amounts.abnormal_spoilage - acc.amount(SPOILAGE_KEY))
    targets |= _post_efficiency(ctx, builder, acc, amounts)
    settled = acc.with_posted(targets)
    residue = settled.wip_balance
    if residue != 0:
        if abs(residue) > ROUNDING_WARNING:
            logger.warning("order %s: %s left in WIP after the close goes to rounding", acc.work_order, residue)
        builder.pair(Role.ROUNDING, Role.WIP, residue)
        settled = settled.with_posted({CLOSE_ROUNDING: settled.amount(CLOSE_ROUNDING) + residue})
    closed = replace(settled, closed=True, run_hours=facts.run_hours)
    return Posted(_entries(builder.build()), closed)
