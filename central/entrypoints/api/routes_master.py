"""Master data and work orders: ``/master-data``, the CRUD resources of API.md (accounts, items,
BOMs, work centres, machines, routings, posting rules) and ``/work-orders`` with dispatch.
Thin: parse, check the role, call ``central.service_layer.costing``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from central.entrypoints.api.deps import Day, Instant, OffsetQuery, Principal, PrincipalDep, SessionDep, require_role
from central.entrypoints.api.fields import Quantity
from central.errors import Conflict, NotFound
from central.service_layer.costing import closing, reports, work_orders
from central.service_layer.costing.master_data import load_master, record_key, snapshot
from central.service_layer.costing.master_file import parse_master_file

__all__ = ["router"]

router = APIRouter(tags=["master data", "work orders"])

Engineer = Annotated[Principal, Depends(require_role("engineer"))]
Controller = Annotated[Principal, Depends(require_role("controller"))]
Planner = Annotated[Principal, Depends(require_role("planner"))]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = OffsetQuery


@router.post("/master-data")
def post_master_data(session: SessionDep, who: Engineer, body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    """Load or update master data (the YAML file's structure as JSON); idempotent."""
    return load_master(session, parse_master_file(body), who.user, source="api").to_data()


# --- CRUD resources: one record of a master-data section at a time -------------------------

_RESOURCES: dict[str, tuple[str, str]] = {
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


def _records(session: Any, section: str) -> list[dict[str, Any]]:
    return list(snapshot(session).records.get(section, []))


def _find(session: Any, section: str, record_id: str) -> dict[str, Any] | None:
    for record in _records(session, section):
        if record_key(section, record) == record_id or str(record.get("id", record.get("item"))) == record_id:
            return record
    return None


def _write_one(session: Any, section: str, record: dict[str, Any], user: str) -> dict[str, Any]:
    summary = load_master(session, parse_master_file({section: [record]}), user, source=f"api:{section}",
                          routing_first=False)
    return {"record": record, **summary.to_data()}


def _register(path: str, section: str, role: str) -> None:
    writer = Depends(require_role(role))

    def list_records(session: SessionDep, _who: PrincipalDep) -> dict[str, Any]:
        return {section: _records(session, section)}

    def get_record(record_id: str, session: SessionDep, _who: PrincipalDep) -> dict[str, Any]:
        record = _find(session, section, record_id)
        if record is None:
            raise NotFound(f"no {section} record {record_id!r}")
        return record

    def create_record(
        session: SessionDep, body: Annotated[dict[str, Any], Body()], who: Principal = writer
    ) -> dict[str, Any]:
        parsed = parse_master_file({section: [body]})
        key = record_key(section, getattr(parsed, section)[0].model_dump(mode="json", by_alias=True))
        if any(record_key(section, r) == key for r in _records(session, section)):
            raise Conflict(f"{section} record {key!r} exists: use PUT to change it", code="duplicate")
        return _write_one(session, section, body, who.user)

    def update_record(
        record_id: str, session: SessionDep, body: Annotated[dict[str, Any], Body()], who: Principal = writer
    ) -> dict[str, Any]:
        if _find(session, section, record_id) is None:
            raise NotFound(f"no {section} record {record_id!r}")
        return _write_one(session, section, body, who.user)

    router.add_api_route(f"/{path}", list_records, methods=["GET"], name=f"list_{section}")
    router.add_api_route(f"/{path}/{{record_id}}", get_record, methods=["GET"], name=f"get_{section}")
    router.add_api_route(f"/{path}", create_record, methods=["POST"], status_code=201, name=f"create_{section}")
    router.add_api_route(f"/{path}/{{record_id}}", update_record, methods=["PUT"], name=f"update_{section}")


for _path, (_section, _role) in _RESOURCES.items():
    _register(_path, _section, _role)


# --- work orders ---------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WorkOrderIn(_Body):
    id: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    item: str
    qty: Quantity
    due: Day | None = None


class StartIn(_Body):
    machine: str
    at: Instant | None = None


class AtIn(_Body):
    at: Instant | None = None


class CloseIn(_Body):
    posting_date: Day | None = None


@router.get("/work-orders")
def list_work_orders(
    session: SessionDep, _who: PrincipalDep, status: str | None = None, limit: Limit = 100, offset: Offset = 0
) -> dict[str, Any]:
    return {"work_orders": work_orders.list_orders(session, status, limit, offset)}


@router.post("/work-orders", status_code=201)
def create_work_order(body: WorkOrderIn, session: SessionDep, who: Planner) -> dict[str, Any]:
    order = work_orders.create_order(session, body.item, body.qty, who.user, body.id, body.due)
    return work_orders.order_view(order)


@router.get("/work-orders/{order_id}")
def get_work_order(order_id: str, session: SessionDep, _who: PrincipalDep) -> dict[str, Any]:
    return work_orders.order_view(work_orders.get_order(session, order_id))


@router.post("/work-orders/{order_id}/release")
def release_work_order(order_id: str, session: SessionDep, who: Planner) -> dict[str, Any]:
    return work_orders.order_view(work_orders.release(session, order_id, who.user))


@router.post("/work-orders/{order_id}/start")
def start_work_order(order_id: str, body: StartIn, session: SessionDep, who: Planner) -> dict[str, Any]:
    return work_orders.order_view(work_orders.start(session, order_id, body.machine, who.user, body.at))


@router.post("/work-orders/{order_id}/stop")
def stop_work_order(
    order_id: str, session: SessionDep, who: Planner, body: AtIn | None = None
) -> dict[str, Any]:
    return work_orders.order_view(work_orders.stop(session, order_id, who.user, body.at if body else None))


@router.post("/work-orders/{order_id}/complete")
def complete_work_order(
    order_id: str, session: SessionDep, who: Planner, body: AtIn | None = None
) -> dict[str, Any]:
    return work_orders.order_view(work_orders.complete(session, order_id, who.user, body.at if body else None))


@router.post("/work-orders/{order_id}/close")
def close_work_order(
    order_id: str, session: SessionDep, who: Controller, body: CloseIn | None = None
) -> dict[str, Any]:
    return closing.close_order(session, order_id, who.user, body.posting_date if body else None)


@router.get("/work-orders/{order_id}/cost")
def work_order_cost(order_id: str, session: SessionDep, _who: PrincipalDep) -> dict[str, Any]:
    return reports.cost_sheet(session, order_id)
