"""X-Forwarded-For and X-Forwarded-Proto are believed only from the configured proxies.

Failed sign-ins lock the client's address for minutes, so these tests use servers of their
own rather than the shared one: one with the default settings (no trusted proxy) and one
that trusts 127.0.0.1, the address the test client connects from.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.security.conftest import ADMIN, Server, assert_responsive, start_server, stop_server

FAILURES_ALLOWED = 5  # the default CHATBOT_SERVER__LOGIN_MAX_FAILURES
TOO_MANY = 429


@pytest.fixture(scope="module")
def default_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = start_server(tmp_path_factory.mktemp("forwarded-default"))
    try:
        yield s
    finally:
        stop_server(s)


@pytest.fixture(scope="module")
def proxied_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = start_server(
        tmp_path_factory.mktemp("forwarded-proxy"),
        {"CHATBOT_SERVER__TRUSTED_PROXIES": "127.0.0.1"},
    )
    try:
        yield s
    finally:
        stop_server(s)


def failed_sign_in(c: httpx.Client, forwarded_for: str) -> int:
    r = c.post(
        "/admin/login",
        data={"username": ADMIN[0], "password": "not the password"},
        headers={"X-Forwarded-For": forwarded_for},
    )
    return r.status_code


def test_forwarded_for_from_an_untrusted_client_does_not_escape_the_sign_in_limit(
    default_server: Server,
) -> None:
    with default_server.client() as c:
        codes = [failed_sign_in(c, f"203.0.113.{i}") for i in range(FAILURES_ALLOWED + 1)]
        assert codes[:FAILURES_ALLOWED] == [400] * FAILURES_ALLOWED
        assert codes[-1] == TOO_MANY, codes
        # The right password from a "new" forwarded address is refused too: the limit counts
        # the address the request really came from.
        name, password = ADMIN
        r = c.post(
            "/admin/login",
            data={"username": name, "password": password},
            headers={"X-Forwarded-For": "198.51.100.1"},
        )
        assert r.status_code == TOO_MANY
        # Nor does it make the connection count as HTTPS.
        page = c.get("/", headers={"X-Forwarded-Proto": "https"})
        assert "strict-transport-security" not in page.headers
    assert_responsive(default_server)


def test_a_trusted_proxy_names_the_client_and_the_scheme(proxied_server: Server) -> None:
    with proxied_server.client() as c:
        # Each forwarded address has its own count...
        codes = [failed_sign_in(c, f"203.0.113.{i}") for i in range(FAILURES_ALLOWED + 1)]
        assert codes == [400] * (FAILURES_ALLOWED + 1), codes
        # ...so one address is limited without locking out the others behind the proxy.
        same = [failed_sign_in(c, "198.51.100.7") for _ in range(FAILURES_ALLOWED + 1)]
        assert same[-1] == TOO_MANY, same
        name, password = ADMIN
        r = c.post(
            "/admin/login",
            data={"username": name, "password": password},
            headers={"X-Forwarded-For": "198.51.100.8"},
        )
        assert r.status_code == 200, r.text

        # The proxy says the browser used HTTPS: HSTS and Secure cookies.
        https = {"X-Forwarded-For": "198.51.100.9", "X-Forwarded-Proto": "https"}
        page = c.get("/", headers=https)
        assert page.headers["strict-transport-security"].startswith("max-age=")
        signed_in = c.post(
            "/admin/login",
            data={"username": name, "password": password},
            headers={**https, "Origin": f"https://{c.base_url.netloc.decode()}"},
        )
        assert signed_in.status_code == 200, signed_in.text
        cookies = signed_in.headers.get_list("set-cookie")
        assert cookies and all("secure" in x.lower().split("; ") for x in cookies), cookies
    assert_responsive(proxied_server)
