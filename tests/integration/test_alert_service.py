"""The one alert service (central.service_layer.alerts) on a real SQLite database and a fixed
clock: ingest and costing alerts merge by the same rule; an acknowledged alert is not reopened."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from central.adapters.db.engine import make_engine
from central.adapters.db.models_ingest import AlertRow
from central.service_layer.alerts import raise_alert

T0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)


@pytest.fixture
def session(central_sqlite_url: str) -> Iterator[Session]:
    engine = make_engine(central_sqlite_url)
    try:
        with Session(engine) as s, s.begin():
            yield s
    finally:
        engine.dispose()


def test_repeats_merge_into_the_open_alert_on_the_callers_clock(session: Session) -> None:
    first = raise_alert(session, "negative_inventory", "negative_inventory:S", "after issue", T0,
                        detail={"item": "S", "on_hand": "-5", "record": 3})
    session.flush()
    again = raise_alert(session, "negative_inventory", "negative_inventory:S", "after backflush",
                        T0 + timedelta(minutes=5), detail={"item": "S", "on_hand": "-8"})
    assert again is first
    session.flush()
    rows = list(session.scalars(select(AlertRow)))
    assert len(rows) == 1
    row = rows[0]
    assert (row.count, row.created, row.last_seen) == (2, T0, T0 + timedelta(minutes=5))
    assert row.message == "after backflush" and row.detail == {"item": "S", "on_hand": "-8", "record": 3}


def test_an_acknowledged_alert_is_not_reopened_a_new_one_is(session: Session) -> None:
    raise_alert(session, "gap", "gap:s1", "gap", T0, severity="critical", detail={"gap_id": 1})
    session.flush()
    acked = session.scalars(select(AlertRow)).one()
    acked.acked_at, acked.acked_by = T0 + timedelta(minutes=1), "controller"
    session.flush()
    fresh = raise_alert(session, "gap", "gap:s1", "gap again", T0 + timedelta(minutes=2))
    session.flush()
    assert fresh.id != acked.id and fresh.count == 1 and fresh.created == T0 + timedelta(minutes=2)
    assert acked.count == 1


def test_a_key_longer_than_the_column_merges_with_itself(session: Session) -> None:
    key = "quarantine:bad_header:" + "t" * 300
    raise_alert(session, "quarantine", key, "m", T0)
    session.flush()
    raise_alert(session, "quarantine", key, "m", T0 + timedelta(seconds=1))
    session.flush()
    row = session.scalars(select(AlertRow)).one()
    assert row.count == 2 and len(row.key) == 200
