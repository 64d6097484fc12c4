"""Configuration: TOML + environment overrides, errors that name file, key and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.config import ConfigError, StrictModel, env_overrides, load_config


class Mqtt(StrictModel):
    host: str = "127.0.0.1"
    port: int = 1883
    tls: bool = False


class Settings(StrictModel):
    plant: str
    mqtt: Mqtt = Mqtt()
    tags: list[str] = []


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "edge.toml"
    path.write_text(text)
    return path


def test_file_values_and_defaults(tmp_path: Path) -> None:
    cfg = load_config(Settings, write(tmp_path, 'plant = "P1"\n[mqtt]\nport = 1884\n'), "X_", environ={})
    assert cfg.plant == "P1"
    assert cfg.mqtt.port == 1884
    assert cfg.mqtt.host == "127.0.0.1"


def test_every_key_overridable_from_environment(tmp_path: Path) -> None:
    env = {
        "X_MQTT__PORT": "2000",
        "X_MQTT__TLS": "true",
        "X_MQTT__HOST": "broker.plant",
        "X_TAGS": '["a", "b"]',
        "OTHER": "1",
    }
    cfg = load_config(Settings, write(tmp_path, 'plant = "P1"\n'), "X_", environ=env)
    assert (cfg.mqtt.port, cfg.mqtt.tls, cfg.mqtt.host, cfg.tags) == (2000, True, "broker.plant", ["a", "b"])
    assert env_overrides("X_", {"X_PLANT": "P9"}) == {"plant": "P9"}


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ('plant = "P1"\n[mqtt]\nport = "x"\n', "mqtt.port", "valid integer"),
        ('plant = "P1"\n[mqtt]\nprot = 1\n', "mqtt.prot", "Extra inputs"),
        ("[mqtt]\n", "plant", "Field required"),
        ('plant = "P1"\n[mqtt\n', "", "not valid TOML"),
    ],
)
def test_bad_file_names_file_key_and_reason(tmp_path: Path, text: str, key: str, reason: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(Settings, path, "X_", environ={})
    assert info.value.key == key
    assert reason in info.value.reason
    assert str(path) in str(info.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(Settings, tmp_path / "nope.toml", "X_", environ={})


def test_bad_environment_value_names_the_source(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(Settings, write(tmp_path, 'plant = "P1"\n'), "X_", environ={"X_MQTT__PORT": "abc"})
    assert info.value.key == "mqtt.port"
    assert "X_* environment" in info.value.source


class Timing(StrictModel):
    skew_s: float = 1.0
    weights: dict[str, float] = {}


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "+inf"])
def test_floats_are_finite_in_every_section(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(Timing, write(tmp_path, f"skew_s = {value}\n"), "X_", environ={})
    assert info.value.key == "skew_s" and "finite" in info.value.reason
    with pytest.raises(ConfigError) as info:
        load_config(Timing, write(tmp_path, f"[weights]\na = {value}\n"), "X_", environ={})
    assert info.value.key == "weights.a"


def test_environment_error_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(Timing, write(tmp_path, ""), "X_", environ={"X_SKEW_S": "inf"})
    assert info.value.key == "skew_s" and "X_SKEW_S" in str(info.value)


def test_a_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "edge.toml"
    path.write_bytes(b'plant = "P\xe91"\n')
    with pytest.raises(ConfigError) as info:
        load_config(Settings, path, "X_", environ={})
    assert info.value.key == "" and "not UTF-8" in info.value.reason and str(path) in str(info.value)
