"""Request dependencies: a database session per request, and the authenticated principal.

Routes use them as::

    @router.post("/things", status_code=201)
    def create(body: Thing, session: SessionDep, who: Annotated[Principal, Depends(require_role("planner"))]):
        ...

``SessionDep`` is one SQLAlchemy session in one transaction per request: committed when the
route returns, rolled back when it raises. Writes (POST/PUT/PATCH/DELETE) run on the write
engine (SQLite: ``BEGIN IMMEDIATE``), reads on the plain one. The commit happens before the
response is sent, so a failed commit is an error response, never a false success.
``UnitOfWorkDep`` is the same transaction as a unit of work, for routes that call handlers
(``handler(command, uow)``).

Bounded parameter types (``central.domain.bounds``): every integer, instant and date that enters
through a path, a query or a body is within int64 and the wire's time range, or the request is a
422 naming the field::

    def get_entry(entry_id: IdPath, after: AfterQuery = None, since: Instant | None = None): ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator, Field
from sqlalchemy.orm import Session

from central.adapters.unit_of_work import SqlAlchemyUnitOfWork
from central.domain.bounds import DATE_MAX, DATE_MIN, INT64_MAX, INT64_MIN, TS_MAX, TS_MIN, check_date, check_instant
from central.errors import ServiceUnavailable
from central.service_layer.access import ADMIN, ROLES, Principal, authenticate, check_role
from central.service_layer.unit_of_work import AbstractUnitOfWork

if TYPE_CHECKING:
    from central.bootstrap import Container

__all__ = [
    "ROLES",
    "ADMIN",
    "Principal",
    "SessionDep",
    "UnitOfWorkDep",
    "ContainerDep",
    "PrincipalDep",
    "get_container",
    "get_session",
    "get_unit_of_work",
    "get_principal",
    "require_role",
    "Int64",
    "IdPath",
    "AfterQuery",
    "OffsetQuery",
    "LimitQuery",
    "Instant",
    "Day",
]

Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
"""An integer in a body: within int64."""
IdPath = Annotated[int, Path(ge=0, le=INT64_MAX, description="numeric id (within int64)")]
"""A numeric id in the path: 0 .. 2**63-1 (out of range is a 422; not found a 404)."""
AfterQuery = Annotated[int | None, Query(ge=0, le=INT64_MAX, description="id of the last row of the previous page")]
"""Keyset paging cursor."""
OffsetQuery = Annotated[int, Query(ge=0, le=INT64_MAX, description="rows to skip")]
LimitQuery = Annotated[int, Query(ge=1, le=INT64_MAX, description="page size (at most api.page_limit_max)")]
"""Page size; the route caps it at its own maximum."""
Instant = Annotated[
    datetime, AfterValidator(check_instant),
    Field(description=f"ISO 8601 timestamp from {TS_MIN:%Y-%m-%d} (inclusive) to {TS_MAX:%Y-%m-%d} (exclusive), UTC"),
]
"""An instant within the wire's range (2000-01-01 .. 3000-01-01 UTC)."""
Day = Annotated[date, AfterValidator(check_date), Field(description=f"ISO date, {DATE_MIN} to {DATE_MAX}")]
"""A date within the same range."""

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_container(request: Request) -> Container:
    container: Container | None = getattr(request.app.state, "container", None)
    if container is None:  # pragma: no cover - app built without create_app
        raise ServiceUnavailable("application is not wired (no container)")
    return container


ContainerDep = Annotated["Container", Depends(get_container)]


def get_session(request: Request) -> Iterator[Session]:
    """One session, one transaction per request; commit on success, rollback on error."""
    container = get_container(request)
    factory = container.read_sessions if request.method in _READ_METHODS else container.write_sessions
    with factory() as session, session.begin():
        yield session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_unit_of_work(request: Request, session: SessionDep) -> AbstractUnitOfWork:
    """The handlers' unit of work in the request's transaction (the one ``SessionDep`` opened,
    which authentication and the write audit share), on the process's clock: the handler's
    ``commit()`` flushes, the request commits when the route returns, exactly as for ``SessionDep``."""
    return SqlAlchemyUnitOfWork.joining(session, get_container(request).clock)


UnitOfWorkDep = Annotated[AbstractUnitOfWork, Depends(get_unit_of_work)]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


BEARER = HTTPBearer(
    scheme_name="bearerAuth", auto_error=False,
    description="An API token (`sfsync central token --user U --role R`): `Authorization: Bearer <token>`.",
)
"""The OpenAPI security scheme; every operation that authenticates declares it (``/docs`` "Authorize")."""


def get_principal(
    request: Request, session: SessionDep,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)] = None,
) -> Principal:
    """Any valid token (reads need any role). The header is read here (also when called directly,
    as the audit dependency does); ``_credentials`` only declares the scheme to OpenAPI."""
    return authenticate(session, _bearer(request))


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_role(*roles: str) -> Callable[[Principal], Principal]:
    """A dependency passing principals with one of ``roles`` (admin passes every check)."""
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise ValueError(f"unknown role(s) {unknown}; roles are {ROLES}")

    def dependency(principal: PrincipalDep) -> Principal:
        return check_role(principal, roles)

    dependency.__name__ = f"require_role_{'_'.join(roles) or 'any'}"
    return dependency
