"""Sign-in (an API token exchanged for the session cookie) and sign-out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from central.entrypoints.api.deps import SessionDep
from central.entrypoints.console.web import (
    PREFIX,
    SESSION_COOKIE,
    SIGNIN_COOKIE,
    new_signin_csrf,
    now,
    render,
    set_cookie,
)
from central.errors import Forbidden, Unauthorized
from central.service_layer.console_sessions import csrf_matches, end_session, resolve_session, start_session

__all__ = ["router"]

router = APIRouter()
_SIGNIN_MAX_AGE = 3600


def _form(request: Request, message: str = "", status: int = 200) -> Response:
    csrf = new_signin_csrf()
    response = render(request, "signin.html", {"signin_csrf": csrf, "error": message, "page": "sign-in"},
                      status=status)
    set_cookie(request, response, SIGNIN_COOKIE, csrf, _SIGNIN_MAX_AGE)
    return response


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_form(request: Request) -> Response:
    return _form(request)


@router.post("/sign-in")
def sign_in(request: Request, session: SessionDep,
            token: Annotated[str, Form(max_length=300)] = "",
            csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    """Exchange an API token for a session: a form without the sign-in CSRF value its cookie
    carries is refused (403); a bad token re-shows the form (401)."""
    if not csrf_matches(request.cookies.get(SIGNIN_COOKIE, ""), csrf):
        raise Forbidden("the sign-in form's CSRF token is missing or wrong; reload the page", code="csrf")
    try:
        started = start_session(session, token, now())
    except Unauthorized as exc:
        return _form(request, f"sign-in refused: {exc.message}", status=401)
    response = RedirectResponse(f"{PREFIX}/", status_code=303)
    max_age = max(int((started.session.expires - now()).total_seconds()), 1)
    set_cookie(request, response, SESSION_COOKIE, started.session_id, max_age)
    response.delete_cookie(SIGNIN_COOKIE, path=PREFIX)
    return response


@router.post("/sign-out")
def sign_out(request: Request, session: SessionDep, csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    """End the session and drop the cookie. A live session needs its CSRF value (403 otherwise,
    so another site cannot sign a user out); a dead one (expired, token revoked) is just dropped."""
    session_id = request.cookies.get(SESSION_COOKIE)
    try:
        live = resolve_session(session, session_id, now())
    except Unauthorized:
        live = None
    if live is not None and not csrf_matches(live.csrf, csrf):
        raise Forbidden("the form's CSRF token is missing or wrong; reload the page", code="csrf")
    end_session(session, session_id, now())
    response = RedirectResponse(f"{PREFIX}/sign-in?msg=signed+out", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response
