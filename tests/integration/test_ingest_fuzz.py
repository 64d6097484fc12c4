"""Hypothesis fuzzes the ingest entry (SQLite): arbitrary bytes and near-valid batches never
raise; unreadable payloads are quarantined, bad events rejected, accepted data never changes."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from support.central import EDGE, PLANT, event, make_container, payload, register, topic

from central.adapters.db.engine import write_engine
from central.adapters.db.migrate import upgrade
from central.adapters.db.models_ingest import EventRow, QuarantineRow, StreamRow
from central.bootstrap import Container
from shared.contract import ContractError, decode_batch

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def central(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path: Path = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    c = make_container(f"sqlite:///{path}")
    upgrade(write_engine(c.engine))
    register(c)
    c.ingest.handle_events(topic(), payload(list(range(1, 11)), stream="s-base"))
    yield c
    c.dispose()


def accepted_snapshot(c: Container) -> list[tuple[Any, ...]]:
    with c.read_sessions() as s:
        return [tuple(r) for r in s.execute(select(EventRow.stream, EventRow.seq, EventRow.qty, EventRow.machine)
                                            .where(EventRow.status == "accepted").order_by(EventRow.id))]


@pytest.mark.timeout(300)
@FUZZ
@given(data=st.binary(max_size=2000))
def test_arbitrary_bytes_are_quarantined(central: Container, data: bytes) -> None:
    before = accepted_snapshot(central)
    result = central.ingest.handle_events(topic(), data)
    try:
        decode_batch(data)
    except ContractError:
        assert result.outcome == "quarantined" and result.ack is None
    assert accepted_snapshot(central) == before


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)
_keys = st.sampled_from(["seq", "machine", "kind", "ts", "rx", "qty", "state", "reason", "flags", "raw", "extra"])
_hdr = st.sampled_from(["schema", "plant", "edge", "stream", "events", "extra"])


@st.composite
def near_valid(draw: st.DrawFn) -> dict[str, Any]:
    start = draw(st.integers(1, 40))
    n = draw(st.integers(1, 6))
    doc: dict[str, Any] = {"schema": "sfsync.batch/1", "plant": PLANT, "edge": EDGE,
                           "stream": draw(st.sampled_from(["s-base", "s-fuzz", "s-other"])),
                           "events": [event(s) for s in range(start, start + n)]}
    for _ in range(draw(st.integers(0, 3))):
        what = draw(st.integers(0, 4))
        if what == 0:
            doc[draw(_hdr)] = draw(_json)
        elif what == 1:
            doc.pop(draw(_hdr), None)
        elif what in (2, 3) and isinstance(doc.get("events"), list) and doc["events"]:
            i = draw(st.integers(0, len(doc["events"]) - 1))
            ev = copy.deepcopy(doc["events"][i])
            if isinstance(ev, dict):
                if what == 2:
                    ev[draw(_keys)] = draw(_json)
                else:
                    ev.pop(draw(_keys), None)
            doc["events"][i] = ev
        elif isinstance(doc.get("events"), list):
            doc["events"].append(draw(_json))
    return doc


@pytest.mark.timeout(300)
@FUZZ
@given(doc=near_valid())
def test_near_valid_batches_never_raise_and_never_touch_accepted_data(central: Container, doc: dict[str, Any]) -> None:
    before, cursors_before = accepted_snapshot(central), _cursors(central)
    raw = _raw(doc)
    result = central.ingest.handle_events(topic(), raw)
    assert result.outcome == _expected_outcome(raw)
    _assert_accepted_data_untouched(central, before, cursors_before)


def _raw(doc: dict[str, Any] | bytes) -> bytes:
    if isinstance(doc, bytes):
        return doc
    return orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS) if _serialisable(doc) else b"\xff"


def _cursors(c: Container) -> dict[str, int]:
    with c.read_sessions() as s:
        return dict(s.execute(select(StreamRow.stream, StreamRow.acked_through)).tuples().all())


def _expected_outcome(raw: bytes) -> str:
    """Quarantined when unreadable or from another plant or edge than its topic's; stored otherwise."""
    try:
        decoded = decode_batch(raw)
    except ContractError:
        return "quarantined"
    return "stored" if (decoded.plant, decoded.edge) == (PLANT, EDGE) else "quarantined"


def _assert_accepted_data_untouched(
    c: Container, before: list[tuple[Any, ...]], cursors_before: dict[str, int]
) -> None:
    after = accepted_snapshot(c)
    assert set(before) <= set(after)  # accepted rows never change or disappear (held ones may join)
    with c.read_sessions() as s:
        for stream, through in s.execute(select(StreamRow.stream, StreamRow.acked_through)).tuples():
            assert through >= cursors_before.get(stream, 0)
        dup = s.execute(select(EventRow.stream, EventRow.seq, func.count()).group_by(EventRow.stream, EventRow.seq)
                        .having(func.count() > 1)).all()
        assert dup == []
        assert s.scalar(select(func.count()).select_from(QuarantineRow)) is not None


def _serialisable(doc: Any) -> bool:
    try:
        orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return False
    return True


@pytest.mark.timeout(300)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docs=st.lists(st.one_of(near_valid(), st.binary(max_size=64)), min_size=2, max_size=6))
def test_groups_of_hostile_payloads_never_raise_and_never_touch_accepted_data(
    central: Container, docs: list[dict[str, Any] | bytes]
) -> None:
    """Group commit (the worker's path when messages wait): the same guarantees per message."""
    before, cursors_before = accepted_snapshot(central), _cursors(central)
    raws = [_raw(d) for d in docs]
    results = central.ingest.handle_events_group([(topic(), raw) for raw in raws])
    assert [r.outcome for r in results] == [_expected_outcome(raw) for raw in raws]
    _assert_accepted_data_untouched(central, before, cursors_before)
