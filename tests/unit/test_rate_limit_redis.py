"""The API rate limit counted in Redis, shared by replicas: the real Redis at 127.0.0.1:6379
(`CHATBOT_TEST_REDIS_URL`, database 15 by default; the tests' keys are removed before and
after each test), and a redis-server of the test's own for Redis going away and coming back.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from pydantic import SecretStr

from chatbot.container import Services
from chatbot.staff import rate_limit_redis
from chatbot.staff.rate_limit import RateLimiter, build_limiter
from chatbot.staff.rate_limit_redis import KEY_PREFIX, RedisRateLimiter, shown_url
from tests.unit.api_server import bearer, client, new_key, served

# Read at import: the autouse fixture removes every CHATBOT_* variable from each test.
REDIS_URL = os.environ.get("CHATBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
PREFIX = "chatbot-test:ratelimit:"
LOGGER = rate_limit_redis.__name__


def _delete_test_keys(r: redis.Redis) -> None:
    for pattern in (f"{PREFIX}*", f"{KEY_PREFIX}*"):
        keys = list(r.scan_iter(match=pattern))
        if keys:
            r.delete(*keys)


@pytest.fixture
def redis_db() -> Iterator[redis.Redis]:
    r = redis.Redis.from_url(REDIS_URL)
    try:
        r.ping()
    except redis.RedisError as exc:
        pytest.fail(
            f"Redis is not reachable at {shown_url(REDIS_URL)} ({exc}): start redis-server or "
            "set CHATBOT_TEST_REDIS_URL"
        )
    _delete_test_keys(r)
    yield r
    _delete_test_keys(r)
    r.close()


def limiter(**kwargs: object) -> RedisRateLimiter:
    return RedisRateLimiter(REDIS_URL, prefix=PREFIX, **kwargs)  # type: ignore[arg-type]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_window_counts_per_key_in_redis_and_answers_the_wait(redis_db: redis.Redis) -> None:
    lim = limiter()
    assert [lim.hit(1, 2) for _ in range(2)] == [0, 0]
    wait = lim.hit(1, 2)
    assert 1 <= wait <= 60
    assert lim.hit(2, 2) == 0  # another key counts on its own
    # Stored in Redis under the prefix, with an expiry, not in this process.
    assert redis_db.zcard(f"{PREFIX}1") == 2 and redis_db.zcard(f"{PREFIX}2") == 1
    assert 0 < redis_db.pttl(f"{PREFIX}1") <= 60_000
    assert lim.shared


def test_two_replicas_share_one_count(redis_db: redis.Redis) -> None:
    a, b = limiter(), limiter()
    results = [(a if i % 2 else b).hit(7, 5) for i in range(8)]
    assert results[:5] == [0] * 5
    assert all(r >= 1 for r in results[5:])  # refused by both, whichever is asked
    # The in-process limiter, for contrast, lets each replica make the full rate.
    c, d = RateLimiter(), RateLimiter()
    assert sum((c if i % 2 else d).hit(7, 5) == 0 for i in range(8)) == 8


def test_concurrent_requests_never_pass_the_rate(redis_db: redis.Redis) -> None:
    """The script is atomic: many threads on two replicas get exactly `rate` through."""
    replicas = [limiter(), limiter()]
    allowed: list[int] = []
    lock = threading.Lock()

    def customer(n: int) -> None:
        for _ in range(25):
            if replicas[n % 2].hit(3, 30) == 0:
                with lock:
                    allowed.append(n)

    threads = [threading.Thread(target=customer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(allowed) == 30
    assert redis_db.zcard(f"{PREFIX}3") == 30


def test_the_window_slides(redis_db: redis.Redis) -> None:
    lim = limiter(window_s=1.0)
    assert [lim.hit(4, 2) for _ in range(3)] == [0, 0, 1]
    time.sleep(1.1)  # Redis's own clock moves the window; nothing else to wait on
    assert lim.hit(4, 2) == 0


def test_unreachable_redis_warns_once_and_counts_in_the_process(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"redis://:hunter2hunter2@127.0.0.1:{free_port()}/0"  # nothing listens there
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        lim = RedisRateLimiter(url, prefix=PREFIX)
        results = [lim.hit(1, 3) for _ in range(5)]
    assert results[:3] == [0, 0, 0] and all(r >= 1 for r in results[3:])
    assert not lim.shared
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    message = warnings[0].getMessage()
    assert "counting requests in this process" in message and "127.0.0.1" in message
    assert "hunter2" not in message and ":***@" in message


def test_redis_going_away_and_back_falls_back_then_shares_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = shutil.which("redis-server")
    assert server is not None, "redis-server is missing (apt-get install redis-server)"
    port = free_port()

    def start() -> subprocess.Popen[bytes]:
        # No persistence: the restarted server starts empty.
        args = ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path)]
        proc = subprocess.Popen(
            [server, *args, "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        probe = redis.Redis(port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                probe.ping()
                probe.close()
                return proc
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    now = [0.0]
    proc = start()
    try:
        lim = RedisRateLimiter(f"redis://127.0.0.1:{port}/0", clock=lambda: now[0], retry_s=30)
        assert lim.hit(1, 100) == 0 and lim.shared
        proc.terminate()
        proc.wait(timeout=10)
        with caplog.at_level(logging.INFO, logger=LOGGER):
            assert [lim.hit(1, 100) for _ in range(3)] == [0, 0, 0]  # customers still served
            assert not lim.shared
            proc = start()
            now[0] = 10.0
            lim.hit(1, 100)
            assert not lim.shared  # not tried again before retry_s
            now[0] = 31.0
            assert lim.hit(1, 100) == 0
            assert lim.shared
        levels = [(r.levelno, r.getMessage()) for r in caplog.records]
        assert [lvl for lvl, _ in levels] == [logging.WARNING, logging.INFO], levels
        assert "reachable again" in levels[1][1]
        # The count is in the restarted (empty) Redis again: this one request.
        assert redis.Redis(port=port).zcard(f"{KEY_PREFIX}1") == 1
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_setting_picks_the_limiter(redis_db: redis.Redis) -> None:
    assert isinstance(build_limiter(None), RateLimiter)
    assert isinstance(build_limiter(REDIS_URL), RedisRateLimiter)


def test_two_served_apps_share_the_limit_and_answer_429_with_retry_after(
    services: Services, redis_db: redis.Redis
) -> None:
    """Two web apps on one database and one Redis, as two replicas: a key of 4 requests a
    minute gets 4 answers in all, spread over both, then 429 from either."""
    services.settings.api.rate_limit_redis_url = SecretStr(REDIS_URL)
    key = new_key(services, "customer", rate=4)
    with served(services) as one, served(services) as two:
        clients = [client(one, key), client(two, key)]
        statuses = []
        for i in range(6):
            r = clients[i % 2].post("/api/v1/conversations")
            statuses.append(r.status_code)
        assert statuses == [201, 201, 201, 201, 429, 429]
        assert r.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(r.headers["retry-after"]) <= 60
        other = new_key(services, "customer", name="other")
        assert clients[0].post("/api/v1/conversations", headers=bearer(other)).status_code == 201
        for c in clients:
            c.close()
    assert any(k.startswith(KEY_PREFIX.encode()) for k in redis_db.scan_iter())


def test_a_bad_redis_url_is_refused_with_what_to_write() -> None:
    from chatbot.settings import ApiSettings

    with pytest.raises(ValueError, match=r"not a Redis URL: use redis://HOST:PORT/DB"):
        ApiSettings(rate_limit_redis_url="127.0.0.1:6379")  # type: ignore[arg-type]
    assert ApiSettings(rate_limit_redis_url=" ").rate_limit_redis_url is None  # type: ignore[arg-type]


def test_an_unreachable_redis_keeps_the_api_serving(services: Services) -> None:
    services.settings.api.rate_limit_redis_url = SecretStr(f"redis://127.0.0.1:{free_port()}/0")
    key = new_key(services, "customer", rate=2)
    with served(services) as url, client(url, key) as c:
        assert [c.post("/api/v1/conversations").status_code for _ in range(3)] == [201, 201, 429]
