"""Requests per minute per API key: a sliding window in this process.

Each replica counts on its own, so behind a load balancer with N replicas a key can make up
to N times its rate; a shared store (Redis, or a table) is the step for several replicas.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

WINDOW_S = 60.0


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
