"""``mqtt.reconnect_max_s``: one key on both sides, default 2 s, finite and > 0, and it reaches paho.

paho doubles its reconnect wait up to this cap (also between first-connect attempts), so a
broker that comes back is used within about that long however long it was away. The cap is
read back from paho's client here because nothing else shows it short of a minute-long outage
(that is measured in bench/bench_reconnect.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from central.adapters.metrics import IngestMetrics
from central.config import IngestSettings, MqttSettings, load_settings
from central.entrypoints.consumer import MqttIngest
from edge.config import EdgeSettings, load_edge_settings
from edge.forwarder import Forwarder
from shared.config import ConfigError

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"
EDGE_EXAMPLE = EXAMPLES / "edge.toml"


class FakeOutbox:
    """The little a Forwarder reads from its outbox before it runs."""

    stream = "s-test"

    async def pending(self, after: int, limit: int, max_bytes: int) -> list[tuple[int, bytes]]:
        return []

    async def ack(self, through: int) -> int:
        return 0

    def last_seq(self) -> int:
        return 0

    def acked_through(self) -> int:
        return 0


def edge_settings(**mqtt: object) -> EdgeSettings:
    """The shipped example without TLS (its CA file is not on this machine), with ``mqtt`` keys set."""
    environ = {f"SFSYNC_EDGE_MQTT__{key.upper()}": str(value) for key, value in mqtt.items()}
    settings = load_edge_settings(EDGE_EXAMPLE, environ)
    return settings.model_copy(update={"mqtt": settings.mqtt.model_copy(update={"tls": None})})


def paho_backoff(client: Any) -> tuple[float, float]:
    return client._reconnect_min_delay, client._reconnect_max_delay


def test_defaults_are_two_seconds_on_both_sides() -> None:
    assert MqttSettings().reconnect_max_s == 2.0
    assert load_settings(None, {}).mqtt.reconnect_max_s == 2.0
    edge = load_edge_settings(EDGE_EXAMPLE, {"SFSYNC_EDGE_MQTT__RECONNECT_MAX_S": "2"})
    assert edge.mqtt.reconnect_max_s == 2.0


@pytest.mark.parametrize("value", ["0", "-1", "inf", "nan", "-inf", "3601"])
def test_edge_refuses_a_cap_that_is_not_finite_and_positive(value: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_edge_settings(EDGE_EXAMPLE, {"SFSYNC_EDGE_MQTT__RECONNECT_MAX_S": value})
    assert err.value.key == "mqtt.reconnect_max_s"


@pytest.mark.parametrize("value", ["0", "-1", "inf", "nan", "-inf", "3601"])
def test_central_refuses_a_cap_that_is_not_finite_and_positive(value: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(None, {"SFSYNC_CENTRAL_MQTT__RECONNECT_MAX_S": value})
    assert err.value.key == "mqtt.reconnect_max_s"


def test_edge_cap_below_the_first_wait_is_refused_naming_both() -> None:
    with pytest.raises(ConfigError) as err:
        load_edge_settings(EDGE_EXAMPLE, {"SFSYNC_EDGE_MQTT__RECONNECT_MAX_S": "0.5",
                                          "SFSYNC_EDGE_MQTT__RECONNECT_MIN_S": "1"})
    assert "reconnect_max_s (0.5) must be >= reconnect_min_s (1)" in str(err.value)


@pytest.mark.parametrize(("low", "high"), [(1.0, 2.0), (0.25, 0.5), (1.0, 1.5)])
def test_the_edge_cap_reaches_paho_unrounded(low: float, high: float) -> None:
    forwarder = Forwarder(edge_settings(reconnect_min_s=low, reconnect_max_s=high), FakeOutbox())
    assert paho_backoff(forwarder._client) == (low, high)
    assert forwarder.early_resend_s == high + 1.0  # the one early re-send of a new connection


def test_the_early_resend_never_waits_longer_than_the_resend_timeout() -> None:
    assert Forwarder(edge_settings(resend_timeout_s=1.5), FakeOutbox()).early_resend_s == 1.5


@pytest.mark.parametrize(("cap", "first"), [(2.0, 1.0), (0.5, 0.5), (30.0, 1.0)])
def test_the_central_cap_reaches_paho(cap: float, first: float) -> None:
    ingest = MqttIngest(MqttSettings(reconnect_max_s=cap), IngestSettings(), service=None,  # type: ignore[arg-type]
                        metrics=IngestMetrics())
    assert paho_backoff(ingest.client) == (first, cap)


def test_the_shipped_examples_spell_the_same_key() -> None:
    assert load_settings(EXAMPLES / "central.toml", {}).mqtt.reconnect_max_s == 2.0
    assert load_edge_settings(EDGE_EXAMPLE, {}).mqtt.reconnect_max_s == 2.0
    for name in ("central.toml", "edge.toml"):
        assert "\nreconnect_max_s = 2 " in (EXAMPLES / name).read_text()
