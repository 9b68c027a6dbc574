"""LoginLimiter: failures per address within a sliding window, cleared by a success."""

from __future__ import annotations

import pytest

from chatbot.staff import login_limit
from chatbot.staff.login_limit import LoginLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_an_address_waits_after_too_many_failures(clock: Clock) -> None:
    limiter = LoginLimiter(3, 60, clock)
    for _ in range(2):
        limiter.failed("1.2.3.4")
        clock.now += 10
    assert limiter.retry_after("1.2.3.4") == 0
    limiter.failed("1.2.3.4")  # the third, 20 s after the first
    assert limiter.retry_after("1.2.3.4") == pytest.approx(40)
    assert limiter.retry_after("5.6.7.8") == 0  # other addresses are not affected
    clock.now += 40  # the first failure leaves the window
    assert limiter.retry_after("1.2.3.4") == 0
    limiter.failed("1.2.3.4")
    assert limiter.retry_after("1.2.3.4") == pytest.approx(10)


def test_a_success_clears_the_address(clock: Clock) -> None:
    limiter = LoginLimiter(2, 60, clock)
    limiter.failed("a")
    limiter.succeeded("a")
    limiter.failed("a")
    assert limiter.retry_after("a") == 0


def test_old_failures_are_forgotten(clock: Clock) -> None:
    limiter = LoginLimiter(2, 60, clock)
    limiter.failed("a")
    clock.now += 61
    limiter.failed("a")
    assert limiter.retry_after("a") == 0


def test_memory_is_bounded(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(login_limit, "MAX_TRACKED", 3)
    limiter = LoginLimiter(1, 60, clock)
    for address in ["a", "b", "c", "d"]:
        limiter.failed(address)
    assert limiter.retry_after("a") == 0  # the oldest record went first
    assert all(limiter.retry_after(x) > 0 for x in ["b", "c", "d"])
