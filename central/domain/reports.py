"""Ledger reports (ACCOUNTING.md, "Reports"): variances, trial balance by role, WIP by order,
inventory valuation. Operational reports (downtime cost, cost of quality, OEE) are in
:mod:`central.domain.operations_reports`.

Each takes journal entries already filtered by the caller (entity, period or date window) and
returns plain rows over :class:`~decimal.Decimal`; the API formats them as decimal strings.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from central.domain.ledger import JournalEntry, Tags, balances_by
from central.domain.money import ZERO, sum_by, to_cents
from central.domain.postings import PostingContext
from central.domain.roles import VARIANCE_OF_ROLE, Role, VarianceType


@dataclass(frozen=True)
class VarianceRow:
    """One row of the variance report; positive = unfavourable."""

    type: VarianceType
    amount: Decimal
    item: str | None = None
    work_center: str | None = None
    work_order: str | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, object]:
        """The API shape: ``type``, ``amount`` and only the dimensions that are set."""
        row: dict[str, object] = {"type": self.type.value, "amount": self.amount}
        for key in ("item", "work_center", "work_order", "reason"):
            value = getattr(self, key)
            if value is not None:
                row[key] = value
        return row


@dataclass(frozen=True)
class VarianceReport:
    rows: tuple[VarianceRow, ...]
    total: Decimal

    def by_type(self) -> dict[VarianceType, Decimal]:
        """Net amount per variance type (types without postings left out)."""
        return sum_by((row.type, row.amount) for row in self.rows)


def variance_report(entries: Iterable[JournalEntry]) -> VarianceReport:
    """Every variance line (including abnormal spoilage), net per type and dimension
    (item, work centre, work order, reason); rows netting to zero are left out."""
    net: dict[tuple[VarianceType, str | None, str | None, str | None, str | None], Decimal] = defaultdict(
        lambda: ZERO
    )
    for entry in entries:
        for line in entry.lines:
            kind = VARIANCE_OF_ROLE.get(line.role)
            if kind is not None:
                t = line.tags
                net[(kind, t.item, t.work_center, t.work_order, t.reason)] += line.amount
    order = list(VarianceType)
    rows = tuple(
        VarianceRow(kind, amount, item, centre, wo, reason)
        for (kind, item, centre, wo, reason), amount in sorted(
            net.items(), key=lambda kv: (order.index(kv[0][0]), *(str(k or "") for k in kv[0][1:]))
        )
        if amount != 0
    )
    return VarianceReport(rows, sum((row.amount for row in rows), ZERO))


@dataclass(frozen=True)
class RoleBalance:
    """Trial balance line per role: net debit or credit over every account of the role."""

    role: Role
    debit: Decimal
    credit: Decimal

    @property
    def balance(self) -> Decimal:
        return self.debit - self.credit


def trial_balance_by_role(entries: Iterable[JournalEntry]) -> tuple[RoleBalance, ...]:
    """Net balance per role (accounts split by item or work centre add up to their role), in
    chart order; roles that saw activity and net to zero stay listed at 0.00."""
    net: dict[Role, Decimal] = {}
    for entry in entries:
        for line in entry.lines:
            net[line.role] = net.get(line.role, ZERO) + line.amount
    return tuple(
        RoleBalance(role, max(net[role], ZERO), max(-net[role], ZERO)) for role in Role if role in net
    )


def wip_by_order(entries: Iterable[JournalEntry]) -> dict[str, Decimal]:
    """WIP balance per work order (lines without an order listed under ``""``)."""
    return {order or "": amount for order, amount in balances_by(entries, Role.WIP, _order).items()}


def _order(tags: Tags) -> str | None:
    return tags.work_order


def _item(tags: Tags) -> str | None:
    return tags.item


_STOCK_ROLES = (Role.RAW_MATERIALS, Role.FINISHED_GOODS)


@dataclass(frozen=True)
class ValuationRow:
    """Inventory of one item: ``qty`` on hand (from stock moves) at the standard ``unit_cost``,
    ``value`` = qty x unit cost in cents, and ``ledger`` = the balance the ledger holds for it.

    ``difference`` = value - ledger. It is 0.00 while quantities and the ledger move together;
    it is not when a standard cost changed without revaluing the stock on hand (v1 does not
    revalue: the ledger keeps the old standard), or for stock that moved before quantities were
    recorded, or for cents left by rounding per posting."""

    item: str
    role: Role
    qty: Decimal
    unit_cost: Decimal
    value: Decimal
    ledger: Decimal

    @property
    def difference(self) -> Decimal:
        return self.value - self.ledger


def inventory_valuation(
    ctx: PostingContext, on_hand: Mapping[str, Decimal], entries: Iterable[JournalEntry]
) -> tuple[ValuationRow, ...]:
    """Raw materials and manufactured stock by item: ``on_hand`` quantities (item -> qty) valued
    at standard, next to the ledger balance of raw_materials / finished_goods for the item."""
    listed = list(entries)
    ledger = {
        (role, item): amount
        for role in _STOCK_ROLES
        for item, amount in balances_by(listed, role, _item).items()
        if item is not None
    }
    return value_inventory(ctx, on_hand, ledger)


def value_inventory(
    ctx: PostingContext, on_hand: Mapping[str, Decimal], ledger: Mapping[tuple[Role, str], Decimal]
) -> tuple[ValuationRow, ...]:
    """:func:`inventory_valuation` from ledger balances already summed per (role, item).

    An item's quantity sits on the row of its class's role (finished_goods for manufactured
    items, raw_materials otherwise); a ledger balance an item holds under the other role gets a
    row of its own with no quantity, so the rows always add up to the two roles' balances. An
    item unknown to master data is valued at 0 (its ledger balance shows as the difference)."""
    rows = []
    for item_id in sorted({*on_hand, *(item for _, item in ledger)}):
        known = ctx.master.items_by_id.get(item_id)
        if known is None:
            home = next((role for role in _STOCK_ROLES if (role, item_id) in ledger), Role.RAW_MATERIALS)
            cost = ZERO
        else:
            home = Role.FINISHED_GOODS if known.manufactured else Role.RAW_MATERIALS
            cost = ctx.unit_cost(item_id)
        qty = on_hand.get(item_id, ZERO)
        rows.append(ValuationRow(item_id, home, qty, cost, to_cents(qty * cost), ledger.get((home, item_id), ZERO)))
        for role in _STOCK_ROLES:
            if role is not home and (role, item_id) in ledger:
                rows.append(ValuationRow(item_id, role, ZERO, cost, ZERO, ledger[(role, item_id)]))
    return tuple(rows)
