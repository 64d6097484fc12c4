"""The one place where exceptions become HTTP responses: ``{"error": {"code", "message", "detail"}}``.

=========================================  ======  ============================
exception                                  status  code
=========================================  ======  ============================
``CentralError`` and its whole tree,       its     its ``code`` (the tree, with every status
``DomainError`` included                   status  and code, is drawn in ``central.errors``)
request validation (FastAPI/pydantic)      422     ``validation_error``
``IntegrityError`` (unique key etc.)       409     ``conflict``
``OperationalError`` (database down/busy)  503     ``unavailable``
``DataError``, a bind that cannot store    422     ``out_of_range`` (number too large for its
the value (``OverflowError``, NUL byte,            column, text the database cannot hold);
lone surrogate), ``OverflowError``                 a fallback: inputs are bounded where they enter
HTTP errors (unknown path, wrong verb)     as is   ``not_found``, ``method_not_allowed``, ...
anything else                              500     ``internal_error`` (logged with traceback)
=========================================  ======  ============================
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError, OperationalError, StatementError
from starlette.exceptions import HTTPException as StarletteHTTPException

from central.domain.errors import DomainError, MoneyError, RangeError
from central.errors import CentralError

log = logging.getLogger(__name__)

__all__ = ["install_error_handlers", "error_response", "domain_status"]

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "validation_error",
}


def error_response(status: int, code: str, message: str, detail: Any = None) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "detail": jsonable_encoder(detail)}}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


def domain_status(exc: DomainError) -> tuple[int, str]:
    """HTTP status and error code of a domain refusal (the ones its class carries)."""
    return exc.status, exc.code


def _validation_detail(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        out.append({"loc": loc, "msg": str(err.get("msg", "")), "type": err.get("type")})
    return out


async def _central(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CentralError)
    if exc.status >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, exc.message)
    return error_response(exc.status, exc.code, exc.message, exc.detail)


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    detail = _validation_detail(exc)
    first = detail[0] if detail else {"loc": [], "msg": "invalid request"}
    message = f"{'.'.join(first['loc'])}: {first['msg']}" if first["loc"] else str(first["msg"])
    return error_response(422, "validation_error", message, detail)


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail), None)


async def _integrity(request: Request, exc: Exception) -> JSONResponse:
    log.info("%s %s: integrity error: %s", request.method, request.url.path, exc)
    return error_response(409, "conflict", "the change conflicts with existing data (duplicate or reference)")


async def _operational(request: Request, exc: Exception) -> JSONResponse:
    log.error("%s %s: database unavailable: %s", request.method, request.url.path, exc)
    return error_response(503, "unavailable", "database unavailable, retry later")


_UNSTORABLE = (OverflowError, UnicodeError, MoneyError, RangeError)
"""Errors a bind processor or driver raises for one value it cannot store."""
_UNSTORABLE_MESSAGE = "a value is out of range or cannot be stored (number too large, or a NUL/invalid character)"


async def _statement(request: Request, exc: Exception) -> JSONResponse:
    """A statement that failed on its values (``DataError``, or a bind that raised): a 422, the
    driver's message and SQL stay in the log; anything else is a 500."""
    assert isinstance(exc, StatementError)
    if isinstance(exc, DataError) or isinstance(exc.orig, _UNSTORABLE):
        log.warning("%s %s: value refused by the database layer: %s", request.method, request.url.path,
                    type(exc.orig).__name__)
        return error_response(422, "out_of_range", _UNSTORABLE_MESSAGE)
    return await _unexpected(request, exc)


async def _unstorable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("%s %s: value cannot be handled: %s", request.method, request.url.path, type(exc).__name__)
    return error_response(422, "out_of_range", _UNSTORABLE_MESSAGE)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("%s %s: unexpected error", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "internal error (logged)")


def install_error_handlers(app: FastAPI) -> None:
    """Register every mapping above on ``app``."""
    app.add_exception_handler(CentralError, _central)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(IntegrityError, _integrity)
    app.add_exception_handler(OperationalError, _operational)
    app.add_exception_handler(StatementError, _statement)
    app.add_exception_handler(OverflowError, _unstorable)
    app.add_exception_handler(UnicodeError, _unstorable)
    app.add_exception_handler(Exception, _unexpected)
