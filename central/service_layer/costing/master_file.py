"""The master-data file (API.md): YAML or JSON in, checked records out.

Numbers are read as :class:`~decimal.Decimal` from their text: YAML floats go through a loader
that never makes a binary float, JSON floats are refused (send strings). Unknown keys and bad
values are refused with their key path (``items[2].colour``); dangling references are found by
:func:`central.domain.master_data_validation.validate_master_data` on the merged set.

Every number goes through :func:`central.domain.money.parse_decimal` (plain notation, at most
15 integer digits) with the places of its kind — prices, costs and rates 6, money 2 (a
budget), quantities and hours 6 — and more places are refused, never rounded. Each field also
has an upper bound of its own (:data:`MAX_PRICE`, :data:`MAX_MONEY`, :data:`MAX_PER_UNIT`,
:data:`MAX_HOURS`) so that a value that loads can be multiplied and stored by every later
posting. Entity time zones must be keys of the zone database (:func:`known_time_zone`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    model_validator,
)

from central.domain.bounds import check_date
from central.domain.errors import MasterDataError, MoneyError
from central.domain.errors import ValidationError as DomainValidationError
from central.domain.master_data_validation import MAX_HOURS, MAX_MONEY, MAX_PER_UNIT, MAX_PRICE, is_zone_key
from central.domain.master_snapshot import SECTIONS
from central.domain.money import MONEY_PLACES, QUANTITY_PLACES, UNIT_PLACES, parse_decimal

__all__ = [
    "MasterFile",
    "parse_master_file",
    "read_master_file",
    "parse_master_json",
    "SECTIONS",
    "key_path",
    "known_time_zone",
    "MAX_PRICE",
    "MAX_MONEY",
    "MAX_PER_UNIT",
    "MAX_HOURS",
]



def _number(max_places: int) -> Callable[[object], Decimal]:
    """A validator reading one number of a kind through :func:`parse_decimal`."""

    def read(value: object) -> Decimal:
        if isinstance(value, bool):
            raise ValueError("a boolean is not a number")
        if isinstance(value, float):
            raise ValueError("a binary float is refused: write the number as a string")
        if not isinstance(value, int | Decimal | str):
            raise ValueError(f"expected a decimal number, got {type(value).__name__}")
        try:
            result = parse_decimal(value, max_places)
        except MoneyError as exc:
            raise ValueError(str(exc)) from None
        return Decimal(format(result, "f"))  # stored and shown in plain notation (a YAML 1.5e+3 is 1500)

    return read


Price = Annotated[Decimal, BeforeValidator(_number(UNIT_PLACES)), Field(lt=int(MAX_PRICE))]
Money = Annotated[Decimal, BeforeValidator(_number(MONEY_PLACES)), Field(lt=int(MAX_MONEY))]
PerUnit = Annotated[Decimal, BeforeValidator(_number(QUANTITY_PLACES)), Field(lt=int(MAX_PER_UNIT))]
Hours = Annotated[Decimal, BeforeValidator(_number(QUANTITY_PLACES)), Field(lt=int(MAX_HOURS))]
Fraction = Annotated[Decimal, BeforeValidator(_number(QUANTITY_PLACES))]
Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]

def known_time_zone(value: str) -> str:
    """``value`` when it is a key of the zone database (``Europe/Berlin``, ``UTC``); else ValueError
    (:func:`~central.domain.master_data_validation.is_zone_key`)."""
    if not is_zone_key(value):
        shown = repr(value[:64])
        raise ValueError(f"unknown time zone {shown}: use a zone database key such as 'Europe/Berlin' or 'UTC'")
    return value


TimeZone = Annotated[str, AfterValidator(known_time_zone)]
Day = Annotated[date, AfterValidator(check_date)]
"""A period's first or last day, within the wire's range (2000-01-01 .. 2999-12-31): the day
after the last one and midnight in any zone stay representable."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EntityIn(_Strict):
    id: Id
    name: str = ""
    currency: str = "EUR"
    timezone: TimeZone = "UTC"
    period_rule: Literal["none", "monthly"] = "none"


class AlertThresholdsIn(_Strict):
    """Thresholds of the rule-based alerts (``central.domain.alert_rules``, docs/alerts.md) on a
    plant, a work centre or a machine; unset keys inherit (machine <- work centre <- plant <- defaults)."""

    run_hours_tolerance: Annotated[Fraction, Field(ge=0, le=10)] | None = None
    labour_hours_tolerance: Annotated[Fraction, Field(ge=0, le=10)] | None = None
    material_tolerance: Annotated[Fraction, Field(ge=0, le=10)] | None = None
    min_standard_hours: Annotated[Hours, Field(ge=0)] | None = None
    min_output_units: Annotated[Hours, Field(ge=0)] | None = None
    clear_fraction: Annotated[Fraction, Field(ge=0, le=1)] | None = None
    variance_amount: Annotated[Money, Field(ge=0)] | None = None
    variance_percent: Annotated[Fraction, Field(ge=0, le=10)] | None = None
    po_late_days: Annotated[StrictInt, Field(ge=0, le=3650)] | None = None
    shortage_horizon_days: Annotated[StrictInt, Field(ge=0, le=3650)] | None = None
    edge_offline_minutes: Annotated[Hours, Field(gt=0)] | None = None
    unacked_minutes: Annotated[Hours, Field(gt=0)] | None = None
    stream_silent_minutes: Annotated[Hours, Field(gt=0)] | None = None
    clear_runs: Annotated[StrictInt, Field(ge=1, le=1000)] | None = None
    over_receipt_tolerance: Annotated[Fraction, Field(ge=0, le=1)] | None = None
    """Not an alert: PO receipts beyond ordered x (1 + this) are refused (the PO's plant's value)."""


class PlantIn(_Strict):
    id: Id
    entity: Id
    name: str = ""
    alert_thresholds: AlertThresholdsIn | None = None


class AccountIn(_Strict):
    code: Annotated[str, Field(min_length=1, max_length=32)]
    name: str
    role: str
    entity: Id | None = None
    item: Id | None = None
    work_center: Id | None = None


class ItemIn(_Strict):
    id: Id
    class_: Literal["raw", "semi", "finished"] = Field(alias="class")
    unit: str = "pcs"
    name: str = ""
    standard_cost: Price | None = None
    issue: Literal["manual", "backflush"] = "manual"


class ComponentIn(_Strict):
    item: Id
    qty: PerUnit


class BomIn(_Strict):
    item: Id
    components: list[ComponentIn]


class ThresholdsIn(_Strict):
    """Thresholds of operational records (``central.domain.thresholds``); unset keys inherit
    (machine <- work centre <- defaults)."""

    scrap_rate: Annotated[Fraction, Field(gt=0, le=1)] | None = None
    scrap_clear_rate: Annotated[Fraction, Field(ge=0, le=1)] | None = None
    scrap_window_units: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    downtime_minutes: Annotated[Hours, Field(gt=0)] | None = None
    downtime_categories: list[Literal["equipment", "material", "quality", "changeover", "operator", "other"]] | None \
        = None

    @model_validator(mode="after")
    def _clear_below_threshold(self) -> ThresholdsIn:
        rate, clear = self.scrap_rate, self.scrap_clear_rate
        if rate is not None and clear is not None and clear > rate:
            raise ValueError("scrap_clear_rate must not exceed scrap_rate")
        return self


class WorkCenterIn(_Strict):
    id: Id
    plant: Id
    name: str = ""
    labor_rate: Price
    voh_rate: Price
    foh_budget: Money
    normal_hours: Hours
    thresholds: ThresholdsIn | None = None
    alert_thresholds: AlertThresholdsIn | None = None


class RoutingIn(_Strict):
    item: Id
    work_center: Id
    labor_hours: PerUnit
    machine_hours: PerUnit
    normal_spoilage: Fraction = Decimal(0)
    ideal_cycle_time: PerUnit | None = None


class MachineIn(_Strict):
    id: Id
    work_center: Id
    edge: Id | None = None
    #: central's bound on one event's qty (default 1,000,000): above it the event is held as suspect
    max_event_qty: Annotated[StrictInt, Field(ge=1, le=2**63 - 1)] | None = None
    name: str = ""
    thresholds: ThresholdsIn | None = None
    alert_thresholds: AlertThresholdsIn | None = None


class DowntimeReasonIn(_Strict):
    code: Id
    category: Literal["equipment", "material", "quality", "changeover", "operator", "other"] = "other"
    planned: bool = False
    name: str = ""


class ScrapReasonIn(_Strict):
    code: Id
    name: str = ""


class PeriodIn(_Strict):
    id: Id
    start: Day
    end: Day
    entity: Id | None = None


class SellingPriceIn(_Strict):
    """A product's selling price per good unit from ``valid_from`` on, in its entity's currency
    (``currency``, when given, must be that currency). Not a section of ``master_records``: it is
    stored in ``selling_prices`` (:mod:`central.service_layer.costing.selling_prices`)."""

    product: Id
    price: Price
    valid_from: Day
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] | None = None


class PostingRuleIn(_Strict):
    kind: str
    item_class: Literal["", "raw", "semi", "finished"] = ""
    debit: str
    credit: str


class MasterFile(_Strict):
    entities: list[EntityIn] = []
    plants: list[PlantIn] = []
    accounts: list[AccountIn] = []
    items: list[ItemIn] = []
    boms: list[BomIn] = []
    work_centers: list[WorkCenterIn] = []
    routings: list[RoutingIn] = []
    machines: list[MachineIn] = []
    downtime_reasons: list[DowntimeReasonIn] = []
    scrap_reasons: list[ScrapReasonIn] = []
    periods: list[PeriodIn] = []
    posting_rules: list[PostingRuleIn] = []
    selling_prices: list[SellingPriceIn] = []


def key_path(loc: tuple[int | str, ...]) -> str:
    """``('items', 0, 'class')`` -> ``items[0].class``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(root)"


def parse_master_file(data: object) -> MasterFile:
    """Validate a decoded document; :class:`MasterDataError` lists every bad key with its path."""
    if not isinstance(data, dict):
        raise MasterDataError([DomainValidationError("(root)", "a master-data document is a mapping")])
    try:
        return MasterFile.model_validate(data)
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            if err["type"] == "extra_forbidden":
                message = "unknown key"
            elif err["type"] == "value_error" and "error" in err.get("ctx", {}):
                message = str(err["ctx"]["error"])  # our own sentence, without pydantic's "Value error, "
            else:
                message = str(err["msg"])
            errors.append(DomainValidationError(key_path(tuple(err["loc"])), message))
        raise MasterDataError(errors) from None


class _DecimalLoader(yaml.SafeLoader):
    """SafeLoader whose floats become Decimals from their text (never a binary float)."""


def _construct_decimal(loader: yaml.SafeLoader, node: yaml.Node) -> Decimal | str:
    """A YAML float as a Decimal from its text; ``.inf``/``.nan`` stay text, so the field that
    holds one refuses it with its key path (a number field never takes them)."""
    text = str(loader.construct_scalar(node))  # type: ignore[arg-type]
    try:
        value = Decimal(text.replace("_", ""))
    except InvalidOperation:
        return text
    return value if value.is_finite() else text


_DecimalLoader.add_constructor("tag:yaml.org,2002:float", _construct_decimal)


def read_master_file(path: str | Path) -> MasterFile:
    """Read a YAML (or JSON, which is YAML) master-data file; a file that cannot be read, is not
    UTF-8 or not YAML is a :class:`MasterDataError` at ``(file)`` like any other problem."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise MasterDataError([DomainValidationError("(file)", f"not UTF-8 text (byte {exc.start})")]) from None
    except OSError as exc:
        raise MasterDataError([DomainValidationError("(file)", f"cannot read: {exc.strerror or exc}")]) from None
    try:
        data: Any = yaml.load(text, Loader=_DecimalLoader)
    except yaml.YAMLError as exc:
        raise MasterDataError([DomainValidationError("(file)", f"not valid YAML: {exc}")]) from None
    return parse_master_file(data)


def parse_master_json(body: bytes) -> MasterFile:
    """The same document POSTed as JSON; floats are refused (send numbers as strings)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MasterDataError([DomainValidationError("(body)", f"not valid JSON: {exc}")]) from None
    return parse_master_file(data)
