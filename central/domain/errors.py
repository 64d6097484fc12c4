"""Errors of the accounting domain: the ``DomainError`` branch of central's one error tree.

::

    CentralError (central.errors)
    └── DomainError              400  domain_error
        ├── MoneyError           422  invalid_money        a value that is not acceptable money
        ├── MasterDataError      422  invalid_master_data  master data that does not validate
        ├── UnbalancedEntryError 422  unbalanced_entry     debits and credits differ
        ├── PostingRuleError     422  posting_rule         a kind or account role the rules lack
        ├── PeriodError          409  period_closed        no open period, or a closed one
        ├── InputError           400  bad_input            an input the domain refuses
        │   └── RangeError       422  out_of_range         outside the bounds central accepts
        └── OrderStateError      409  order_state          the work order's state forbids it

The root comes from ``central.errors``, a module without imports, so the domain stays pure; the
HTTP status and code each class carries are read by the one API handler, never here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from central.errors import CentralError


class ValidationError(NamedTuple):
    """One problem found in a data set: where (a key path such as ``boms[0].components[1]``) and what."""

    key_path: str
    message: str


class DomainError(CentralError):
    """Root of every error the pure domain raises."""

    status = 400
    code = "domain_error"


class MoneyError(DomainError, ValueError):
    """A value that cannot be money or a quantity (a float, NaN, more places than allowed)."""

    status = 422
    code = "invalid_money"


class MasterDataError(DomainError):
    """Master data refused; ``errors`` holds every problem, not only the first (also the ``detail``)."""

    status = 422
    code = "invalid_master_data"

    def __init__(self, errors: Sequence[ValidationError]) -> None:
        self.errors = tuple(errors)
        shown = "; ".join(f"{e.key_path}: {e.message}" for e in self.errors[:5])
        more = f" (+{len(self.errors) - 5} more)" if len(self.errors) > 5 else ""
        super().__init__(f"invalid master data: {shown}{more}",
                         [{"key_path": e.key_path, "message": e.message} for e in self.errors])


class UnbalancedEntryError(DomainError):
    """A journal entry that does not balance to the cent, or a malformed journal line."""

    status = 422
    code = "unbalanced_entry"


class PostingRuleError(DomainError):
    """A posting kind, item class or account role the rule set or the chart does not cover."""

    status = 422
    code = "posting_rule"


class PeriodError(DomainError):
    """No open period takes the date, or an API input is dated in a closed period."""

    status = 409
    code = "period_closed"


class InputError(DomainError):
    """An input the domain refuses: an unknown item or work centre, a quantity that makes no sense."""

    status = 400
    code = "bad_input"


class RangeError(InputError, ValueError):
    """An integer beyond int64, an instant or date outside the accepted range (``central.domain.bounds``)."""

    status = 422
    code = "out_of_range"


class OrderStateError(DomainError):
    """The work order's state does not allow the operation."""

    status = 409
    code = "order_state"
