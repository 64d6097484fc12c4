"""The past cache (service_layer/costing/past_cache.py) is keyed by a revision of the past, not by
time alone: figures of finished days are read once, and a late event or a posting dated before the
split shows on the very next request; events dated after the split never invalidate it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from support.costing import MACHINE, ingest, load, period_id, wire_events, worked_example_master

from central.bootstrap import Container
from central.service_layer.costing import inputs, output_totals, past_cache, work_orders

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
SPLIT = NOW.replace(hour=0) - timedelta(days=1)
"""The split of this test: a midnight (the cache is built for one; a journal entry is dated in local
days) a day back, so that "today's" events after it are never in the future whatever the hour."""
T0 = SPLIT - timedelta(days=2)


def _scrap(first_seq: int, start: datetime, n: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [{"kind": "state", "ts": start, "state": "running", "reason": None,
                                     "raw": {"tag": "state", "value": "running", "prev": None}}]
    events += [{"kind": "scrap", "ts": start + timedelta(seconds=10 * (k + 1)), "qty": 1, "reason": "BURR",
                "raw": {"tag": "scrap", "value": first_seq + k, "prev": first_seq + k - 1}} for k in range(n)]
    docs: list[dict[str, Any]] = wire_events(events, first_seq=first_seq)
    return docs


def _scrap_before_split(central: Container) -> Decimal:
    with central.read_sessions() as s:
        rows = past_cache.posted_scrap_split(s, [MACHINE], T0 - timedelta(days=1), NOW + timedelta(hours=1), SPLIT)
    return sum((qty for _wo, _m, _r, qty in rows), Decimal(0))


def test_a_late_event_dated_before_the_split_shows_on_the_next_request(
        central: Container, monkeypatch: pytest.MonkeyPatch) -> None:
    load(central, worked_example_master())
    with central.write_sessions() as s, s.begin():
        work_orders.create_order(s, "BR-100", Decimal(500), "planner", "WO-1")
        work_orders.release(s, "WO-1", "planner")
        work_orders.start(s, "WO-1", MACHINE, "planner", at=T0 - timedelta(hours=1))
    ingest(central, _scrap(1, T0, 5), 10)
    loads: list[datetime] = []
    real = output_totals.posted_scrap

    def counted(session: Any, machines: Any, start: datetime, end: datetime) -> Any:
        loads.append(end)
        return real(session, machines, start, end)
    monkeypatch.setattr(past_cache, "posted_scrap", counted)

    assert _scrap_before_split(central) == 5
    assert _scrap_before_split(central) == 5
    assert loads.count(SPLIT) == 1, "the finished days are read once"

    # live events after the split: counted (today's part), the past not read again
    ingest(central, _scrap(7, SPLIT + timedelta(minutes=5), 3), 10)
    assert _scrap_before_split(central) == 8
    assert loads.count(SPLIT) == 1

    # a late event dated before the split: seen at once, not after the cache's lifetime
    ingest(central, _scrap(11, T0 + timedelta(hours=3), 2), 10)
    assert _scrap_before_split(central) == 10
    assert loads.count(SPLIT) == 2

    # a journal entry dated before the split (no event) moves the revision too
    with central.write_sessions() as s, s.begin():
        inputs.goods_receipt(s, "S", Decimal(10), Decimal("4.00"), "GR-1", "stores",
                             posting_date=(T0 - timedelta(days=1)).date())
    assert _scrap_before_split(central) == 10
    assert loads.count(SPLIT) == 3
    assert _scrap_before_split(central) == 10
    assert loads.count(SPLIT) == 3


def test_production_totals_of_a_period_split_at_midnight_are_the_whole_and_see_a_late_event(
        central: Container, monkeypatch: pytest.MonkeyPatch) -> None:
    """The executive summary's and the margin report's production totals of a period: the records
    posted before the split's day from the cache, the rest read; always the totals of the whole."""
    load(central, worked_example_master())
    with central.write_sessions() as s, s.begin():
        work_orders.create_order(s, "BR-100", Decimal(500), "planner", "WO-1")
        work_orders.release(s, "WO-1", "planner")
        work_orders.start(s, "WO-1", MACHINE, "planner", at=T0 - timedelta(hours=1))
    ingest(central, _scrap(1, T0, 5), 10)
    loads: list[Any] = []
    real = output_totals.production_totals

    def counted(session: Any, **kwargs: Any) -> Any:
        loads.append(kwargs.get("last_day"))
        return real(session, **kwargs)
    monkeypatch.setattr(past_cache, "production_totals", counted)

    def both() -> tuple[Any, Any]:
        with central.read_sessions() as s:
            return (past_cache.production_totals_split(s, period_id(), [MACHINE], SPLIT, SPLIT.date()),
                    real(s, period=period_id(), machines=[MACHINE]))
    before = SPLIT.date() - timedelta(days=1)
    split, whole = both()
    assert split == whole and sum(t.scrap for t in whole) == 5
    assert both()[0] == whole and loads.count(before) == 1, "the finished days are read once"
    ingest(central, _scrap(7, SPLIT + timedelta(minutes=5), 3), 10)  # today's part: read, the past kept
    split, whole = both()
    assert split == whole and sum(t.scrap for t in whole) == 8 and loads.count(before) == 1
    ingest(central, _scrap(11, T0 + timedelta(hours=3), 2), 10)  # a late event before the split
    split, whole = both()
    assert split == whole and sum(t.scrap for t in whole) == 10 and loads.count(before) == 2
