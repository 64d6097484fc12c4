"""The console's web plumbing: templates, the session cookie, CSRF, role gates and HTML errors.

- ``SESSION_COOKIE`` holds the session id: ``HttpOnly``, ``SameSite=Strict``, ``Path=/console``,
  ``Secure`` when the request came over HTTPS. The database keeps only its hash
  (:mod:`central.service_layer.console_sessions`), so any central process on the database serves it.
- Every form carries ``csrf``: the session's CSRF secret (the sign-in form, before a session
  exists, a double-submit value also set as the ``SIGNIN_COOKIE``). A form without the right one
  is a 403 and changes nothing.
- A page a role may not see is a 403 page (and is not in its navigation); not signed in, a page
  request is redirected to the sign-in page.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Final
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from central.domain.console_access import Action, Page, may_act, may_decide_approval, may_view, pages_for
from central.entrypoints.api.deps import SessionDep, get_container
from central.errors import Forbidden, Unauthorized
from central.service_layer import governance
from central.service_layer.access import check_writable
from central.service_layer.clock import utc_now
from central.service_layer.console_sessions import ConsoleSession, csrf_matches, resolve_session

__all__ = ["PREFIX", "SESSION_COOKIE", "SIGNIN_COOKIE", "templates", "render", "SignedIn", "page_guard", "ActionGuard",
           "action_guard", "install_html_errors", "set_cookie", "now", "new_signin_csrf"]

PREFIX: Final = "/console"
SESSION_COOKIE: Final = "sfsync_console"
SIGNIN_COOKIE: Final = "sfsync_console_signin"
_HERE = Path(__file__).parent

templates = Jinja2Templates(directory=str(_HERE / "templates"))
templates.env.globals.update(prefix=PREFIX, may_view=may_view, may_act=may_act, Page=Page, Action=Action,
                             may_decide_approval=may_decide_approval)


def now() -> datetime:
    return utc_now()


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path=PREFIX, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")


def render(request: Request, name: str, context: dict[str, Any], status: int = 200,
           who: ConsoleSession | None = None) -> HTMLResponse:
    ctx = {"who": who, "nav": pages_for(who.principal.role) if who is not None else [], "csrf": who.csrf if who else "",
           "msg": request.query_params.get("msg", "")[:300], **context}
    return templates.TemplateResponse(request, name, ctx, status_code=status)


def _signed_in(request: Request, session: SessionDep) -> ConsoleSession:
    return resolve_session(session, request.cookies.get(SESSION_COOKIE), now())


SignedIn = Annotated[ConsoleSession, Depends(_signed_in)]


def page_guard(page: Page) -> Callable[[ConsoleSession], ConsoleSession]:
    """A dependency: the signed-in session, when its role sees ``page`` (else 403)."""

    def guard(who: SignedIn) -> ConsoleSession:
        if not may_view(who.principal.role, page):
            raise Forbidden(f"the {who.principal.role} role does not see the {page.value} page",
                            {"role": who.principal.role, "page": page.value})
        return who

    guard.__name__ = f"page_{page.value}"
    return guard


ActionGuard = Callable[..., Awaitable[ConsoleSession]]


def action_guard(action: Action) -> ActionGuard:
    """A dependency for a form post: signed in, the CSRF field matches, the role may take
    ``action`` (the service then applies its own checks), and the request is tied to the audit log
    as the API's writes are (a generic ``http.POST`` record when the handler records nothing)."""

    async def guard(request: Request, session: SessionDep, who: SignedIn,
                    csrf: Annotated[str, Form(max_length=200)] = "") -> ConsoleSession:
        if not csrf_matches(who.csrf, csrf):
            raise Forbidden("the form's CSRF token is missing or wrong; reload the page", code="csrf")
        check_writable(who.principal)
        if not may_act(who.principal.role, action):
            raise Forbidden(f"the {who.principal.role} role may not do this ({action.value})",
                            {"role": who.principal.role, "action": action.value})
        form = await request.form()  # parsed already (the body stream is consumed): digest its fields
        body = hashlib.sha256(urlencode([(k, str(v)) for k, v in form.multi_items()]).encode()).hexdigest()
        path, query = request.url.path, request.url.query
        digest = governance.request_digest(request.method, path, query, body)
        governance.attach_request(session, governance.RequestContext(request.method, path, query, digest,
                                                                     who.principal), get_container(request).clock)
        return who

    guard.__name__ = f"action_{action.value.replace('.', '_')}"
    return guard


def new_signin_csrf() -> str:
    return secrets.token_urlsafe(24)


def install_html_errors(app: FastAPI) -> None:
    """Wrap every error handler of ``app`` (the API's, installed first) so the console answers
    with an HTML page of the same status and message; a page request that is not signed in is
    sent to the sign-in page instead (an htmx request gets ``HX-Redirect``)."""
    for cls, handler in list(app.exception_handlers.items()):
        app.exception_handlers[cls] = _html(handler)


def _html(handler: Callable[[Request, Exception], Any]) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def wrapped(request: Request, exc: Exception) -> Response:
        if isinstance(exc, Unauthorized):
            target = f"{PREFIX}/sign-in?msg={exc.message.replace(' ', '+')}"
            if request.headers.get("hx-request"):
                return Response(status_code=401, headers={"HX-Redirect": target})
            if request.method == "GET":
                return RedirectResponse(target, status_code=303)
        answer = await handler(request, exc)
        status = getattr(answer, "status_code", 500)
        try:
            error = json.loads(bytes(answer.body))["error"]
        except (ValueError, KeyError, TypeError, AttributeError):
            error = {"code": "error", "message": "the request failed"}
        ctx = {"status": status, "code": error.get("code"), "message": error.get("message"), "who": None,
               "nav": [], "csrf": "", "msg": ""}
        return templates.TemplateResponse(request, "error.html", ctx, status_code=status)

    return wrapped
