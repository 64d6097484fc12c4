"""Test helpers for the pure costing domain: the worked example's master data and a tiny ledger.

``worked_example_master()`` is ACCOUNTING.md's worked example (BR-100 on PRESS-2 in WC-PRESS);
``Book`` collects journal entries and order accruals the way the service layer would persist them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from central.domain.accruals import OrderAccruals
from central.domain.ledger import EntryHeader, JournalEntry, TrialBalance, balance, trial_balance
from central.domain.master_data import (
    Bom,
    BomLine,
    DowntimeCategory,
    DowntimeReason,
    Entity,
    IssueMethod,
    Item,
    ItemClass,
    Machine,
    MasterData,
    Period,
    Plant,
    Routing,
    ScrapReason,
    WorkCentre,
)
from central.domain.postings import Posted
from central.domain.roles import Role
from central.domain.time_accounting import MachineState, StateEvent

D = Decimal
PERIOD = Period("2026-11", date(2026, 11, 1), date(2026, 11, 30))
T0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)


def at(hours: str | int) -> datetime:
    """T0 + ``hours`` (decimal text or an int)."""
    return T0 + timedelta(seconds=int(Decimal(hours) * 3600))


def header(kind: str = "", day: date | None = None, period: str = PERIOD.id) -> EntryHeader:
    return EntryHeader(entry_date=day or date(2026, 11, 2), period=period, kind=kind)


def worked_example_master() -> MasterData:
    """ACCOUNTING.md's worked example master data."""
    return MasterData(
        entities=(Entity("E1", "Example Metal Ltd"),),
        plants=(Plant("P1", "E1"),),
        items=(
            Item("S", ItemClass.RAW, "kg", D("4.00"), IssueMethod.MANUAL),
            Item("F", ItemClass.RAW, "pcs", D("0.25"), IssueMethod.MANUAL),
            Item("BR-100", ItemClass.FINISHED, "pcs"),
        ),
        boms=(Bom("BR-100", (BomLine("S", D("1.5")), BomLine("F", D("4")))),),
        work_centers=(WorkCentre("WC-PRESS", "P1", D("25.00"), D("15.00"), D("1400.00"), D("40")),),
        routings=(Routing("BR-100", "WC-PRESS", D("0.04"), D("0.04"), D("0.03")),),
        machines=(Machine("PRESS-2", "WC-PRESS", "edge-1"),),
        downtime_reasons=(
            DowntimeReason("EQ_FAIL", DowntimeCategory.EQUIPMENT, False),
            DowntimeReason("MATERIAL", DowntimeCategory.MATERIAL, False),
            DowntimeReason("BREAK", DowntimeCategory.OTHER, True),
        ),
        scrap_reasons=(ScrapReason("BURR"), ScrapReason("CRACK")),
        periods=(PERIOD,),
    )


def worked_example_timeline() -> list[StateEvent]:
    """The example's 40 h window from T0: 35 h running, 1 h planned stop (20-21), 3 h EQ_FAIL
    (10-13), 1 h MATERIAL shortage (30-31)."""
    return [
        StateEvent(at(0), MachineState.RUNNING),
        StateEvent(at(10), MachineState.DOWN, "EQ_FAIL"),
        StateEvent(at(13), MachineState.RUNNING),
        StateEvent(at(20), MachineState.PLANNED_STOP),
        StateEvent(at(21), MachineState.RUNNING),
        StateEvent(at(30), MachineState.IDLE, "MATERIAL"),
        StateEvent(at(31), MachineState.RUNNING),
    ]


@dataclass
class Book:
    """An in-memory ledger: every entry posted, and the latest accruals per order."""

    entries: list[JournalEntry] = field(default_factory=list)
    orders: dict[str, OrderAccruals] = field(default_factory=dict)

    def add(self, *entries: JournalEntry | None) -> None:
        for entry in entries:
            if entry is not None:
                self.entries.append(entry)

    def apply(self, posted: Posted) -> OrderAccruals:
        self.entries.extend(posted.entries)
        self.orders[posted.accruals.work_order] = posted.accruals
        return posted.accruals

    def extend(self, entries: Iterable[JournalEntry]) -> None:
        self.entries.extend(entries)

    def balance(self, role: Role) -> Decimal:
        return balance(self.entries, role)

    def trial_balance(self) -> TrialBalance:
        return trial_balance(self.entries)
