"""The machine model is pure: exact scripted timelines, determinism, counters that wrap like a PLC's."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device_sim.config import SimSettings
from device_sim.model import MachineModel, SimEvent
from device_sim.truth import TruthLog, event_record

T0 = 1_780_000_000_000  # some Unix ms


def _settings(machine: dict[str, object], **top: object) -> SimSettings:
    return SimSettings.model_validate({"seed": 11, "machines": [machine], **top})


def _model(s: SimSettings, i: int = 0, start: int = T0) -> MachineModel:
    m = s.resolve()[i]
    return MachineModel(m.index, m.id, m.spec, s.scrap_reason_names, start, s.seed)


RANDOM = {
    "id": "R1", "cycle_s": 1.0, "cycle_jitter_s": 0.3, "scrap_rate": 0.07,
    "scrap_weights": {"BURR": 3, "CRACK": 1}, "mtbf_s": 240,
    "stops": [{"reason": "EQ_FAIL", "min_s": 5, "max_s": 90}, {"state": "idle", "reason": "MAT_SHORT", "weight": 2}],
    "schedule": [{"first_at_s": 1800, "every_s": 3600, "duration_s": 600, "reason": "BREAK"},
                 {"state": "setup", "reason": "CHANGEOVER", "first_at_s": 5000, "duration_s": 900}],
}


def test_scripted_timeline_is_played_exactly() -> None:
    s = _settings({"id": "PRESS-2", "cycle_s": 30, "script": [
        {"state": "running", "for_s": 7200, "scrap_every": 8, "scrap_reasons": ["BURR", "CRACK"]},
        {"state": "down", "for_s": 1800, "reason": "EQ_FAIL"},
        {"state": "setup", "for_s": 900, "reason": "CHANGEOVER"},
        {"state": "running", "for_s": 600, "cycle_s": 60},
    ]})
    events = _model(s).advance(T0 + 10 * 3600_000)
    states = [(e.t - T0, e.state, e.reason) for e in events if e.kind == "state"]
    assert states == [
        (0, "running", None), (7_200_000, "down", "EQ_FAIL"), (9_000_000, "setup", "CHANGEOVER"),
        (9_900_000, "running", None), (10_500_000, "idle", None),
    ]
    first_run = [e for e in events if e.kind in ("count", "scrap") and e.t <= T0 + 7_200_000]
    assert len(first_run) == 240  # 7200 s / 30 s, the last one exactly at the step's end
    scrap = [e.reason for e in first_run if e.kind == "scrap"]
    assert len(scrap) == 30 and scrap[:4] == ["BURR", "CRACK", "BURR", "CRACK"]
    second_run = [e for e in events if e.kind == "count" and e.t > T0 + 9_000_000]
    assert len(second_run) == 10


def test_same_seed_same_history_whatever_the_step_size() -> None:
    s = _settings(RANDOM)
    whole = _model(s).advance(T0 + 4 * 3600_000)
    model = _model(s)
    stepped: list[SimEvent] = []
    for t in range(T0, T0 + 4 * 3600_000 + 1, 7_919):
        stepped += model.advance(t)
    stepped += model.advance(T0 + 4 * 3600_000)
    assert stepped == whole
    kinds = {e.kind for e in whole}
    assert {"count", "scrap", "state"} <= kinds
    assert {e.reason for e in whole if e.kind == "state"} >= {"EQ_FAIL", "BREAK", "CHANGEOVER"}
    other_seed = SimSettings.model_validate({"seed": 12, "machines": [RANDOM]})
    assert _model(other_seed).advance(T0 + 4 * 3600_000) != whole


def test_truth_log_is_byte_identical_for_a_seed(tmp_path: Path) -> None:
    s = _settings(RANDOM)

    def write(path: Path, step: int) -> bytes:
        log = TruthLog(path)
        model = _model(s)
        for t in range(T0, T0 + 3600_000, step):
            log.write_events(model.advance(t))
        log.close()
        return path.read_bytes()

    a, b = write(tmp_path / "a.jsonl", 1000), write(tmp_path / "b.jsonl", 60_000)
    assert a == b and len(a) > 10_000


def test_scheduled_stop_preempts_running_and_resumes() -> None:
    s = _settings({"id": "M", "cycle_s": 10, "schedule": [{"first_at_s": 95, "every_s": 200, "duration_s": 50,
                                                           "reason": "BREAK"}]})
    events = _model(s).advance(T0 + 400_000)
    states = [(e.t - T0, e.state) for e in events if e.kind == "state"]
    assert states == [(0, "running"), (95_000, "planned_stop"), (145_000, "running"), (295_000, "planned_stop"),
                      (345_000, "running")]
    counts = [e.t - T0 for e in events if e.kind == "count"]
    assert 95_000 not in counts and 100_000 not in counts  # the cut cycle is lost
    assert 155_000 in counts  # first unit one cycle after the restart


@settings(max_examples=40, deadline=None)
@given(start=st.integers(0, 65535), units=st.integers(1, 3000), bits=st.sampled_from([16, 32]))
def test_counters_wrap_and_deltas_match_units(start: int, units: int, bits: int) -> None:
    start = min(start, (1 << bits) - 1)
    s = _settings({"id": "W", "cycle_s": 1, "counter_bits": bits, "counter_start": start})
    model = _model(s)
    events = model.advance(T0 + units * 1000)
    good = [e for e in events if e.kind == "count"]
    assert len(good) == units
    modulus = 1 << bits
    assert model.counters.good == (start + units) % modulus
    for prev, cur in zip([start, *[e.good for e in good]], [e.good for e in good], strict=False):
        assert (cur - prev) % modulus == 1


def test_reset_and_rollover_faults_set_counters_without_units() -> None:
    s = _settings({"id": "F", "cycle_s": 1, "counter_bits": 16, "scrap_rate": 0.5})
    model = _model(s)
    model.advance(T0 + 100_000)
    reset = model.reset_counters(T0 + 100_000)
    assert [e.kind for e in reset] == ["fault"] and reset[0].good == 0 and reset[0].scrap_total == 0
    assert dict(reset[0].scrap_counters or ()) == {"BURR": 0, "CRACK": 0, "DIMENSION": 0}
    preset = model.preset_good(T0 + 100_000, 2)
    assert preset[0].good == 65533
    after = [e for e in model.advance(T0 + 200_000) if e.kind == "count"]
    assert 0 in [e.good for e in after]  # wrapped


def test_truth_record_format() -> None:
    s = _settings({"id": "M.1", "cycle_s": 1, "script": [{"state": "running", "for_s": 2, "scrap_every": 2}]})
    recs = [event_record(e) for e in _model(s, start=0).advance(5000)]
    assert recs[0] == {"t": "1970-01-01T00:00:00.000Z", "machine": "M.1", "kind": "start", "counter": 0,
                       "scrap_total": 0}
    assert recs[1] == {"t": "1970-01-01T00:00:00.000Z", "machine": "M.1", "kind": "state", "state": "running"}
    assert recs[2] == {"t": "1970-01-01T00:00:01.000Z", "machine": "M.1", "kind": "count", "qty": 1, "counter": 1}
    assert recs[3] == {"t": "1970-01-01T00:00:02.000Z", "machine": "M.1", "kind": "scrap", "qty": 1,
                       "reason": "BURR", "counter": 1, "scrap_total": 1}
    assert recs[4]["state"] == "idle"


@pytest.mark.parametrize(
    ("machine", "message"),
    [
        ({"id": "bad id"}, "id"),
        ({"id": "M", "stops": [{"reason": "NOPE"}], "mtbf_s": 5}, "unknown downtime reason 'NOPE'"),
        ({"id": "M", "scrap_weights": {"X": 1}}, "unknown scrap reason"),
        ({"id": "M{n}", "count": 3, "modbus_device_id": 4}, "count > 1"),
        ({"id": "M", "counter_bits": 16, "counter_start": 70000}, "does not fit"),
        ({"id": "M", "script": [{"state": "running", "for_s": 5, "reason": "EQ_FAIL"}]}, "no reason"),
    ],
)
def test_config_errors_name_the_problem(machine: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _settings(machine)


def test_faults_must_point_at_known_machines() -> None:
    with pytest.raises(ValueError, match="unknown machine 'Z'"):
        _settings({"id": "M"}, faults=[{"kind": "counter_reset", "machine": "Z", "at_s": 5}])
    with pytest.raises(ValueError, match="needs at_s"):
        _settings({"id": "M"}, faults=[{"kind": "counter_reset"}])
    with pytest.raises(ValueError, match="whole server"):
        _settings({"id": "M"}, faults=[{"kind": "server_restart", "machine": "M", "at_s": 1}])
