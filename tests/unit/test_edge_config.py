"""Edge settings: the shipped example loads; mistakes stop the agent at start with the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import load_edge_settings
from shared.config import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "edge.toml"


def test_example_config_loads() -> None:
    s = load_edge_settings(EXAMPLE)
    assert [m.id for m in s.machines] == ["SAW-2", "PRESS-1"]
    assert s.username == "edge-1" and s.status.port == 9180


def test_environment_overrides_a_key() -> None:
    s = load_edge_settings(EXAMPLE, {"SFSYNC_EDGE_STATUS__PORT": "0", "SFSYNC_EDGE_MQTT__HOST": "b.local"})
    assert s.status.port == 0 and s.mqtt.host == "b.local"


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        ('good = { tag = "saw2_good", width = 32', 'good = { tag = "saw2_goood", width = 32',
         "tag 'saw2_goood' is not defined by any source"),
        ('type = "u16" },\n  { name = "saw2_scrap_reason"', 'type = "u17" },\n  { name = "saw2_scrap_reason"',
         "tag 'saw2_scrap': unknown type 'u17'"),
        ("max = 999999, sanity = 1000", "sanity = 1000", "give exactly one of max or width"),
    ],
)
def test_mistakes_are_refused_with_file_and_reason(tmp_path: Path, old: str, new: str, said: str) -> None:
    text = EXAMPLE.read_text()
    assert old in text
    bad = tmp_path / "edge.toml"
    bad.write_text(text.replace(old, new))
    with pytest.raises(ConfigError) as err:
        load_edge_settings(bad)
    assert said in str(err.value) and str(bad) in str(err.value)


@pytest.mark.parametrize(("variable", "value", "key"), [
    ("SFSYNC_EDGE_MQTT__RESEND_TIMEOUT_S", "inf", "mqtt.resend_timeout_s"),
    ("SFSYNC_EDGE_MQTT__RECONNECT_MIN_S", "nan", "mqtt.reconnect_min_s"),
    ("SFSYNC_EDGE_MQTT__RECONNECT_MAX_S", "1e300", "mqtt.reconnect_max_s"),
    ("SFSYNC_EDGE_MQTT__SESSION_EXPIRY_S", "4294967296", "mqtt.session_expiry_s"),
])
def test_numbers_finite_and_in_range(variable: str, value: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_edge_settings(EXAMPLE, {variable: value})
    assert err.value.key == key and variable in str(err.value)


def test_a_counter_max_beyond_64_bits_is_refused(tmp_path: Path) -> None:
    text = EXAMPLE.read_text()
    assert "max = 999999, sanity = 1000" in text
    bad = tmp_path / "edge.toml"
    bad.write_text(text.replace("max = 999999, sanity = 1000", f"max = {2**64}, sanity = 1000"))
    with pytest.raises(ConfigError) as err:
        load_edge_settings(bad)
    assert err.value.key.endswith(".max") and "less than or equal" in err.value.reason


def test_missing_tls_files_are_refused_by_run(tmp_path: Path) -> None:
    from edge.config import check_files

    settings = load_edge_settings(EXAMPLE, {"SFSYNC_EDGE_MQTT__TLS__CA": str(tmp_path / "ca.crt")})
    with pytest.raises(ConfigError) as err:
        check_files(settings, str(EXAMPLE))
    assert err.value.key == "mqtt.tls.ca" and "no such file" in err.value.reason
    (tmp_path / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    check_files(settings, str(EXAMPLE))


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        ('tag = "saw2_boots"', 'tag = "press1_good"', "tag 'press1_good' is not a tag of source 'saw-2'"),
        ('tag = "saw2_boots"', 'tag = "saw2_scrap"', "tag 'saw2_scrap' is also a counter or state tag"),
        ('source = "saw-2"', 'source = "saw-9"', "source 'saw-9' is not defined"),
        ('kind = "boot_count"', 'kind = "reboots"', "restart_indicators.0.kind"),
        ("max_rate_per_s = 4 }", "max_rate_per_s = 0 }", "max_rate_per_s"),
        ("reason_wait_ms = 200", "reason_wait_ms = -1", "reason_wait_ms"),
    ],
)
def test_rates_waits_and_restart_indicators_are_checked(tmp_path: Path, old: str, new: str, said: str) -> None:
    text = EXAMPLE.read_text()
    assert old in text
    bad = tmp_path / "edge.toml"
    bad.write_text(text.replace(old, new))
    with pytest.raises(ConfigError) as err:
        load_edge_settings(bad)
    assert said in str(err.value)


def test_counter_rates_and_restart_indicator_of_the_example() -> None:
    s = load_edge_settings(EXAMPLE)
    saw = s.machines[0]
    assert saw.good is not None and saw.good.max_rate_per_s == 2.5
    assert saw.scrap[0].reason_wait_ms == 200
    assert [(r.source, r.tag, r.kind) for r in s.restart_indicators] == [("saw-2", "saw2_boots", "boot_count")]
