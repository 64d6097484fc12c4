"""Edge devices: ``GET /edges`` and ``POST /edges`` (an engineer registers one)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from central.domain.commands import RegisterEdge
from central.entrypoints.api.deps import Principal, PrincipalDep, SessionDep, UnitOfWorkDep, require_role
from central.entrypoints.api.schemas import RequestBody, ResponseBody
from central.service_layer.ingest import operations, queries

__all__ = ["router", "EdgeIn", "EdgeOut", "EdgesOut", "EdgeRegisteredOut"]

router = APIRouter(tags=["ingest"])

Engineer = Annotated[Principal, Depends(require_role("engineer"))]


class EdgeIn(RequestBody):
    id: str
    plant: str


class EdgeOut(ResponseBody):
    id: str
    plant: str
    registered: str | None
    online: bool | None
    status_at: str | None
    version: str | None


class EdgesOut(ResponseBody):
    edges: list[EdgeOut]


class EdgeRegisteredOut(ResponseBody):
    edge: EdgeOut


@router.get("/edges", response_model=EdgesOut, response_model_exclude_unset=True)
def get_edges(session: SessionDep, _who: PrincipalDep) -> object:
    return {"edges": queries.list_edges(session)}


@router.post("/edges", status_code=201, response_model=EdgeRegisteredOut, response_model_exclude_unset=True)
def post_edge(body: EdgeIn, uow: UnitOfWorkDep, who: Engineer) -> object:
    return {"edge": queries.edge_dict(operations.register_edge(RegisterEdge(body.id, body.plant, who.user), uow))}
