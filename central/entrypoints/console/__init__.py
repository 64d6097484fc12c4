"""The web console (issue 15): server-rendered pages under ``/console`` in central's own process.

``create_console(container)`` builds a small FastAPI application that ``create_app`` mounts at
``/console``: same container, same database, same tokens and roles as the API. Pages are Jinja2
templates rendered from the service layer; the live parts poll with htmx (vendored under
``static/``, no CDN, no build step); charts are server-side SVG (:mod:`.charts`). Errors are
the API's mapping, answered as an HTML page (:func:`.web.install_html_errors`).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from central.bootstrap import Container
from central.entrypoints.api.errors import install_error_handlers
from central.entrypoints.console import pages, queues, signin
from central.entrypoints.console.web import PREFIX, install_html_errors

__all__ = ["create_console", "PREFIX"]


def create_console(container: Container) -> FastAPI:
    console = FastAPI(title="shopfloor-sync console", docs_url=None, redoc_url=None, openapi_url=None)
    console.state.container = container
    install_error_handlers(console)
    install_html_errors(console)
    console.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")
    for router in (signin.router, pages.router, queues.router):
        console.include_router(router)
    return console
