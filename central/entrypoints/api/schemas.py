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

from typing import Any, get_type_hints

from pydantic import BaseModel, ConfigDict, create_model

__all__ = ["RequestBody", "ResponseBody", "RESPONSE_CONFIG", "response_body_of"]

RESPONSE_CONFIG = ConfigDict(strict=True, extra="allow")
"""What every response schema validates with (a model's ``model_config``, a TypedDict's
``__pydantic_config__``)."""


class RequestBody(BaseModel):
    """A request body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class ResponseBody(BaseModel):
    """A response as the service returns it: no coercion, no dropped keys."""

    model_config = RESPONSE_CONFIG



def response_body_of(shape: type, name: str, **types: Any) -> type[ResponseBody]:
    """A :class:`ResponseBody` model named ``name`` with the fields of the TypedDict ``shape``, in
    its order, required but for its ``NotRequired`` keys (default None: with
    ``response_model_exclude_unset`` an absent key stays absent); ``types`` replaces a field's
    type, e.g. by a stricter nested schema. For a route's top-level ``response_model``, which must
    be a model, when the service declares its result as a TypedDict. The TypedDict's docstring is
    the model's (its OpenAPI description)."""
    optional: frozenset[str] = getattr(shape, "__optional_keys__", frozenset())
    fields: dict[str, Any] = {}
    for key, hint in get_type_hints(shape).items():
        kind = types.get(key, hint)
        fields[key] = (kind | None, None) if key in optional else (kind, ...)
    unknown = set(types) - set(fields)
    if unknown:
        raise TypeError(f"{name}: {sorted(unknown)} are not fields of {shape.__name__}")
    return create_model(name, __base__=ResponseBody, __module__=shape.__module__, __doc__=shape.__doc__, **fields)
