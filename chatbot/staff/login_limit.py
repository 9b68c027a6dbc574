"""Slows down password guessing on the staff console: after too many failed sign-ins from one
address within a time window, that address is refused (HTTP 429) until the oldest failure
leaves the window. A successful sign-in clears the address's record.

Keyed by client address, not by user name: locking a name would let anyone lock the admin out
by typing wrong passwords for it. Behind a reverse proxy every client has the proxy's address
unless the proxy is listed in CHATBOT_SERVER__TRUSTED_PROXIES (see chatbot.web.security).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

MAX_TRACKED = 10_000  # addresses remembered at once; the oldest records go first


class LoginLimiter:
    def __init__(
        self,
        max_failures: int,
        window_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window_seconds = window_seconds
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.get(key, deque())
        while failures and failures[0] <= now - self.window_seconds:
            failures.popleft()
        if not failures:
            self._failures.pop(key, None)
        return failures

    def retry_after(self, key: str) -> float:
        """Seconds until `key` may try again; 0 when it may try now."""
        with self._lock:
            now = self._clock()
            failures = self._recent(key, now)
            if len(failures) < self.max_failures:
                return 0.0
            return max(failures[0] + self.window_seconds - now, 0.0)

    def failed(self, key: str) -> None:
        with self._lock:
            now = self._clock()
            failures = self._recent(key, now)
            failures.append(now)
            self._failures.pop(key, None)  # re-inserted last: the dict is oldest-first
            self._failures[key] = failures
            while len(self._failures) > MAX_TRACKED:
                del self._failures[next(iter(self._failures))]

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)
