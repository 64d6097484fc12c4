"""Errors of the central service: one tree, one root, mapped to HTTP in one place.

::

    CentralError                 500  internal_error   root of every error central raises on purpose
    ├── BadRequest               400  bad_request      well-formed input that cannot be applied
    ├── Unauthorized             401  unauthorized     no, unknown, expired or revoked token
    ├── Forbidden                403  forbidden        the token's role may not do this
    ├── NotFound                 404  not_found        no such resource
    ├── Conflict                 409  conflict         the state does not allow it (duplicate, done)
    ├── InvalidInput             422  invalid_input    a field that does not validate
    ├── ServiceUnavailable       503  unavailable      the database (or broker) failed; retry later
    │   └── IngestUnavailable    503  ingest_unavailable  a batch was not stored nor acked; retry
    └── DomainError              400  domain_error     the accounting domain refuses (central.domain.errors)
        ├── MoneyError           422  invalid_money
        ├── MasterDataError      422  invalid_master_data  (detail: every error found)
        ├── UnbalancedEntryError 422  unbalanced_entry
        ├── PostingRuleError     422  posting_rule
        ├── PeriodError          409  period_closed
        ├── InputError           400  bad_input
        │   └── RangeError       422  out_of_range
        └── OrderStateError      409  order_state

Every class carries the HTTP ``status`` and the stable, machine-readable ``code`` the API answers
with in ``{"error": {"code", "message", "detail"}}``; the one FastAPI handler that reads them is
``central.entrypoints.api.errors``. The service layer raises these; third-party errors
(SQLAlchemy, the driver) are mapped there too, at that one boundary.

Why the root lives here and not in the domain: this module imports nothing, so the pure domain
can derive ``DomainError`` from ``CentralError`` without depending on anything outside itself.
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
