"""Errors of the central service. One root; the API maps each branch to one HTTP status::

    CentralError
    ├── BadRequest          400  input that is well-formed but cannot be applied
    ├── Unauthorized        401  no, unknown, expired or revoked token
    ├── Forbidden           403  the token's role may not do this
    ├── NotFound            404  no such resource
    ├── Conflict            409  the state does not allow it (duplicate, already done)
    ├── InvalidInput        422  a field that does not validate
    └── ServiceUnavailable  503  the database (or broker) failed; retry later
        └── IngestUnavailable    a batch could not be stored; it was not acked, retry

Services raise these (or domain errors, which the costing layer maps onto them); third-party
errors are mapped at one boundary with ``raise ... from exc``. ``code`` is the stable,
machine-readable name that goes into ``{"error": {"code", "message", "detail"}}``.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "CentralError",
    "BadRequest",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "Conflict",
    "InvalidInput",
    "ServiceUnavailable",
    "IngestUnavailable",
]


class CentralError(Exception):
    """Root of every error the central service raises on purpose."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, detail: Any = None, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        if code is not None:
            self.code = code  # type: ignore[misc]


class BadRequest(CentralError):
    status = 400
    code = "bad_request"


class Unauthorized(CentralError):
    status = 401
    code = "unauthorized"


class Forbidden(CentralError):
    status = 403
    code = "forbidden"


class NotFound(CentralError):
    status = 404
    code = "not_found"


class Conflict(CentralError):
    status = 409
    code = "conflict"


class InvalidInput(CentralError):
    status = 422
    code = "invalid_input"


class ServiceUnavailable(CentralError):
    status = 503
    code = "unavailable"


class IngestUnavailable(ServiceUnavailable):
    code = "ingest_unavailable"
