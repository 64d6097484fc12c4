"""Posting rules as versioned data, and the chart that turns roles into account codes.

A rule maps a posting kind (and optionally an item class) to the debit and credit roles; a
negative amount swaps the sides. Rule sets are plain data (:meth:`PostingRuleSet.to_data`), so
the service layer stores them, versions them and changes them only through an approval.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from central.domain.errors import PostingRuleError, ValidationError
from central.domain.ledger import Tags
from central.domain.master_data import ItemClass, MasterData
from central.domain.roles import DEFAULT_CHART, VARIANCE_ROLES, Role, VarianceType, parse_role


class PostingKind(StrEnum):
    GOODS_RECEIPT = "goods_receipt"
    MATERIAL_ISSUE = "material_issue"
    BACKFLUSH = "backflush"
    CONVERSION_LABOR = "conversion_applied.labor"
    CONVERSION_VOH = "conversion_applied.voh"
    CONVERSION_FOH = "conversion_applied.foh"
    FINISHED_GOODS = "finished_goods"
    LABOR_BOOKING = "labor_booking"
    OVERHEAD_VARIABLE = "overhead_actual.variable"
    OVERHEAD_FIXED = "overhead_actual.fixed"
    MATERIAL_PRICE_VARIANCE = "material_price_variance"
    MATERIAL_USAGE_VARIANCE = "material_usage_variance"
    ABNORMAL_SPOILAGE = "abnormal_spoilage"
    LABOR_RATE_VARIANCE = "labor_rate_variance"
    LABOR_IDLE_VARIANCE = "labor_idle_variance"
    LABOR_EFFICIENCY_VARIANCE = "labor_efficiency_variance"
    VOH_SPENDING_VARIANCE = "voh_spending_variance"
    VOH_EFFICIENCY_VARIANCE = "voh_efficiency_variance"
    FOH_BUDGET_VARIANCE = "foh_budget_variance"
    FOH_VOLUME_VARIANCE = "foh_volume_variance"


VARIANCE_KINDS: Mapping[VarianceType, PostingKind] = MappingProxyType(
    {
        VarianceType.MATERIAL_PRICE: PostingKind.MATERIAL_PRICE_VARIANCE,
        VarianceType.MATERIAL_USAGE: PostingKind.MATERIAL_USAGE_VARIANCE,
        VarianceType.ABNORMAL_SPOILAGE: PostingKind.ABNORMAL_SPOILAGE,
        VarianceType.LABOR_RATE: PostingKind.LABOR_RATE_VARIANCE,
        VarianceType.LABOR_IDLE: PostingKind.LABOR_IDLE_VARIANCE,
        VarianceType.LABOR_EFFICIENCY: PostingKind.LABOR_EFFICIENCY_VARIANCE,
        VarianceType.VOH_SPENDING: PostingKind.VOH_SPENDING_VARIANCE,
        VarianceType.VOH_EFFICIENCY: PostingKind.VOH_EFFICIENCY_VARIANCE,
        VarianceType.FOH_BUDGET: PostingKind.FOH_BUDGET_VARIANCE,
        VarianceType.FOH_VOLUME: PostingKind.FOH_VOLUME_VARIANCE,
    }
)

ITEM_CLASS_KINDS = frozenset(
    {PostingKind.GOODS_RECEIPT, PostingKind.MATERIAL_ISSUE, PostingKind.BACKFLUSH}
)
"""Kinds whose inventory side depends on the item class (raw vs manufactured stock)."""


@dataclass(frozen=True)
class PostingRule:
    kind: PostingKind
    debit: Role
    credit: Role
    item_class: ItemClass | None = None


@dataclass(frozen=True)
class PostingRuleSet:
    """A version of the posting rules; the most specific rule (kind + item class) wins."""

    version: int
    rules: tuple[PostingRule, ...]

    def rule(self, kind: PostingKind, item_class: ItemClass | None = None) -> PostingRule:
        for candidate in (item_class, None):
            for rule in self.rules:
                if rule.kind == kind and rule.item_class == candidate:
                    return rule
        raise PostingRuleError(f"rule set v{self.version} has no rule for {kind} ({item_class})")

    def to_data(self) -> list[dict[str, str]]:
        """Rows for storage: kind, item_class ('' for any), debit, credit."""
        return [
            {
                "kind": r.kind.value,
                "item_class": r.item_class.value if r.item_class else "",
                "debit": r.debit.value,
                "credit": r.credit.value,
            }
            for r in self.rules
        ]

    @classmethod
    def from_data(cls, version: int, rows: Iterable[Mapping[str, str]]) -> PostingRuleSet:
        """Read rows written by :meth:`to_data`; refuses unknown kinds, classes and roles."""
        rules: list[PostingRule] = []
        for index, row in enumerate(rows):
            try:
                item_class = ItemClass(row["item_class"]) if row.get("item_class") else None
                rules.append(
                    PostingRule(
                        PostingKind(row["kind"]), Role(row["debit"]), Role(row["credit"]), item_class
                    )
                )
            except (KeyError, ValueError) as exc:
                raise PostingRuleError(f"rules[{index}]: {exc}") from exc
        rule_set = cls(version, tuple(rules))
        errors = validate_rule_set(rule_set)
        if errors:
            raise PostingRuleError("; ".join(f"{e.key_path}: {e.message}" for e in errors))
        return rule_set


def validate_rule_set(rule_set: PostingRuleSet) -> list[ValidationError]:
    """Every posting kind (per item class where it matters) resolves; no duplicates."""
    errors: list[ValidationError] = []
    seen: set[tuple[PostingKind, ItemClass | None]] = set()
    for index, rule in enumerate(rule_set.rules):
        if (rule.kind, rule.item_class) in seen:
            errors.append(ValidationError(f"rules[{index}]", f"duplicate rule for {rule.kind}"))
        seen.add((rule.kind, rule.item_class))
        if rule.debit == rule.credit:
            errors.append(ValidationError(f"rules[{index}]", "debit and credit are the same role"))
    for kind in PostingKind:
        classes: tuple[ItemClass | None, ...] = tuple(ItemClass) if kind in ITEM_CLASS_KINDS else (None,)
        for item_class in classes:
            if (kind, item_class) not in seen and (kind, None) not in seen:
                errors.append(ValidationError("rules", f"no rule for {kind} ({item_class})"))
    return errors


def _default_rules() -> tuple[PostingRule, ...]:
    k, r = PostingKind, Role
    rules = [
        PostingRule(k.GOODS_RECEIPT, r.RAW_MATERIALS, r.ACCOUNTS_PAYABLE, ItemClass.RAW),
        PostingRule(k.GOODS_RECEIPT, r.FINISHED_GOODS, r.ACCOUNTS_PAYABLE),
        PostingRule(k.MATERIAL_ISSUE, r.WIP, r.RAW_MATERIALS, ItemClass.RAW),
        PostingRule(k.MATERIAL_ISSUE, r.WIP, r.FINISHED_GOODS),
        PostingRule(k.BACKFLUSH, r.WIP, r.RAW_MATERIALS, ItemClass.RAW),
        PostingRule(k.BACKFLUSH, r.WIP, r.FINISHED_GOODS),
        PostingRule(k.CONVERSION_LABOR, r.WIP, r.LABOR_CONTROL),
        PostingRule(k.CONVERSION_VOH, r.WIP, r.VOH_CONTROL),
        PostingRule(k.CONVERSION_FOH, r.WIP, r.FOH_CONTROL),
        PostingRule(k.FINISHED_GOODS, r.FINISHED_GOODS, r.WIP),
        PostingRule(k.LABOR_BOOKING, r.LABOR_CONTROL, r.WAGES_PAYABLE),
        PostingRule(k.OVERHEAD_VARIABLE, r.VOH_CONTROL, r.OVERHEAD_PAYABLE),
        PostingRule(k.OVERHEAD_FIXED, r.FOH_CONTROL, r.OVERHEAD_PAYABLE),
    ]
    offsets = {
        VarianceType.MATERIAL_PRICE: r.ACCOUNTS_PAYABLE,
        VarianceType.MATERIAL_USAGE: r.WIP,
        VarianceType.ABNORMAL_SPOILAGE: r.WIP,
        VarianceType.LABOR_RATE: r.LABOR_CONTROL,
        VarianceType.LABOR_IDLE: r.LABOR_CONTROL,
        VarianceType.LABOR_EFFICIENCY: r.LABOR_CONTROL,
        VarianceType.VOH_SPENDING: r.VOH_CONTROL,
        VarianceType.VOH_EFFICIENCY: r.VOH_CONTROL,
        VarianceType.FOH_BUDGET: r.FOH_CONTROL,
        VarianceType.FOH_VOLUME: r.FOH_CONTROL,
    }
    rules += [PostingRule(VARIANCE_KINDS[v], VARIANCE_ROLES[v], offsets[v]) for v in VarianceType]
    return tuple(rules)


DEFAULT_RULES = PostingRuleSet(version=1, rules=_default_rules())
"""Version 1: the postings of ACCOUNTING.md, "What each input posts" and "Variances"."""


@dataclass(frozen=True)
class Chart:
    """Role -> account code for one entity, with optional splits by item or work centre."""

    entity: str | None
    codes: Mapping[Role, str]
    item_splits: Mapping[tuple[Role, str], str] = field(default_factory=lambda: MappingProxyType({}))
    work_center_splits: Mapping[tuple[Role, str], str] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def default(cls, entity: str | None = None) -> Chart:
        return cls(entity, DEFAULT_CHART)

    def code(self, role: Role, tags: Tags | None = None) -> str:
        """The account for ``role``: an item split first, then a work-centre split, else the base."""
        if tags is not None and tags.item is not None and (role, tags.item) in self.item_splits:
            return self.item_splits[(role, tags.item)]
        wc = tags.work_center if tags is not None else None
        if wc is not None and (role, wc) in self.work_center_splits:
            return self.work_center_splits[(role, wc)]
        try:
            return self.codes[role]
        except KeyError:
            raise PostingRuleError(f"no account for role {role} (entity {self.entity})") from None

    def role_of(self, code: str) -> Role | None:
        """The role of an account code of this chart, or None."""
        for mapping in (self.codes, self.item_splits, self.work_center_splits):
            for key, value in mapping.items():
                if value == code:
                    return key if isinstance(key, Role) else key[0]
        return None


def chart_for_entity(master: MasterData, entity: str | None) -> Chart:
    """The chart of ``entity`` from master-data accounts (accounts without entity apply to all)."""
    codes: dict[Role, str] = {}
    items: dict[tuple[Role, str], str] = {}
    centres: dict[tuple[Role, str], str] = {}
    for account in master.accounts:
        role = parse_role(account.role)
        if role is None or account.entity not in (None, entity):
            continue
        if account.item is not None:
            items[(role, account.item)] = account.code
        elif account.work_center is not None:
            centres[(role, account.work_center)] = account.code
        else:
            codes[role] = account.code
    missing = [role.value for role in Role if role not in codes]
    if missing:
        raise PostingRuleError(f"entity {entity}: no account for roles {', '.join(missing)}")
    return Chart(entity, MappingProxyType(codes), MappingProxyType(items), MappingProxyType(centres))
