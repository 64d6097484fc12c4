"""Where an integer, instant or date enters central from outside (API parameters and bodies,
report windows), it is checked against the same bounds as the wire contract, so no later
``datetime`` arithmetic, SQLite ``INTEGER`` or PostgreSQL ``bigint`` can overflow on it.

* integers: within int64 (:data:`INT64_MIN` .. :data:`INT64_MAX`);
* instants: from :data:`TS_MIN` (inclusive) to :data:`TS_MAX` (exclusive) once in UTC, the wire's
  range (2000-01-01 to 3000-01-01); a naive instant is read as UTC for the check;
* dates: from :data:`DATE_MIN` to :data:`DATE_MAX` inclusive (the same range).

The constants are the wire contract's (``shared.contract``), not copies of them. A value
outside raises :class:`~central.domain.errors.RangeError` (a ``ValueError``, so a pydantic
validator turns it into a 422 with the field's location).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Final

from central.domain.errors import RangeError
from shared.contract import INT64_MAX, INT64_MIN, TS_MAX, TS_MIN

__all__ = [
    "INT64_MAX", "INT64_MIN", "TS_MIN", "TS_MAX", "DATE_MIN", "DATE_MAX",
    "check_int64", "check_instant", "check_date",
]

# INT64_MIN/MAX, TS_MIN (inclusive) and TS_MAX (exclusive) are the wire contract's own, defined
# once in ``shared.contract`` (central imports shared, never the reverse).
DATE_MIN: Final = TS_MIN.date()
DATE_MAX: Final = (TS_MAX - timedelta(days=1)).date()


def check_int64(value: int, what: str = "integer") -> int:
    """``value`` when it fits a signed 64-bit integer."""
    if not INT64_MIN <= value <= INT64_MAX:
        raise RangeError(f"{what} is out of range (a 64-bit integer, at most {INT64_MAX})")
    return value


def check_instant(value: datetime, what: str = "timestamp") -> datetime:
    """``value`` unchanged when, in UTC, it lies in ``[TS_MIN, TS_MAX)``."""
    try:
        utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (OverflowError, ValueError):
        utc = None
    if utc is None or not TS_MIN <= utc < TS_MAX:
        raise RangeError(f"{what} is out of range ({TS_MIN:%Y-%m-%d} to {TS_MAX:%Y-%m-%d} UTC)")
    return value


def check_date(value: date, what: str = "date") -> date:
    """``value`` unchanged when it lies in ``[DATE_MIN, DATE_MAX]``."""
    if isinstance(value, datetime):
        check_instant(value, what)
        return value
    if not DATE_MIN <= value <= DATE_MAX:
        raise RangeError(f"{what} is out of range ({DATE_MIN} to {DATE_MAX})")
    return value
