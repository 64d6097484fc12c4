"""Master data: ``POST /master-data`` (a whole document) and one resource per section (accounts,
items, BOMs, work centres, machines, routings, posting rules, downtime and scrap reasons), each
with list, get, create (201) and replace. Engineers write the production sections, controllers
the accounting ones."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends

from central.entrypoints.api.deps import Principal, PrincipalDep, SessionDep, require_role
from central.service_layer.costing import master_records

__all__ = ["router", "RESOURCES"]

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


@router.post("/master-data")
def post_master_data(session: SessionDep, who: Engineer, body: JsonObject) -> dict[str, Any]:
    """Load or update master data (the YAML file's structure as JSON); idempotent."""
    return master_records.load_document(session, body, who.user)


def _register(path: str, section: str, role: str) -> None:
    """The four routes of one section (a closure per section: FastAPI needs one function per route)."""
    writer = Depends(require_role(role))

    def list_records(session: SessionDep, _who: PrincipalDep) -> dict[str, Any]:
        return {section: master_records.list_records(session, section)}

    def get_record(record_id: str, session: SessionDep, _who: PrincipalDep) -> dict[str, Any]:
        return master_records.get_record(session, section, record_id)

    def create_record(session: SessionDep, body: JsonObject, who: Principal = writer) -> dict[str, Any]:
        return master_records.create_record(session, section, body, who.user)

    def update_record(record_id: str, session: SessionDep, body: JsonObject,
                      who: Principal = writer) -> dict[str, Any]:
        return master_records.update_record(session, section, record_id, body, who.user)

    router.add_api_route(f"/{path}", list_records, methods=["GET"], name=f"list_{section}")
    router.add_api_route(f"/{path}/{{record_id}}", get_record, methods=["GET"], name=f"get_{section}")
    router.add_api_route(f"/{path}", create_record, methods=["POST"], status_code=201, name=f"create_{section}")
    router.add_api_route(f"/{path}/{{record_id}}", update_record, methods=["PUT"], name=f"update_{section}")


for _path, (_section, _role) in RESOURCES.items():
    _register(_path, _section, _role)
