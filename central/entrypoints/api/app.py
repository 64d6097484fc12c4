"""FastAPI application factory: ``create_app(container)``; the routers are the objects listed in
:mod:`central.entrypoints.api.routers`, errors go through :mod:`central.entrypoints.api.errors`.

The OpenAPI document is made truthful here, once for every route (see :mod:`central.entrypoints.api.openapi`):
the bearer scheme on each operation that authenticates, and the error responses each operation
can give, all with the ``{"error": {"code", "message", "detail"}}`` body."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI

from central.bootstrap import Container
from central.entrypoints.api.errors import install_error_handlers
from central.entrypoints.api.openapi import document_errors
from central.entrypoints.api.paths import API_PREFIX
from central.entrypoints.api.routers import ROOT_ROUTERS, ROUTERS
from central.entrypoints.api.routers.audit import audit_write_requests
from central.entrypoints.console import PREFIX as CONSOLE_PREFIX
from central.entrypoints.console import create_console

__all__ = ["create_app"]


def create_app(container: Container) -> FastAPI:
    app = FastAPI(
        title="shopfloor-sync central",
        version="1",
        description="Machine events to a governed production cost ledger. Bearer token auth; see API.md.",
    )
    app.state.container = container
    install_error_handlers(app)
    for router in ROOT_ROUTERS:
        app.include_router(router)
        app.include_router(router, prefix=API_PREFIX)
    for router in ROUTERS:
        app.include_router(router, prefix=API_PREFIX, dependencies=[Depends(audit_write_requests)])

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(app, FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.mount(CONSOLE_PREFIX, create_console(container), name="console")  # the web console (docs/console.md)
    return app
