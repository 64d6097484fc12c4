"""Snapshots (pure): values that arrived together derive together; late scrap reasons; restart tags.

The readings of one poll/publish reach the deriver as one snapshot. Reasons and states are
applied before counters, so the config order of tags never decides a scrap's reason or splits
a stop into two events. A count whose reason did not come with it waits ``reason_wait_ms`` for
it; the wait never moves the persisted counter mark, so a crash during it loses and doubles
nothing (checked against a real outbox file).
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from edge.config import MachineConfig, ScrapConfig, StateConfig, reason_name
from edge.derivation import RESTART_MARK, Derived, Deriver, Mark, RestartWatch, moments
from edge.encoding import with_seq
from edge.outbox import Outbox
from protocols.base import Quality, TagReading
from shared.contract import Event

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
REASONS = {"1": "BURR", "2": "CRACK", "3": "SHORT_SHOT"}


def rd(tag: str, value: Any, at: float = 0.0, *, epoch: str = "e1", source_ts: float | None = None,
       prev_seen: float | None = None) -> TagReading:
    return TagReading(
        tag, value, None if source_ts is None else T0 + timedelta(seconds=source_ts), Quality.GOOD, epoch,
        T0 + timedelta(seconds=at), prev_seen=None if prev_seen is None else T0 + timedelta(seconds=prev_seen),
    )


def events(out: list[Derived]) -> list[dict[str, Any]]:
    docs = []
    for d in out:
        if d.body is not None:
            Event.model_validate_json(with_seq(1, d.body))  # valid on the wire
            docs.append(orjson.loads(d.body))
    return docs


def scrap_machine(wait_ms: int = 200, **kw: Any) -> MachineConfig:
    scrap = ScrapConfig(tag="scrap", width=16, reason_tag="why", reason_map=REASONS, reason_wait_ms=wait_ms,
                        max_rate_per_s=5, **kw)
    return MachineConfig(id="M1", scrap=[scrap])


def started(machine: MachineConfig, *first: TagReading) -> Deriver:
    d = Deriver([machine])
    d.feed(list(first))
    return d


# ---------------------------------------------------------------- same snapshot, either order


@given(st.permutations(["scrap", "why"]))
def test_counter_and_reason_in_one_snapshot_give_one_event_with_its_reason(order: list[str]) -> None:
    d = started(scrap_machine(), rd("scrap", 0), rd("why", 0))
    values = {"scrap": [1, 2, 3, 4], "why": [1, 2, 2, 3]}  # the PLC writes count and reason in one update
    got = []
    for i in range(4):
        snapshot = [rd(tag, values[tag][i], i + 1) for tag in order if tag != "why" or i != 2]  # 2 -> 2: no change
        got += events(d.feed(snapshot))
        got += events(d.tick(T0 + timedelta(seconds=i + 1.5)))
    assert [(e["qty"], e["reason"]) for e in got] == [(1, "BURR"), (1, "CRACK"), (1, "CRACK"), (1, "SHORT_SHOT")]


def test_the_first_scrap_carries_its_reason_not_unmapped_0() -> None:
    """The issue's symptom: counter listed before its reason, both changed in one write."""
    d = started(scrap_machine(), rd("scrap", 0), rd("why", 0))  # the PLC starts with reason 0
    out = events(d.feed([rd("scrap", 1, 1, prev_seen=0.9), rd("why", 2, 1)]))
    assert [(e["qty"], e["reason"]) for e in out] == [(1, "CRACK")]
    # a restarted agent whose first snapshot shows new scrap: the reason standing then, after the wait
    d = Deriver([scrap_machine()], {"scrap": Mark(10, "e1", T0)})
    assert d.feed([rd("scrap", 11, 1), rd("why", 2, 1)]) == []
    assert [(e["qty"], e["reason"]) for e in events(d.tick(T0 + timedelta(seconds=1.2)))] == [(1, "CRACK")]


@given(st.permutations(["st", "rs"]))
def test_a_state_and_its_reason_changed_together_are_one_event(order: list[str]) -> None:
    cfg = StateConfig(tag="st", reason_tag="rs", reasons={"7": "EQ_FAIL", "8": "NO_MATERIAL"})
    d = Deriver([MachineConfig(id="M1", state=cfg)])
    d.feed([rd("st", 1), rd("rs", 0)])
    stop = {"st": 3, "rs": 7}
    out = events(d.feed([rd(tag, stop[tag], 1) for tag in order]))
    assert [(e["state"], e.get("reason")) for e in out] == [("down", "EQ_FAIL")]
    assert out[0]["raw"] == {"tag": "st", "value": 3, "prev": 1}
    back = {"st": 1, "rs": 0}
    assert [e["state"] for e in events(d.feed([rd(tag, back[tag], 2) for tag in order]))] == ["running"]
    # only the reason changes while down: one event, raw from the reason tag
    d.feed([rd("st", 3, 3), rd("rs", 7, 3)])
    out = events(d.feed([rd("rs", 8, 4)]))
    assert [(e["state"], e["reason"], e["raw"]["tag"]) for e in out] == [("down", "NO_MATERIAL", "rs")]


# ---------------------------------------------------------------- a reason in a later snapshot


def test_a_late_reason_within_the_wait_is_the_counts_reason() -> None:
    d = started(scrap_machine(), rd("scrap", 0), rd("why", 1))
    assert d.feed([rd("scrap", 1, 1.0)]) == []  # held: its reason may still come
    assert d.next_due() == T0 + timedelta(seconds=1.2)
    out = events(d.feed([rd("why", 3, 1.1)]))
    assert [(e["qty"], e["reason"], e["raw"]["value"]) for e in out] == [(1, "SHORT_SHOT", 1)]
    assert d.tick(T0 + timedelta(seconds=5)) == []  # nothing left to release


def test_without_a_new_reason_the_count_goes_out_after_the_wait_with_the_reason_known() -> None:
    d = started(scrap_machine(), rd("scrap", 0), rd("why", 2))
    d.feed([rd("scrap", 2, 1.0)])
    assert d.tick(T0 + timedelta(seconds=1.19)) == []
    out = events(d.tick(T0 + timedelta(seconds=1.2)))
    assert [(e["qty"], e["reason"], e["ts"]) for e in out] == [(2, "CRACK", "2026-11-25T08:00:01.000Z")]


def test_a_reason_that_changed_before_its_count_is_used_at_once() -> None:
    d = started(scrap_machine(), rd("scrap", 0), rd("why", 1))
    assert d.feed([rd("why", 2, 1.0)]) == []
    assert [e["reason"] for e in events(d.feed([rd("scrap", 1, 1.05)]))] == ["CRACK"]
    d.feed([rd("scrap", 2, 2.0)])  # CRACK already used: wait for a possible new reason
    assert [e["reason"] for e in events(d.tick(T0 + timedelta(seconds=2.2)))] == ["CRACK"]


def test_a_new_count_releases_the_held_one_with_the_reason_from_before() -> None:
    d = started(scrap_machine(), rd("scrap", 0), rd("why", 1))
    d.feed([rd("scrap", 1, 1.0)])  # held (BURR used before? no: first sight only)
    out = events(d.feed([rd("scrap", 2, 1.1), rd("why", 2, 1.1)]))
    assert [(e["raw"]["value"], e["qty"], e["reason"]) for e in out] == [(1, 1, "BURR"), (2, 1, "CRACK")]


def test_wait_zero_sends_at_once() -> None:
    d = started(scrap_machine(wait_ms=0), rd("scrap", 0), rd("why", 1))
    assert [e["reason"] for e in events(d.feed([rd("scrap", 1, 1)]))] == ["BURR"]


def test_shutdown_releases_held_counts() -> None:
    d = started(scrap_machine(), rd("scrap", 0), rd("why", 1))
    d.feed([rd("scrap", 4, 1.0)])
    assert [(e["qty"], e["reason"]) for e in events(d.release_held())] == [(4, "BURR")]


def test_queued_changes_in_one_publish_pair_by_source_time() -> None:
    """An OPC UA publish with queued values: per item (counter, counter, reason, reason)."""
    d = started(scrap_machine(), rd("scrap", 0, source_ts=0), rd("why", 0, source_ts=0))
    snapshot = [rd("scrap", 1, 1, source_ts=0.5), rd("scrap", 2, 1, source_ts=0.8),
                rd("why", 1, 1, source_ts=0.5), rd("why", 2, 1, source_ts=0.8)]
    assert [[r.tag for r in m] for m in moments(snapshot)] == [["scrap", "why"], ["scrap", "why"]]
    out = events(d.feed(snapshot))
    assert [(e["raw"]["value"], e["reason"]) for e in out] == [(1, "BURR"), (2, "CRACK")]


def test_a_crash_during_the_wait_loses_nothing_and_doubles_nothing(tmp_path: Path) -> None:
    """What the agent persisted before dying is all a restarted agent knows: the held count is
    not in it (nor its mark), so the restarted agent counts those units once from the mark."""
    path = tmp_path / "outbox.db"
    ob = Outbox(path, "P1", "e1")
    d = Deriver([scrap_machine()], ob.marks())
    ob.append([(x.body, x.key, x.mark) for x in d.feed([rd("scrap", 100), rd("why", 1)])])
    ob.append([(x.body, x.key, x.mark) for x in d.feed([rd("scrap", 103, 1, prev_seen=0.9), rd("why", 2, 1)])])
    assert d.feed([rd("scrap", 105, 2, prev_seen=1.9)]) == []  # held ... and the agent is killed
    ob.close()

    ob = Outbox(path, "P1", "e1")
    assert ob.marks()["scrap"].value == 103
    d = Deriver([scrap_machine()], ob.marks())
    out = d.feed([rd("scrap", 105, 10, epoch="e2"), rd("why", 2, 10, epoch="e2")])
    out += d.tick(T0 + timedelta(seconds=11))
    ob.append([(x.body, x.key, x.mark) for x in out])
    stored = [orjson.loads(b) for _, b in ob.pending(0, 100, 10**6)]
    assert sum(e["qty"] for e in stored) == 5  # 100 -> 105: every unit once
    assert [(e["qty"], e["reason"]) for e in stored[1:]] == [(3, "CRACK"), (2, "CRACK")]


# ---------------------------------------------------------------- counters: elapsed from the source


def test_the_time_the_source_last_saw_the_counter_decides_rollover_or_reset() -> None:
    """A quiet scrap counter at 65533 (last changed an hour ago, seen by every poll since) drops to 1:
    the previous poll saw 65533 0.5 s ago, so 4 units cannot be a rollover at 1/s — a reset of 1."""
    cfg = ScrapConfig(tag="scrap", width=16, reason="BURR", max_rate_per_s=1)
    d = Deriver([MachineConfig(id="M1", scrap=[cfg])], {"scrap": Mark(65533, "e1", T0)})
    out = events(d.feed([rd("scrap", 1, 3600, prev_seen=3599.5)]))
    assert [(e["qty"], e["flags"]) for e in out] == [(1, ["reset"])]
    # without the source's word the mark's time is all there is: an hour allows a wrap of 4
    d = Deriver([MachineConfig(id="M1", scrap=[cfg])], {"scrap": Mark(65533, "e1", T0)})
    assert [(e["qty"], e["flags"]) for e in events(d.feed([rd("scrap", 1, 3600)]))] == [(4, ["rollover"])]


# ---------------------------------------------------------------- restart indicators


def restart_deriver(kind: str, marks: dict[str, Mark] | None = None) -> Deriver:
    good = {"tag": "good", "width": 16, "max_rate_per_s": 100}
    return Deriver([MachineConfig(id="M1", good=good)], marks, [RestartWatch("boot", kind, ("good",))])


def test_a_boot_count_change_makes_the_next_drop_a_certain_reset() -> None:
    d = restart_deriver("boot_count")
    d.feed([rd("good", 65530), rd("boot", 7)])
    out = d.feed([rd("good", 2, 1, prev_seen=0.9), rd("boot", 8, 1)])  # 100/s could wrap 65530 -> 2 ...
    assert [(e["qty"], e["flags"]) for e in events(out)] == [(2, ["reset"])]  # ... but the PLC restarted
    keys = [x.key for x in out]
    assert RESTART_MARK + "boot" in keys and keys.count("good") == 2  # re-stamped + counted, one transaction
    # a restarted agent: the indicator's persisted value is the reference
    d2 = restart_deriver("boot_count", d.marks)
    assert events(d2.feed([rd("good", 5, 2, prev_seen=1.9), rd("boot", 8, 2)])) != []
    assert [e["flags"] for e in events(d2.feed([rd("good", 65535, 3, prev_seen=2.9)]))] == [["suspect"]]


def test_restart_marks_are_persisted_before_the_counter_drops() -> None:
    """Indicator first, counter drop in a later snapshot (or after an agent crash): still a reset."""
    d = restart_deriver("uptime")
    d.feed([rd("good", 500), rd("boot", 9000.0)])
    out = d.feed([rd("boot", 3.0, 1)])  # uptime went back: restarted
    assert {x.key for x in out} == {"good", RESTART_MARK + "boot"} and all(x.body is None for x in out)
    d2 = restart_deriver("uptime", d.marks)  # the agent died right after that commit
    assert [(e["qty"], e["flags"]) for e in events(d2.feed([rd("good", 4, 2, prev_seen=1.9)]))] == [(4, ["reset"])]


def test_first_scan_rising_edge_is_a_restart_and_uptime_growth_is_not() -> None:
    d = restart_deriver("first_scan")
    d.feed([rd("good", 100), rd("boot", False)])
    d.feed([rd("boot", True, 1)])
    assert [e["flags"] for e in events(d.feed([rd("good", 3, 2, prev_seen=1.9)]))] == [["reset"]]
    u = restart_deriver("uptime")
    u.feed([rd("good", 65535), rd("boot", 100)])
    assert u.feed([rd("boot", 101, 1)]) == []  # uptime moving on is neither a restart nor a write
    assert [e["flags"] for e in events(u.feed([rd("good", 0, 2, prev_seen=1.9)]))] == [["rollover"]]


# ---------------------------------------------------------------- string reasons


def test_unmapped_reasons_numeric_as_unmapped_code_text_passed_through() -> None:
    assert reason_name("9", REASONS) == "UNMAPPED_9"
    assert reason_name("1", REASONS) == "BURR"
    assert reason_name("BURR", {}) == "BURR"
    assert reason_name("tool wear", {}) == "tool_wear"
    assert reason_name("x" * 65, {}) == "UNMAPPED"
    assert reason_name("Ölfleck", {}) == "UNMAPPED"
    d = Deriver([MachineConfig(id="M1", scrap=[ScrapConfig(tag="scrap", width=16, reason_tag="why")],
                               state=StateConfig(tag="st", reason_tag="rs"))])
    d.feed([rd("scrap", 0), rd("why", ""), rd("st", 1), rd("rs", "")])
    out = events(d.feed([rd("scrap", 1, 1), rd("why", " Burr ", 1), rd("st", 3, 1), rd("rs", "JAM", 1)]))
    assert sorted((e["kind"], e["reason"]) for e in out) == [("scrap", "Burr"), ("state", "JAM")]


# ---------------------------------------------------------------- the order never matters


@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from([1, 2, 3]), st.sampled_from([1, 2, 3, 4, 5])),
                min_size=1, max_size=12))
def test_derived_events_do_not_depend_on_the_order_within_a_snapshot(steps: list[tuple[int, int, int]]) -> None:
    """Any history of (scrap increment, reason, state) updates, each written in one PLC update, gives
    the same events whatever order the readings of each snapshot come in."""
    machines = [MachineConfig(
        id="M1", good={"tag": "good", "width": 16, "max_rate_per_s": 10},
        scrap=[ScrapConfig(tag="scrap", width=16, reason_tag="why", reason_map=REASONS, max_rate_per_s=10)],
        state=StateConfig(tag="st", reason_tag="why", reasons={"1": "TOOL", "2": "JAM", "3": "WAIT"}),
    )]
    results = []
    for perm in itertools.permutations(["scrap", "why", "st", "good"]):
        d = Deriver(machines)
        got = events(d.feed([rd("scrap", 0), rd("why", 1), rd("st", 1), rd("good", 0)]))
        values = {"scrap": 0, "why": 1, "st": 1, "good": 0}
        for i, (inc, why, state) in enumerate(steps, start=1):
            new = {"scrap": values["scrap"] + inc, "why": why, "st": state, "good": values["good"] + 1}
            snap = [rd(t, new[t], i, prev_seen=i - 1) for t in perm if new[t] != values[t]]
            values = new
            got += events(d.feed(snap))
        got += events(d.flush(T0 + timedelta(seconds=len(steps) + 1)))
        results.append([(e["kind"], e.get("qty"), e.get("state"), e.get("reason")) for e in got])
    assert all(r == results[0] for r in results)
    assert sum(int(q or 0) for k, q, _, _ in results[0] if k == "scrap") == sum(inc for inc, _, _ in steps)


def test_counts_waiting_for_a_first_reason_merge_and_a_restart_does_not_lose_them() -> None:
    marks = {"scrap": Mark(100, "e1", T0)}
    d = Deriver([scrap_machine()], marks)  # a fresh agent whose reason tag is unreadable so far
    assert d.feed([rd("scrap", 102, 1)]) == [] and d.feed([rd("scrap", 104, 2)]) == []
    assert "waiting for reason tag" in d.problems["scrap"]
    assert [(e["qty"], e["reason"]) for e in events(d.feed([rd("why", 2, 3)]))] == [(4, "CRACK")]
    assert "scrap" not in d.problems
    # the same wait cut short by a PLC restart: the units seen before it are sent, reason unknown
    w = restart_deriver_with_scrap(marks)
    w.feed([rd("boot", 1, 0)])
    w.feed([rd("scrap", 103, 1)])
    out = events(w.feed([rd("boot", 2, 2), rd("scrap", 1, 2)]))
    assert [(e["qty"], e["flags"], e["reason"]) for e in out] == [(3, [], "UNMAPPED")]
    out = events(w.feed([rd("why", 1, 3)]))  # the count after the restart waited for its reason
    assert [(e["qty"], e["flags"], e["reason"]) for e in out] == [(1, ["reset"], "BURR")]


def restart_deriver_with_scrap(marks: dict[str, Mark]) -> Deriver:
    return Deriver([scrap_machine()], marks, [RestartWatch("boot", "boot_count", ("scrap",))])
