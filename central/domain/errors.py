"""Errors of the accounting domain.

One root, so the service layer can map every domain refusal with one handler::

    DomainError
    ├── MoneyError              a value that is not acceptable money (float, NaN, too many places)
    ├── MasterDataError         master data that does not validate; carries every error found
    ├── UnbalancedEntryError    a journal entry whose debits and credits differ
    ├── PostingRuleError        a posting kind or account role the rules do not know
    ├── PeriodError             no open period for a date, or an input dated in a closed period
    ├── InputError              an input the domain refuses (unknown item, zero quantity)
    │   └── RangeError          an integer, instant or date outside the bounds central accepts
    └── OrderStateError         an operation the work order's state does not allow
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple


class ValidationError(NamedTuple):
    """One problem found in a data set: where (a key path such as ``boms[0].components[1]``) and what."""

    key_path: str
    message: str


class DomainError(Exception):
    """Root of every error the pure domain raises."""


class MoneyError(DomainError, ValueError):
    """A value that cannot be money or a quantity (a float, NaN, more places than allowed)."""


class MasterDataError(DomainError):
    """Master data refused; ``errors`` holds every problem, not only the first."""

    def __init__(self, errors: Sequence[ValidationError]) -> None:
        self.errors = tuple(errors)
        shown = "; ".join(f"{e.key_path}: {e.message}" for e in self.errors[:5])
        more = f" (+{len(self.errors) - 5} more)" if len(self.errors) > 5 else ""
        super().__init__(f"invalid master data: {shown}{more}")


class UnbalancedEntryError(DomainError):
    """A journal entry that does not balance to the cent, or a malformed journal line."""


class PostingRuleError(DomainError):
    """A posting kind, item class or account role the rule set or the chart does not cover."""


class PeriodError(DomainError):
    """No open period takes the date, or an API input is dated in a closed period."""


class InputError(DomainError):
    """An input the domain refuses: an unknown item or work centre, a quantity that makes no sense."""


class RangeError(InputError, ValueError):
    """An integer beyond int64, an instant or date outside the accepted range (``central.domain.bounds``)."""


class OrderStateError(DomainError):
    """The work order's state does not allow the operation."""
