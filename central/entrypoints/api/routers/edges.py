"""Edge devices: ``GET /edges`` and ``POST /edges`` (an engineer registers one)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from central.domain.commands import RegisterEdge
from central.entrypoints.api.deps import Principal, PrincipalDep, SessionDep, UnitOfWorkDep, require_role
from central.entrypoints.api.schemas import RESPONSE_CONFIG, RequestBody, ResponseBody
from central.service_layer.ingest import operations, queries

__all__ = ["router", "EdgeIn", "EdgeOut", "EdgesOut", "EdgeRegisteredOut"]

router = APIRouter(tags=["ingest"])

Engineer = Annotated[Principal, Depends(require_role("engineer"))]


class EdgeIn(RequestBody):
    id: str
    plant: str


class EdgeOut(queries.EdgeView):
    """The service's :class:`~central.service_layer.ingest.queries.EdgeView` (one definition)."""

    __pydantic_config__ = RESPONSE_CONFIG  # type: ignore[misc]


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
