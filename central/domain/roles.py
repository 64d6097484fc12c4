"""Account roles and the default chart of accounts (ACCOUNTING.md, "Account roles")."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class Role(StrEnum):
    """What an account is for; posting rules speak in roles, the chart turns them into codes."""

    RAW_MATERIALS = "raw_materials"
    WIP = "wip"
    FINISHED_GOODS = "finished_goods"
    ACCOUNTS_PAYABLE = "accounts_payable"
    WAGES_PAYABLE = "wages_payable"
    OVERHEAD_PAYABLE = "overhead_payable"
    LABOR_CONTROL = "labor_control"
    VOH_CONTROL = "voh_control"
    FOH_CONTROL = "foh_control"
    ABNORMAL_SPOILAGE = "abnormal_spoilage"
    MATERIAL_PRICE_VARIANCE = "material_price_variance"
    MATERIAL_USAGE_VARIANCE = "material_usage_variance"
    LABOR_RATE_VARIANCE = "labor_rate_variance"
    LABOR_IDLE_VARIANCE = "labor_idle_variance"
    LABOR_EFFICIENCY_VARIANCE = "labor_efficiency_variance"
    VOH_SPENDING_VARIANCE = "voh_spending_variance"
    VOH_EFFICIENCY_VARIANCE = "voh_efficiency_variance"
    FOH_BUDGET_VARIANCE = "foh_budget_variance"
    FOH_VOLUME_VARIANCE = "foh_volume_variance"
    ROUNDING = "rounding"


DEFAULT_CHART: Mapping[Role, str] = MappingProxyType(
    {
        Role.RAW_MATERIALS: "1300",
        Role.WIP: "1400",
        Role.FINISHED_GOODS: "1500",
        Role.ACCOUNTS_PAYABLE: "2000",
        Role.WAGES_PAYABLE: "2100",
        Role.OVERHEAD_PAYABLE: "2200",
        Role.LABOR_CONTROL: "5100",
        Role.VOH_CONTROL: "5110",
        Role.FOH_CONTROL: "5120",
        Role.MATERIAL_PRICE_VARIANCE: "5200",
        Role.MATERIAL_USAGE_VARIANCE: "5210",
        Role.LABOR_RATE_VARIANCE: "5300",
        Role.LABOR_IDLE_VARIANCE: "5310",
        Role.LABOR_EFFICIENCY_VARIANCE: "5320",
        Role.VOH_SPENDING_VARIANCE: "5400",
        Role.VOH_EFFICIENCY_VARIANCE: "5410",
        Role.FOH_BUDGET_VARIANCE: "5500",
        Role.FOH_VOLUME_VARIANCE: "5510",
        Role.ABNORMAL_SPOILAGE: "5600",
        Role.ROUNDING: "5900",
    }
)
"""Role -> account code of the default chart."""

CONTROL_ROLES = frozenset({Role.LABOR_CONTROL, Role.VOH_CONTROL, Role.FOH_CONTROL})


def parse_role(text: str) -> Role | None:
    """The role named ``text``, or None when no role has that name."""
    try:
        return Role(text)
    except ValueError:
        return None


class VarianceType(StrEnum):
    """Variance types of the variance report (API.md); positive = unfavourable = debit."""

    MATERIAL_PRICE = "material_price"
    MATERIAL_USAGE = "material_usage"
    ABNORMAL_SPOILAGE = "abnormal_spoilage"
    LABOR_RATE = "labor_rate"
    LABOR_IDLE = "labor_idle"
    LABOR_EFFICIENCY = "labor_efficiency"
    VOH_SPENDING = "voh_spending"
    VOH_EFFICIENCY = "voh_efficiency"
    FOH_BUDGET = "foh_budget"
    FOH_VOLUME = "foh_volume"


VARIANCE_ROLES: Mapping[VarianceType, Role] = MappingProxyType(
    {
        VarianceType.MATERIAL_PRICE: Role.MATERIAL_PRICE_VARIANCE,
        VarianceType.MATERIAL_USAGE: Role.MATERIAL_USAGE_VARIANCE,
        VarianceType.ABNORMAL_SPOILAGE: Role.ABNORMAL_SPOILAGE,
        VarianceType.LABOR_RATE: Role.LABOR_RATE_VARIANCE,
        VarianceType.LABOR_IDLE: Role.LABOR_IDLE_VARIANCE,
        VarianceType.LABOR_EFFICIENCY: Role.LABOR_EFFICIENCY_VARIANCE,
        VarianceType.VOH_SPENDING: Role.VOH_SPENDING_VARIANCE,
        VarianceType.VOH_EFFICIENCY: Role.VOH_EFFICIENCY_VARIANCE,
        VarianceType.FOH_BUDGET: Role.FOH_BUDGET_VARIANCE,
        VarianceType.FOH_VOLUME: Role.FOH_VOLUME_VARIANCE,
    }
)
"""Which account role each variance type posts to."""

VARIANCE_OF_ROLE: Mapping[Role, VarianceType] = MappingProxyType(
    {role: kind for kind, role in VARIANCE_ROLES.items()}
)
