"""Requests per minute per API key, counted in Redis so that every replica shares one count.

The same sliding window as the in-process `RateLimiter`: a sorted set per key holds the times
of the requests of the last minute, and one Lua script (atomic in Redis) drops the old ones,
counts, and either adds this request or answers how long until the oldest leaves the window.
Times come from Redis (`TIME`), so replicas on machines whose clocks differ agree.

When Redis cannot be reached (or refuses the command) the request is counted in this process
instead, so customers keep being served; one warning says so, Redis is tried again every
`retry_s` seconds, and its return is logged.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from chatbot.staff.rate_limit import WINDOW_S, RateLimiter

log = logging.getLogger(__name__)

KEY_PREFIX = "chatbot:ratelimit:"
# A request must not wait for Redis: past this it is counted in this process.
TIMEOUT_S = 0.5
RETRY_S = 30.0

# KEYS[1]: the key's request times; ARGV: rate, window (ms), a member unique to this request.
# Returns 0 (counted) or the whole seconds until the oldest request leaves the window.
SLIDING_WINDOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= rate then
    local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    return math.max(1, math.ceil((tonumber(oldest[2]) + window - now) / 1000))
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
return 0
"""


def shown_url(url: str) -> str:
    """The URL without its password, for logs."""
    password = urlsplit(url).password
    return url if password is None else url.replace(f":{password}@", ":***@", 1)


class RedisRateLimiter:
    """`hit(key_id, rate)` as `RateLimiter`'s, counted in the Redis at `url` (e.g.
    redis://127.0.0.1:6379/0); keys are `prefix` + the API key's id."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = KEY_PREFIX,
        window_s: float = WINDOW_S,
        retry_s: float = RETRY_S,
        timeout_s: float = TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = shown_url(url)
        self._prefix = prefix
        self._window_ms = round(window_s * 1000)
        self._retry_s = retry_s
        self._clock = clock
        # No retries inside redis-py: a second try would only make the request wait longer
        # before it is counted here anyway.
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
        )
        self._script = self._client.register_script(SLIDING_WINDOW)
        self._fallback = RateLimiter(clock)
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._next_try = 0.0
        self.ping()  # say at start-up, not at the first request, that Redis is missing

    @property
    def shared(self) -> bool:
        """Whether requests are being counted in Redis (False while falling back)."""
        return self._down_since is None

    def ping(self) -> bool:
        try:
            self._client.ping()
        except redis.RedisError as exc:
            self._went_down(exc)
            return False
        self._came_back()
        return True

    def hit(self, key_id: int, rate: int) -> int:
        if self._down_since is not None and self._clock() < self._next_try:
            return self._fallback.hit(key_id, rate)
        try:
            wait = self._script(
                keys=[f"{self._prefix}{key_id}"],
                args=[rate, self._window_ms, secrets.token_hex(8)],
            )
        except redis.RedisError as exc:
            self._went_down(exc)
            return self._fallback.hit(key_id, rate)
        self._came_back()
        return int(wait)

    def _went_down(self, exc: Exception) -> None:
        with self._lock:
            self._next_try = self._clock() + self._retry_s
            if self._down_since is not None:
                return  # warned already
            self._down_since = self._clock()
        log.warning(
            "cannot use Redis at %s for the API rate limit (%s: %s); counting requests in "
            "this process until it is back (each replica then allows a key its full rate); "
            "trying again every %.0f s",
            self.url,
            type(exc).__name__,
            exc,
            self._retry_s,
        )

    def _came_back(self) -> None:
        with self._lock:
            if self._down_since is None:
                return
            down_for = self._clock() - self._down_since
            self._down_since = None
        log.info(
            "Redis at %s is reachable again after %.0f s: the API rate limit is shared again",
            self.url,
            down_for,
        )
