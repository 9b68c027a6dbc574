"""Requests per minute per API key: a sliding window, in this process or shared in Redis.

`RateLimiter` counts in this process, so behind a load balancer with N replicas a key could
make up to N times its rate. With `CHATBOT_API__RATE_LIMIT_REDIS_URL` set every replica
counts in one Redis (`chatbot.staff.rate_limit_redis`), and falls back to counting here
while Redis cannot be reached, so customers keep being served.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

WINDOW_S = 60.0


class Limiter(Protocol):
    def hit(self, key_id: int, rate: int) -> int:
        """0 when the request may go ahead (and counts it), else the seconds until it may
        (whole seconds, at least 1, for `Retry-After`)."""
        ...


class RateLimiter:
    """`hit(key_id, rate)` -> 0 when the request may go ahead (and counts it), else the
    seconds until it may (whole seconds, at least 1, for `Retry-After`)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[int, deque[float]] = {}

    def hit(self, key_id: int, rate: int) -> int:
        now = self._clock()
        with self._lock:
            times = self._seen.setdefault(key_id, deque())
            while times and times[0] <= now - WINDOW_S:
                times.popleft()
            if len(times) >= rate:
                return max(1, math.ceil(times[0] + WINDOW_S - now))
            times.append(now)
            return 0


def build_limiter(redis_url: str | None) -> Limiter:
    """The limiter the settings ask for: shared in Redis at `redis_url`, else this process's."""
    if not redis_url:
        return RateLimiter()
    from chatbot.staff.rate_limit_redis import RedisRateLimiter

    return RedisRateLimiter(redis_url)
