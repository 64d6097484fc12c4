"""OPC UA DataValue -> TagReading: quality from the StatusCode, a plain scalar, the source time.

Pure functions (no I/O) so they are unit-tested without a server.

- ``StatusCode`` severity maps to :class:`Quality`: Good -> GOOD, Uncertain -> UNCERTAIN
  (value kept, status name in ``detail``), Bad -> BAD (value dropped: OPC UA says a bad
  value must not be used; status name in ``detail``).
- Values become ``bool | int | float | str | None``: enums -> int, DateTime -> ISO 8601
  string, ByteString -> hex, LocalizedText -> its text, NodeId -> its string form.
  Arrays and structures are not tag values here: BAD "unsupported value type".
- NaN and infinity are BAD ("value is nan"): downstream arithmetic must never see them.
- ``source_ts`` is the SourceTimestamp (UTC-aware), else ``None`` (``received`` stands in).
"""

from __future__ import annotations

import enum
import math
from datetime import UTC, datetime
from typing import Any

from asyncua import ua

from protocols.base import Quality, Scalar, TagReading

__all__ = ["quality_of", "to_scalar", "to_reading", "aware"]


def quality_of(status: ua.StatusCode | None) -> tuple[Quality, str]:
    """Quality and a human detail ("" when good) for a StatusCode (``None`` counts as Good)."""
    if status is None or status.is_good():
        return Quality.GOOD, ""
    name = status.name or f"0x{status.value:08X}"
    if status.is_uncertain():
        return Quality.UNCERTAIN, name
    return Quality.BAD, name


def to_scalar(value: Any) -> tuple[Scalar, str]:
    """``(scalar, problem)``: the value as a tag scalar, or ``(None, why not)``."""
    if value is None or isinstance(value, bool | str):
        return value, ""
    if isinstance(value, enum.Enum):
        return (int(value.value), "") if isinstance(value.value, int) else (str(value.name), "")
    if isinstance(value, int):
        return value, ""
    if isinstance(value, float):
        if not math.isfinite(value):
            return None, f"value is {value}"
        return value, ""
    if isinstance(value, datetime):
        return aware(value).isoformat(), ""
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex(), ""
    if isinstance(value, ua.LocalizedText):
        return value.Text, ""
    if isinstance(value, ua.QualifiedName):
        return value.Name, ""
    if isinstance(value, ua.NodeId):
        return value.to_string(), ""
    return None, f"unsupported value type {type(value).__name__}"


def aware(ts: datetime) -> datetime:
    """asyncua returns UTC datetimes; make sure they carry the zone."""
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


def to_reading(tag: str, dv: ua.DataValue, epoch: str, received: datetime) -> TagReading:
    """One tag's reading from a DataValue (a data-change notification or a read)."""
    quality, detail = quality_of(dv.StatusCode)
    raw = dv.Value.Value if dv.Value is not None else None
    value: Scalar = None
    if quality is not Quality.BAD:
        value, problem = to_scalar(raw)
        if problem:
            quality, detail = Quality.BAD, f"{problem}" + (f" ({detail})" if detail else "")
    source_ts = aware(dv.SourceTimestamp) if dv.SourceTimestamp is not None else None
    return TagReading(tag, value, source_ts, quality, epoch, received, detail)
