"""One way to wait for a condition (shared.waiting), the same in threads and on the event loop."""

from __future__ import annotations

import pytest

from shared.waiting import WaitTimeout, wait_until, wait_until_async


class Countdown:
    """False until the ``n``-th call; counts the calls."""

    def __init__(self, n: int) -> None:
        self.n, self.calls = n, 0

    def __call__(self) -> bool:
        self.calls += 1
        return self.calls >= self.n


def test_returns_once_the_condition_holds() -> None:
    ready = Countdown(3)
    wait_until("three polls", ready, 5, interval=0.001)
    assert ready.calls == 3


def test_a_timeout_names_what_was_awaited_and_the_state_read_then() -> None:
    state = {"seen": 0}
    with pytest.raises(WaitTimeout, match=r"timed out after 0.05 s waiting for the ack: seen 0"):
        wait_until("the ack", lambda: False, 0.05, interval=0.01, detail=lambda: f"seen {state['seen']}")


def test_the_condition_is_read_once_more_at_the_deadline() -> None:
    ready = Countdown(2)
    wait_until("a late truth", ready, 0.01, interval=0.05)  # the sleep overshoots the deadline: look again
    assert ready.calls == 2


def test_an_error_in_the_condition_is_not_a_timeout() -> None:
    def dead() -> bool:
        raise RuntimeError("child exited")

    with pytest.raises(RuntimeError, match="child exited"):
        wait_until("a child", dead, 5)


async def test_the_async_form_has_the_same_meaning_and_awaits_coroutine_conditions() -> None:
    ready = Countdown(2)

    async def ready_later() -> bool:
        return ready()

    await wait_until_async("two polls", ready_later, 0.01, interval=0.05)
    assert ready.calls == 2
    with pytest.raises(WaitTimeout, match="waiting for nothing: never"):
        await wait_until_async("nothing", lambda: False, 0.02, interval=0.005, detail="never")
