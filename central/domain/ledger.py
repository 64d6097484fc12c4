"""Ledger value types: journal lines and entries that balance or are refused.

A :class:`JournalEntry` balances to the cent at construction or raises
:class:`~central.domain.errors.UnbalancedEntryError`. Amounts are computed unrounded and handed
to an :class:`EntryBuilder`, which rounds each line half-up to cents and puts whatever rounding
leaves into one ``rounding`` line. Nothing is edited: :meth:`JournalEntry.reversed` makes the
correcting entry.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal

from central.domain.errors import UnbalancedEntryError
from central.domain.money import CENT, ZERO, is_cents, sum_by, to_cents
from central.domain.roles import Role

AccountResolver = Callable[[Role, "Tags"], str]
"""Turns a role (and the line's item / work centre) into an account code."""

_UNROUNDED_TOLERANCE = Decimal("1e-12")


@dataclass(frozen=True)
class Tags:
    """What a line is about: dimensions for reports and the lineage to operational records."""

    work_order: str | None = None
    item: str | None = None
    work_center: str | None = None
    reason: str | None = None
    memo: str = ""
    refs: tuple[str, ...] = ()


def _is_line_amount(value: object) -> bool:
    """A finite, non-negative Decimal in cents: what each side of a line must be."""
    return isinstance(value, Decimal) and value.is_finite() and value >= 0 and value == value.quantize(CENT)


@dataclass(frozen=True)
class JournalLine:
    """One side of a posting: exactly one of ``debit`` and ``credit`` is non-zero, in cents."""

    role: Role
    debit: Decimal = ZERO
    credit: Decimal = ZERO
    account: str | None = None
    tags: Tags = field(default_factory=Tags)

    def __post_init__(self) -> None:
        debit, credit = self.debit, self.credit
        if not (_is_line_amount(debit) and _is_line_amount(credit)):
            self._refuse_amounts()
        if (debit == 0) == (credit == 0):
            raise UnbalancedEntryError(
                f"a line needs exactly one non-zero side ({self.role}: {debit}/{credit})"
            )

    def _refuse_amounts(self) -> None:
        """Say which side is wrong (the slow path of :meth:`__post_init__`, taken only on a refusal)."""
        for name, value in (("debit", self.debit), ("credit", self.credit)):
            if not isinstance(value, Decimal):
                raise UnbalancedEntryError(f"{name} must be a Decimal, got {type(value).__name__}")
            if value < 0 or not is_cents(value):
                raise UnbalancedEntryError(f"{name} must be a non-negative amount in cents: {value}")

    @property
    def amount(self) -> Decimal:
        """Signed amount: debit positive, credit negative."""
        return self.debit - self.credit

    def swapped(self) -> JournalLine:
        return replace(self, debit=self.credit, credit=self.debit)


@dataclass(frozen=True)
class JournalEntry:
    """A dated, balanced set of lines. ``reverses`` names the entry a reversal corrects."""

    entry_date: date
    period: str
    kind: str
    lines: tuple[JournalLine, ...]
    entity: str | None = None
    memo: str = ""
    rule_version: int | None = None
    late: bool = False
    original_date: date | None = None
    reverses: str | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        if len(self.lines) < 2:
            raise UnbalancedEntryError(f"{self.kind}: an entry needs at least two lines")
        debit = credit = ZERO
        for line in self.lines:  # one pass: this runs for every entry posted
            debit += line.debit
            credit += line.credit
        if debit != credit:
            raise UnbalancedEntryError(f"{self.kind}: debits {debit} != credits {credit}")

    @property
    def total_debit(self) -> Decimal:
        return sum((line.debit for line in self.lines), ZERO)

    @property
    def total_credit(self) -> Decimal:
        return sum((line.credit for line in self.lines), ZERO)

    def reversed(
        self,
        reason: str,
        *,
        reverses: str | None = None,
        entry_date: date | None = None,
        period: str | None = None,
    ) -> JournalEntry:
        """The correcting entry: every line with its sides swapped, dated as given."""
        if not reason.strip():
            raise UnbalancedEntryError("a reversal needs a reason")
        return replace(
            self,
            lines=tuple(line.swapped() for line in self.lines),
            entry_date=entry_date or self.entry_date,
            period=period or self.period,
            reverses=reverses,
            reason=reason,
            late=False,
            original_date=None,
        )


@dataclass(frozen=True)
class EntryHeader:
    """When and where an entry posts. ``late`` marks an event dated in a closed period that
    posts in the first open one; ``original_date`` keeps its own date."""

    entry_date: date
    period: str
    kind: str = ""
    entity: str | None = None
    memo: str = ""
    rule_version: int | None = None
    late: bool = False
    original_date: date | None = None

    def with_kind(self, kind: str) -> EntryHeader:
        return replace(self, kind=kind)

    def stamped(self, kind: str, entity: str | None, rule_version: int | None) -> EntryHeader:
        """This header for an entry of ``kind`` posted by ``entity`` under rule set ``rule_version``
        (built directly: ``dataclasses.replace`` costs more than the rest of a small entry)."""
        return EntryHeader(entry_date=self.entry_date, period=self.period, kind=kind, entity=entity, memo=self.memo,
                           rule_version=rule_version, late=self.late, original_date=self.original_date)


_Pending = tuple[Role, Decimal, Tags]
"""An amount added to a builder: role, signed unrounded amount, tags (a tuple: many per entry)."""


class EntryBuilder:
    """Collects unrounded signed amounts (debit +, credit -) and builds one balanced entry.

    Amounts on the same role with the same tags merge into one line. Each line is rounded
    half-up to cents; explicit ``rounding`` amounts and the residue of rounding the other lines
    end up in ONE rounding line. The unrounded amounts must balance:
    the builder fixes rounding, never a wrong posting.
    """

    def __init__(
        self,
        header: EntryHeader,
        *,
        tags: Tags | None = None,
        resolver: AccountResolver | None = None,
    ) -> None:
        self._header = header
        self._tags = tags or Tags()
        self._resolver = resolver
        self._pending: list[_Pending] = []

    @property
    def tags(self) -> Tags:
        return self._tags

    def add(self, role: Role, amount: Decimal, tags: Tags | None = None) -> EntryBuilder:
        """A signed unrounded amount on ``role``: positive debits, negative credits."""
        self._pending.append((role, amount, tags or self._tags))
        return self

    def pair(
        self, debit: Role, credit: Role, amount: Decimal, tags: Tags | None = None
    ) -> EntryBuilder:
        """Dr ``debit`` / Cr ``credit`` for ``amount``; a negative amount swaps the sides."""
        return self.add(debit, amount, tags).add(credit, -amount, tags)

    def build(self) -> JournalEntry | None:
        """The balanced entry, or None when every line rounds to zero."""
        imbalance = ZERO
        merged: dict[tuple[Role, Tags], Decimal] = {}
        for role, amount, tags in self._pending:
            imbalance += amount
            if role != Role.ROUNDING:
                key = (role, tags)
                merged[key] = merged.get(key, ZERO) + amount
        if abs(imbalance) > _UNROUNDED_TOLERANCE:
            raise UnbalancedEntryError(f"{self._header.kind}: amounts do not balance by {imbalance}")
        kept: list[JournalLine] = []
        residue = ZERO
        for (role, tags), amount in merged.items():
            line = self._line(role, to_cents(amount), tags)
            if line is not None:
                kept.append(line)
                residue -= line.amount
        rounding = self._line(Role.ROUNDING, residue, self._tags)
        if rounding is not None:
            kept.append(rounding)
        if not kept:
            return None
        h = self._header
        return JournalEntry(
            entry_date=h.entry_date,
            period=h.period,
            kind=h.kind,
            lines=tuple(kept),
            entity=h.entity,
            memo=h.memo,
            rule_version=h.rule_version,
            late=h.late,
            original_date=h.original_date,
        )

    def _line(self, role: Role, amount: Decimal, tags: Tags) -> JournalLine | None:
        if amount == 0:
            return None
        account = self._resolver(role, tags) if self._resolver else None
        if amount > 0:
            return JournalLine(role, debit=amount, account=account, tags=tags)
        return JournalLine(role, credit=-amount, account=account, tags=tags)


@dataclass(frozen=True)
class TrialBalanceLine:
    account: str | None
    role: Role
    debit: Decimal
    credit: Decimal

    @property
    def balance(self) -> Decimal:
        return self.debit - self.credit


@dataclass(frozen=True)
class TrialBalance:
    """Net balance per account; zero-balance accounts that saw activity stay listed at 0.00."""

    lines: tuple[TrialBalanceLine, ...]
    total_debit: Decimal
    total_credit: Decimal

    @property
    def balanced(self) -> bool:
        return self.total_debit == self.total_credit

    def balance(self, role: Role) -> Decimal:
        """Signed net balance of every account with ``role`` (debit positive)."""
        return sum((line.balance for line in self.lines if line.role == role), ZERO)


def trial_balance(entries: Iterable[JournalEntry]) -> TrialBalance:
    """Trial balance over ``entries`` (filter by entity and period before calling)."""
    net: dict[tuple[str | None, Role], Decimal] = defaultdict(lambda: ZERO)
    for entry in entries:
        for line in entry.lines:
            net[(line.account, line.role)] += line.amount
    rows = tuple(
        TrialBalanceLine(account, role, max(amount, ZERO), max(-amount, ZERO))
        for (account, role), amount in sorted(net.items(), key=lambda kv: (kv[0][0] or "", kv[0][1]))
    )
    return TrialBalance(
        rows,
        sum((r.debit for r in rows), ZERO),
        sum((r.credit for r in rows), ZERO),
    )


def balance(
    entries: Iterable[JournalEntry], role: Role, match: Callable[[Tags], bool] | None = None
) -> Decimal:
    """Signed balance (debit positive) of ``role`` over lines whose tags ``match``."""
    return sum(
        (
            line.amount
            for entry in entries
            for line in entry.lines
            if line.role == role and (match is None or match(line.tags))
        ),
        ZERO,
    )


def balances_by(
    entries: Iterable[JournalEntry], role: Role, key: Callable[[Tags], str | None]
) -> dict[str | None, Decimal]:
    """Signed balances of ``role`` grouped by ``key(tags)``, e.g. WIP by work order."""
    return sum_by((key(line.tags), line.amount) for entry in entries for line in entry.lines if line.role == role)
