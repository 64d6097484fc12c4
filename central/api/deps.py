"""Request dependencies: a database session per request, and the authenticated principal.

Routes use them as::

    @router.post("/things", status_code=201)
    def create(body: Thing, session: SessionDep, who: Annotated[Principal, Depends(require_role("planner"))]):
        ...

``SessionDep`` is one SQLAlchemy session in one transaction per request: committed when the
route returns, rolled back when it raises. Writes (POST/PUT/PATCH/DELETE) run on the write
engine (SQLite: ``BEGIN IMMEDIATE``), reads on the plain one. The commit happens before the
response is sent, so a failed commit is an error response, never a false success.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from central.errors import ServiceUnavailable
from central.services.access import ADMIN, ROLES, Principal, authenticate, check_role

if TYPE_CHECKING:
    from central.bootstrap import Container

__all__ = [
    "ROLES",
    "ADMIN",
    "Principal",
    "SessionDep",
    "ContainerDep",
    "PrincipalDep",
    "get_container",
    "get_session",
    "get_principal",
    "require_role",
]

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


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def get_principal(request: Request, session: SessionDep) -> Principal:
    """Any valid token (reads need any role)."""
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
