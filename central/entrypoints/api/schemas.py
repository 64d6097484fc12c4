"""Base classes for the request and response schemas that sit beside each router.

A request body refuses unknown fields (a typo is a 422, never silently ignored). A response
schema documents what a route returns today (the services build plain dicts): ``strict`` so a
value is never coerced into a different JSON value, ``extra="allow"`` so a key the schema does not
name still reaches the client unchanged, and routes use ``response_model_exclude_unset`` so an
optional field that a service leaves out stays absent instead of becoming ``null``.

Where a service declares its result as a ``TypedDict``, the router's schema is that TypedDict
with :data:`RESPONSE_CONFIG` (``class AlertOut(AlertView): __pydantic_config__ = RESPONSE_CONFIG``),
so the shape is written once."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["RequestBody", "ResponseBody", "RESPONSE_CONFIG"]

RESPONSE_CONFIG = ConfigDict(strict=True, extra="allow")
"""What every response schema validates with (a model's ``model_config``, a TypedDict's
``__pydantic_config__``)."""


class RequestBody(BaseModel):
    """A request body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class ResponseBody(BaseModel):
    """A response as the service returns it: no coercion, no dropped keys."""

    model_config = RESPONSE_CONFIG

