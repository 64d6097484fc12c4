"""Master data: ``POST /master-data`` (a whole document) and one resource per section (accounts,
items, BOMs, work centres, machines, routings, posting rules, downtime and scrap reasons), each
with list, get, create (201) and replace. Engineers write the production sections, controllers
the accounting ones."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from pydantic import Field, create_model

from central.domain.commands import AddMasterRecord, LoadMasterData, ReplaceMasterRecord
from central.entrypoints.api.deps import Principal, PrincipalDep, SessionDep, UnitOfWorkDep, require_role
from central.entrypoints.api.schemas import RESPONSE_CONFIG, ResponseBody, response_body_of
from central.service_layer.costing import master_data, master_records
from central.service_layer.costing.master_data import load_master_data

__all__ = [
    "router", "RESOURCES", "RECORD_MODELS", "SectionCountsOut", "MasterPendingApprovalOut", "MasterLoadOut",
    "RecordWrittenOut", "ThresholdsOut", "AccountOut", "ItemOut", "ComponentOut", "BomOut", "WorkCenterOut",
    "RoutingOut", "MachineOut", "DowntimeReasonOut", "ScrapReasonOut", "PostingRuleOut",
]

router = APIRouter(tags=["master data"])

Engineer = Annotated[Principal, Depends(require_role("engineer"))]
JsonObject = Annotated[dict[str, Any], Body()]

RESOURCES: dict[str, tuple[str, str]] = {
    "accounts": ("accounts", "controller"),
    "items": ("items", "engineer"),
    "boms": ("boms", "engineer"),
    "work-centers": ("work_centers", "engineer"),
    "machines": ("machines", "engineer"),
    "routings": ("routings", "engineer"),
    "posting-rules": ("posting_rules", "controller"),
    "downtime-reasons": ("downtime_reasons", "engineer"),
    "scrap-reasons": ("scrap_reasons", "engineer"),
}
"""URL path -> (master-data section, the role that writes it)."""


# Responses. A stored record is the master-data file's record as loaded: every field of its
# section (decimals as strings), defaults filled in; a field with a default may be absent from a
# record stored by an older version, and stays absent.


class SectionCountsOut(master_data.SectionCounts):
    __pydantic_config__ = RESPONSE_CONFIG  # type: ignore[misc]


class MasterPendingApprovalOut(master_data.PendingMasterApproval):
    """The service's :class:`~central.service_layer.costing.master_data.PendingMasterApproval`."""

    __pydantic_config__ = RESPONSE_CONFIG  # type: ignore[misc]


MasterLoadOut = response_body_of(master_data.LoadResult, "MasterLoadOut", sections=dict[str, SectionCountsOut],
                                 pending_approval=MasterPendingApprovalOut)
RecordWrittenOut = response_body_of(master_records.RecordWritten, "RecordWrittenOut",
                                    sections=dict[str, SectionCountsOut], pending_approval=MasterPendingApprovalOut)


class ThresholdsOut(ResponseBody):
    """Operational-record thresholds; null inherits (machine <- work centre <- defaults)."""

    scrap_rate: str | None = None
    scrap_clear_rate: str | None = None
    scrap_window_units: int | None = None
    downtime_minutes: str | None = None
    downtime_categories: list[str] | None = None


class AccountOut(ResponseBody):
    code: str
    name: str
    role: str
    entity: str | None = None
    item: str | None = None
    work_center: str | None = None


class ItemOut(ResponseBody):
    id: str
    class_: str = Field(alias="class")
    unit: str | None = None
    name: str | None = None
    standard_cost: str | None = None
    issue: str | None = None


class ComponentOut(ResponseBody):
    item: str
    qty: str


class BomOut(ResponseBody):
    item: str
    components: list[ComponentOut]


class WorkCenterOut(ResponseBody):
    id: str
    plant: str
    name: str | None = None
    labor_rate: str
    voh_rate: str
    foh_budget: str
    normal_hours: str
    thresholds: ThresholdsOut | None = None


class RoutingOut(ResponseBody):
    item: str
    work_center: str
    labor_hours: str
    machine_hours: str
    normal_spoilage: str | None = None
    ideal_cycle_time: str | None = None


class MachineOut(ResponseBody):
    id: str
    work_center: str
    edge: str | None = None
    max_event_qty: int | None = None
    name: str | None = None
    thresholds: ThresholdsOut | None = None


class DowntimeReasonOut(ResponseBody):
    code: str
    category: str | None = None
    planned: bool | None = None
    name: str | None = None


class ScrapReasonOut(ResponseBody):
    code: str
    name: str | None = None


class PostingRuleOut(ResponseBody):
    kind: str
    item_class: str | None = None
    debit: str
    credit: str


RECORD_MODELS: dict[str, type[ResponseBody]] = {
    "accounts": AccountOut,
    "items": ItemOut,
    "boms": BomOut,
    "work_centers": WorkCenterOut,
    "machines": MachineOut,
    "routings": RoutingOut,
    "posting_rules": PostingRuleOut,
    "downtime_reasons": DowntimeReasonOut,
    "scrap_reasons": ScrapReasonOut,
}
"""Section -> the schema of one stored record."""


def _list_model(section: str, record: type[ResponseBody]) -> type[ResponseBody]:
    """``{"<section>": [record, ...]}``: the list response of one section."""
    name = "".join(part.title() for part in section.split("_")) + "ListOut"
    fields: dict[str, Any] = {section: (list[record], ...)}  # type: ignore[valid-type]
    model: type[ResponseBody] = create_model(name, __base__=ResponseBody, **fields)
    return model


@router.post("/master-data", response_model=MasterLoadOut, response_model_exclude_unset=True)
def post_master_data(uow: UnitOfWorkDep, who: Engineer, body: JsonObject) -> object:
    """Load or update master data (the YAML file's structure as JSON); idempotent."""
    return load_master_data(LoadMasterData(body, who.user, source="api"), uow).to_data()


def _register(path: str, section: str, role: str) -> None:
    """The four routes of one section (a closure per section: FastAPI needs one function per route)."""
    writer = Depends(require_role(role))

    record = RECORD_MODELS[section]

    def list_records(session: SessionDep, _who: PrincipalDep) -> object:
        return {section: master_records.list_records(session, section)}

    def get_record(record_id: str, session: SessionDep, _who: PrincipalDep) -> object:
        return master_records.get_record(session, section, record_id)

    def create_record(uow: UnitOfWorkDep, body: JsonObject, who: Principal = writer) -> object:
        return master_records.add_record(AddMasterRecord(section, body, who.user), uow)

    def update_record(record_id: str, uow: UnitOfWorkDep, body: JsonObject, who: Principal = writer) -> object:
        return master_records.replace_record(ReplaceMasterRecord(section, record_id, body, who.user), uow)

    router.add_api_route(f"/{path}", list_records, methods=["GET"], name=f"list_{section}",
                         response_model=_list_model(section, record), response_model_exclude_unset=True)
    router.add_api_route(f"/{path}/{{record_id}}", get_record, methods=["GET"], name=f"get_{section}",
                         response_model=record, response_model_exclude_unset=True)
    router.add_api_route(f"/{path}", create_record, methods=["POST"], status_code=201, name=f"create_{section}",
                         response_model=RecordWrittenOut, response_model_exclude_unset=True)
    router.add_api_route(f"/{path}/{{record_id}}", update_record, methods=["PUT"], name=f"update_{section}",
                         response_model=RecordWrittenOut, response_model_exclude_unset=True)


for _path, (_section, _role) in RESOURCES.items():
    _register(_path, _section, _role)
