"""What has been posted for a work order, per element: the state behind the cumulative rule.

ACCOUNTING.md: amounts that accrue per event post as the rounded cumulative-to-date amount for
the order and element minus what is already posted, so the ledger never depends on batching.
:class:`OrderAccruals` is that memory. The service layer persists it with the order (see
:meth:`OrderAccruals.to_data`) and passes it back on the next posting.

Element keys (cumulative cents posted, each with its natural sign):

- ``issue:<item>``, ``backflush:<item>``   materials into WIP (Dr wip)
- ``conversion:labor|voh|foh``              conversion applied (Dr wip)
- ``finished_goods``                        good output (Cr wip)
- ``variance:<type>[:<item>]``              close variances, positive = unfavourable
- ``close:rounding``                        cents left in WIP at close (Cr wip)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from types import MappingProxyType

from central.domain.money import ZERO, to_decimal

ISSUE = "issue"
BACKFLUSH = "backflush"
CONVERSION = "conversion"
FINISHED_GOODS = "finished_goods"
VARIANCE = "variance"
CLOSE_ROUNDING = "close:rounding"

_WIP_SIGN = {
    ISSUE: 1,
    BACKFLUSH: 1,
    CONVERSION: 1,
    FINISHED_GOODS: -1,
    "variance:material_usage": -1,
    "variance:abnormal_spoilage": -1,
    CLOSE_ROUNDING: -1,
}


def element(*parts: str) -> str:
    """An element key: ``element('issue', 'S')`` -> ``'issue:S'``."""
    return ":".join(parts)


def wip_sign(key: str) -> int:
    """How an element moves the order's WIP: +1 debit, -1 credit, 0 not at all."""
    for prefix, sign in _WIP_SIGN.items():
        if key == prefix or key.startswith(prefix + ":"):
            return sign
    return 0


def _frozen(mapping: Mapping[str, Decimal]) -> Mapping[str, Decimal]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class OrderAccruals:
    """Cumulative quantities and cents posted for one work order.

    ``run_hours`` are the run hours the efficiency variances posted so far were computed on;
    ``closed`` is set by the order close and stays set (late events then adjust the close).
    """

    work_order: str
    item: str
    good_qty: Decimal = ZERO
    scrap_qty: Decimal = ZERO
    issued: Mapping[str, Decimal] = field(default_factory=lambda: _frozen({}))
    posted: Mapping[str, Decimal] = field(default_factory=lambda: _frozen({}))
    run_hours: Decimal = ZERO
    closed: bool = False

    @property
    def processed_qty(self) -> Decimal:
        return self.good_qty + self.scrap_qty

    def amount(self, key: str) -> Decimal:
        """Cents posted so far for element ``key``."""
        return self.posted.get(key, ZERO)

    @property
    def wip_balance(self) -> Decimal:
        """The order's WIP balance implied by what was posted (zero after a close)."""
        return sum((wip_sign(key) * amount for key, amount in self.posted.items()), ZERO)

    def with_posted(self, amounts: Mapping[str, Decimal]) -> OrderAccruals:
        """A copy whose cumulative amounts for the given elements are replaced."""
        return replace(self, posted=_frozen({**self.posted, **amounts}))

    def with_production(self, good_qty: Decimal, scrap_qty: Decimal, amounts: Mapping[str, Decimal]) -> OrderAccruals:
        """A copy with new cumulative quantities and the amounts posted for them (one copy, as
        ``replace(good_qty=..., scrap_qty=...).with_posted(amounts)`` would make two)."""
        return replace(self, good_qty=good_qty, scrap_qty=scrap_qty, posted=_frozen({**self.posted, **amounts}))

    def with_issued(self, item: str, qty: Decimal) -> OrderAccruals:
        return replace(self, issued=_frozen({**self.issued, item: qty}))

    def to_data(self) -> dict[str, object]:
        """JSON-ready form for persistence: decimals as strings."""
        return {
            "work_order": self.work_order,
            "item": self.item,
            "good_qty": str(self.good_qty),
            "scrap_qty": str(self.scrap_qty),
            "issued": {k: str(v) for k, v in sorted(self.issued.items())},
            "posted": {k: str(v) for k, v in sorted(self.posted.items())},
            "run_hours": str(self.run_hours),
            "closed": self.closed,
        }

    @classmethod
    def from_data(cls, data: Mapping[str, object]) -> OrderAccruals:
        """Inverse of :meth:`to_data`."""

        def decimals(key: str) -> Mapping[str, Decimal]:
            raw = data.get(key) or {}
            assert isinstance(raw, Mapping)
            return _frozen({str(k): to_decimal(str(v)) for k, v in raw.items()})

        return cls(
            work_order=str(data["work_order"]),
            item=str(data["item"]),
            good_qty=to_decimal(str(data.get("good_qty", "0"))),
            scrap_qty=to_decimal(str(data.get("scrap_qty", "0"))),
            issued=decimals("issued"),
            posted=decimals("posted"),
            run_hours=to_decimal(str(data.get("run_hours", "0"))),
            closed=bool(data.get("closed", False)),
        )
