"""Ledger properties on a real database: the trial balance balances after any sequence of
operations (hypothesis), a reversal restores every balance, work order accruals follow a
reversal, and lineage reaches the raw PLC values."""

from __future__ import annotations

import shutil
import tempfile
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.costing import (
    MACHINE,
    costing_container,
    ingest,
    load,
    period_id,
    window_start,
    wire_events,
    worked_example_master,
)

from central.bootstrap import Container
from central.domain.errors import DomainError
from central.service_layer.costing import closing, inputs, ledger, work_orders


def _balances(c: Container) -> dict[tuple[str, str], str]:
    with c.read_sessions() as s:
        tb = ledger.trial_balance(s)
    assert tb["balanced"], tb
    return {(x["account"], x["role"]): x["balance"] for x in tb["lines"] if x["balance"] != "0.00"}


REVERSIBLE = ("goods_receipt", "material_issue", "labor_booking", "overhead_actual.variable",
              "overhead_actual.fixed")


def _last_entry(c: Container, kinds: tuple[str, ...] = REVERSIBLE) -> int | None:
    """The newest entry of ``kinds`` (entries posted from API inputs), or None."""
    with c.read_sessions() as s:
        found = [e["id"] for kind in kinds for e in ledger.list_journal(s, kind=kind, limit=1000)["entries"]]
    return max(found) if found else None



qty = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("5000"), places=3)
money = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999"), places=2)
price = st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("99"), places=6)
op = st.one_of(
    st.tuples(st.just("receipt"), st.sampled_from(["S", "F"]), qty, price),
    st.tuples(st.just("issue"), st.sampled_from(["S", "F"]), qty, st.booleans()),
    st.tuples(st.just("labor"), qty, money),
    st.tuples(st.just("overhead"), st.sampled_from(["variable", "fixed"]), money),
    st.tuples(st.just("units"), st.integers(1, 40), st.integers(0, 5)),
    st.tuples(st.just("reverse")),
)


@pytest.mark.timeout(600)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(ops=st.lists(op, min_size=1, max_size=12))
def test_trial_balance_balances_and_reversal_restores(central_sqlite_template: Path, ops: list[Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "c.db"
        shutil.copyfile(central_sqlite_template, db)
        c = costing_container(f"sqlite:///{db}")
        try:
            _run(c, ops)
        finally:
            c.dispose()


def _run(c: Container, ops: list[Any]) -> None:
    load(c, worked_example_master(foh_budget="1000.00", normal_hours="30"))
    t0 = window_start()
    with c.write_sessions() as s, s.begin():
        work_orders.create_order(s, "BR-100", Decimal(100), "p", "WO-P")
        work_orders.release(s, "WO-P", "p")
        work_orders.start(s, "WO-P", MACHINE, "p", at=t0)
    seq, ts = 1, t0
    for step in ops:
        kind = step[0]
        unchanged = _balances(c)
        try:
            with c.write_sessions() as s, s.begin():
                if kind == "receipt":
                    inputs.goods_receipt(s, step[1], step[2], step[3], "r", "op")
                elif kind == "issue":
                    inputs.material_issue(s, "WO-P", step[1], step[2] if step[3] else -step[2] / 10, "op")
                elif kind == "labor":
                    inputs.labor_booking(s, "WC-PRESS", period_id(), step[1], step[2], "ctl")
                elif kind == "overhead":
                    inputs.overhead_actual(s, "WC-PRESS", period_id(), step[1], step[2], "ctl")
        except DomainError:  # e.g. a receipt worth 0.00 after rounding: refused whole
            assert _balances(c) == unchanged, "nothing half-written"
        if kind == "units":
            events = []
            for n in range(step[1] + step[2]):
                ts += timedelta(seconds=7)
                k = "count" if n < step[1] else "scrap"
                events.append({"kind": k, "ts": ts, "qty": 1, "reason": "BURR" if k == "scrap" else None,
                               "raw": {"tag": k, "value": seq + n, "prev": seq + n - 1}})
            ingest(c, wire_events(events, first_seq=seq), 5, stream="s-prop")
            seq += len(events)
        if kind == "reverse":
            entry = _last_entry(c)
            with c.read_sessions() as s:
                view = ledger.get_entry(s, entry) if entry is not None else {"reverses": 0}
            if entry is not None and view["reverses"] is None and view["reversed_by"] is None:
                expected = {k: Decimal(v) for k, v in _balances(c).items()}
                for line in view["lines"]:
                    key = (line["account"], line["role"])
                    expected[key] = expected.get(key, Decimal(0)) - Decimal(line["debit"]) + Decimal(line["credit"])
                with c.write_sessions() as s, s.begin():
                    ledger.reverse_entry(s, entry, "property test", "ctl")
                after = {k: Decimal(v) for k, v in _balances(c).items()}
                assert after == {k: v for k, v in expected.items() if v != 0}, "the entry's effect is gone"
        _balances(c)
    with c.write_sessions() as s, s.begin():
        work_orders.complete(s, "WO-P", "p", at=ts + timedelta(seconds=1))
    with c.write_sessions() as s, s.begin():
        closing.close_order(s, "WO-P", "ctl")
    with c.write_sessions() as s, s.begin():
        closing.close_period(s, period_id(), "ctl")
    final = _balances(c)
    for role in ("wip", "labor_control", "voh_control", "foh_control"):
        assert not any(r == role for _, r in final), (role, final)


def test_reversal_of_an_issue_restores_balances_and_the_orders_memory(central_sqlite_url: str) -> None:
    c = costing_container(central_sqlite_url)
    try:
        load(c, worked_example_master())
        with c.write_sessions() as s, s.begin():
            work_orders.create_order(s, "BR-100", Decimal(10), "p", "WO-R")
            work_orders.release(s, "WO-R", "p")
        before = _balances(c)
        with c.write_sessions() as s, s.begin():
            inputs.material_issue(s, "WO-R", "S", Decimal("1.333"), "op")
        entry = _last_entry(c)
        assert entry is not None
        with c.write_sessions() as s, s.begin():
            ledger.reverse_entry(s, entry, "wrong order", "ctl")
        assert _balances(c) == before
        with c.write_sessions() as s, s.begin():  # the next issue posts from zero again
            inputs.material_issue(s, "WO-R", "S", Decimal("1"), "op")
        bal = _balances(c)
        assert bal[("1400", "wip")] == "4.00" and bal[("1300", "raw_materials")] == "-4.00"
        with c.write_sessions() as s, s.begin(), pytest.raises(Exception, match="already reversed"):
            ledger.reverse_entry(s, entry, "again", "ctl")
    finally:
        c.dispose()
