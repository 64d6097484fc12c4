"""The verification read's decisions (pure): what is a missed change, what is stale, when to re-subscribe."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from protocols import OpcUaSourceConfig, Quality, TagReading
from protocols.opcua_verify import (
    RESUBSCRIBE_AFTER,
    Action,
    DeliveryTracker,
    Verifier,
    caught_up,
    is_stale,
    same_reading,
)

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def r(tag: str, value: object, ts_s: float | None = 0, quality: Quality = Quality.GOOD, detail: str = "") -> TagReading:
    ts = None if ts_s is None else T0 + timedelta(seconds=ts_s)
    return TagReading(tag, value, ts, quality, "epoch", T0, detail)  # type: ignore[arg-type]


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_same_reading_compares_value_type_quality_and_detail() -> None:
    assert same_reading(r("a", 5, 1), r("a", 5, 2))  # the source time is not part of "same"
    assert not same_reading(r("a", 1), r("a", True))
    assert not same_reading(r("a", 5), r("a", 6))
    assert not same_reading(r("a", None, quality=Quality.BAD, detail="BadX"), r("a", None, quality=Quality.BAD))
    assert not same_reading(r("a", 2.5), r("a", 2.5, quality=Quality.UNCERTAIN, detail="UncertainX"))


def test_caught_up_when_same_or_newer_delivered() -> None:
    read = r("a", 7, 10)
    assert not caught_up(None, read)
    assert caught_up(r("a", 7, 3), read)  # the same value
    assert caught_up(r("a", 8, 11), read)  # the subscription already delivered something newer
    assert not caught_up(r("a", 6, 9), read)
    assert not caught_up(r("a", 6, 10), read)  # same time, other value (coarse PLC clocks): deliver it
    assert not caught_up(r("a", 6, None), read)


def test_late_notification_after_a_read_delivery_is_stale() -> None:
    delivered = r("a", 7, 10)
    assert is_stale(r("a", 7, 10), delivered)  # the same change, late
    assert is_stale(r("a", 6, 9), delivered)  # an older one: a counter must not step back
    assert not is_stale(r("a", 8, 11), delivered)
    assert not is_stale(r("a", 6, None), delivered)  # no source time: cannot tell, deliver


def test_tracker_drops_stale_notifications_only_after_a_read_delivery() -> None:
    tracker = DeliveryTracker()
    assert tracker.notification(r("a", 5, 1))
    assert tracker.notification(r("a", 4, 0))  # subscription order is the server's: never second-guessed
    tracker.verified(r("a", 7, 10))
    assert not tracker.notification(r("a", 6, 9))
    assert not tracker.notification(r("a", 7, 10))
    assert tracker.notification(r("a", 8, 11))
    assert tracker.last("a") == r("a", 8, 11)
    assert tracker.notification(r("a", 7, 10))  # back on the subscription path: its order again


def test_difference_caught_up_within_grace_is_not_missed() -> None:
    clock, tracker = FakeClock(), DeliveryTracker()
    tracker.notification(r("a", 1, 1))
    v = Verifier(1.0, 0.5, tracker, clock=clock)
    assert not v.read_due() and v.wait_s() == pytest.approx(1.0)
    clock.now += 1.0
    assert v.read_due()
    v.begin([r("a", 2, 2)])
    assert not v.settle_due() and v.wait_s() == pytest.approx(0.5)
    tracker.notification(r("a", 2, 2))  # the notification was in flight
    clock.now += 0.5
    assert v.settle_due()
    settled = v.settle()
    assert settled.missed == [] and settled.action is Action.NONE
    assert not v.read_due() and v.wait_s() == pytest.approx(0.5)


def test_missed_changes_are_returned_in_source_time_order_and_recorded() -> None:
    clock, tracker = FakeClock(), DeliveryTracker()
    tracker.notification(r("count", 10, 1))
    tracker.notification(r("state", 1, 1))
    tracker.notification(r("temp", 20.0, 1))
    v = Verifier(1.0, 0.5, tracker, clock=clock)
    clock.now += 1.0
    v.begin([r("count", 12, 5), r("state", 2, 3), r("temp", 20.0, 1), r("new", 1, 4)])
    clock.now += 0.5
    settled = v.settle()
    assert [(m.tag, m.value) for m in settled.missed] == [("state", 2), ("new", 1), ("count", 12)]
    assert all(m.received > T0 for m in settled.missed)  # delivery time, not the read's
    assert tracker.last("count") is not None and tracker.last("count").value == 12  # type: ignore[union-attr]
    assert not tracker.notification(r("count", 11, 4))  # late: dropped
    clock.now += 0.5
    v.begin([r("count", 12, 5), r("state", 2, 3)])  # nothing new
    assert v.settle_due() and v.settle().missed == []


def test_streak_resubscribes_then_reconnects_and_a_clean_read_resets() -> None:
    clock, tracker = FakeClock(), DeliveryTracker()
    v = Verifier(1.0, 0.5, tracker, clock=clock)
    n = 0

    def round_with_miss(miss: bool = True) -> Action:
        nonlocal n
        n += 1
        clock.now += 1.0
        v.begin([r("tick", n, n)] if miss else [r("tick", n - 1, n - 1)])
        clock.now += 0.5
        return v.settle().action

    actions = [round_with_miss() for _ in range(RESUBSCRIBE_AFTER)]
    assert actions == [Action.NONE] * (RESUBSCRIBE_AFTER - 1) + [Action.RESUBSCRIBE]
    actions = [round_with_miss() for _ in range(RESUBSCRIBE_AFTER)]
    assert actions[-1] is Action.RECONNECT  # re-creating did not help
    assert round_with_miss(False) is Action.NONE
    assert [round_with_miss() for _ in range(RESUBSCRIBE_AFTER)][-1] is Action.RESUBSCRIBE  # clean read: start over
    assert round_with_miss(False) is Action.NONE
    assert round_with_miss() is Action.NONE and v.streak == 1


def test_verifier_rejects_zero_interval() -> None:
    with pytest.raises(ValueError, match="must be > 0"):
        Verifier(0, 1.0, DeliveryTracker())


def test_config_verify_keys() -> None:
    base = {"name": "p", "endpoint": "opc.tcp://plc:4840"}
    cfg = OpcUaSourceConfig.model_validate(base)
    assert cfg.verify_interval_s == 10.0 and cfg.verify_grace_s == 2.0
    assert OpcUaSourceConfig.model_validate({**base, "verify_interval_s": 0}).verify_interval_s == 0
    with pytest.raises(ValidationError, match="verify_interval_s"):
        OpcUaSourceConfig.model_validate({**base, "verify_interval_s": -1})
    with pytest.raises(ValidationError, match="verify_grace_s"):
        OpcUaSourceConfig.model_validate({**base, "verify_grace_s": 0})
