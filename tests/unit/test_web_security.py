"""Cross-site refusal, security headers, cookie attributes, CORS and trusted proxies
(chatbot.web.security), on a small app and on the real `create_app`."""

from __future__ import annotations

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.testclient import TestClient

from chatbot.container import Services
from chatbot.core.origins import normalize_origin
from chatbot.settings import ServerSettings, Settings
from chatbot.web.app import create_app
from chatbot.web.security.install import install_web_security
from chatbot.web.security.policy import content_security_policy, harden_cookie

EVIL = "https://evil.example"
SHOP = "https://shop.example"
HOST = "http://support.example"


def small_app(**server: object) -> FastAPI:
    app = FastAPI()

    @app.get("/who")
    def who(request: Request) -> JSONResponse:
        host = request.client.host if request.client else None
        return JSONResponse({"client": host, "scheme": request.url.scheme})

    @app.post("/change")
    def change() -> JSONResponse:
        response = JSONResponse({"changed": True})
        response.set_cookie("session", "s1", httponly=True, samesite="none", secure=True)
        response.set_cookie("strict", "s2", samesite="strict")
        return response

    install_web_security(app, ServerSettings(**server), eval_paths=["/admin"])  # type: ignore[arg-type]
    return app


# --- settings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://Shop.Example", "https://shop.example"),
        ("https://shop.example:443/", "https://shop.example"),
        ("http://10.0.0.5:8080", "http://10.0.0.5:8080"),
        ("http://[::1]:80", "http://[::1]"),
        ("null", None),
        ("https://shop.example/path", None),
        ("ftp://shop.example", None),
        ("https://user@shop.example", None),
        ("http://shop.example:99999", None),
    ],
)
def test_normalize_origin(value: str, expected: str | None) -> None:
    assert normalize_origin(value) == expected


def test_settings_read_comma_separated_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "CHATBOT_SERVER__ALLOWED_ORIGINS", "https://Shop.Example, http://a.example:81"
    )
    monkeypatch.setenv("CHATBOT_SERVER__TRUSTED_PROXIES", "127.0.0.1,10.1.2.3/8")
    server = Settings().server
    assert server.allowed_origins == ["https://shop.example", "http://a.example:81"]
    assert server.trusted_proxies == ["127.0.0.1", "10.0.0.0/8"]


def test_settings_default_to_this_site_and_no_proxy() -> None:
    server = Settings().server
    assert server.allowed_origins == []
    assert server.trusted_proxies == []


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("ALLOWED_ORIGINS", "shop.example", "is not a web origin"),
        ("ALLOWED_ORIGINS", "https://shop.example/faq", "is not a web origin"),
        ("TRUSTED_PROXIES", "proxy.local", "is not an IP address or network"),
        ("TRUSTED_PROXIES", "*", "is not an IP address or network"),
    ],
)
def test_settings_refuse_malformed_entries(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(f"CHATBOT_SERVER__{variable}", value)
    with pytest.raises(ValidationError, match=message):
        Settings()


# --- policy -----------------------------------------------------------------------------


def test_cookie_gets_same_site_lax_and_secure_over_https() -> None:
    cookie = "access-token-x=abc; HttpOnly; Path=/; SameSite=none; Secure"
    assert (
        harden_cookie(cookie, https=False)
        == "access-token-x=abc; HttpOnly; Path=/; Secure; SameSite=Lax"
    )
    plain = "access-token-unsecure-x=abc; HttpOnly; Path=/; SameSite=lax"
    assert harden_cookie(plain, https=True) == (
        "access-token-unsecure-x=abc; HttpOnly; Path=/; Secure; SameSite=Lax"
    )
    assert harden_cookie("a=b; SameSite=Strict", https=False) == "a=b; SameSite=Strict"
    assert harden_cookie("a=b", https=False) == "a=b; SameSite=Lax"


def test_csp_frames_only_this_site_and_allowed_origins() -> None:
    csp = content_security_policy([SHOP], allow_eval=False)
    assert f"frame-ancestors 'self' {SHOP}" in csp
    assert "'unsafe-eval'" not in csp
    assert "img-src 'self' data: blob:" in csp
    assert "'unsafe-eval'" in content_security_policy([], allow_eval=True)


# --- middleware -------------------------------------------------------------------------


def test_cross_site_post_is_refused_with_a_clear_message() -> None:
    c = TestClient(small_app(), base_url=HOST)
    r = c.post("/change", headers={"Origin": EVIL})
    assert r.status_code == 403
    detail = r.json()["detail"]
    assert EVIL in detail and HOST in detail and "CHATBOT_SERVER__ALLOWED_ORIGINS" in detail
    assert r.headers["x-frame-options"] == "SAMEORIGIN"
    assert "set-cookie" not in r.headers


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "null"},
        {"Referer": f"{EVIL}/attack.html"},
        {"Origin": "http://support.example.evil.example"},
        {"Origin": "https://support.example"},  # other scheme: another origin
    ],
)
def test_other_sources_are_refused(headers: dict[str, str]) -> None:
    c = TestClient(small_app(), base_url=HOST)
    assert c.post("/change", headers=headers).status_code == 403


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": HOST},
        {"Origin": "http://SUPPORT.example:80"},
        {"Referer": f"{HOST}/admin/"},
        {},  # no browser page sent it
    ],
)
def test_same_site_and_pageless_posts_pass(headers: dict[str, str]) -> None:
    c = TestClient(small_app(), base_url=HOST)
    r = c.post("/change", headers=headers)
    assert r.status_code == 200, r.text


def test_allowed_origin_may_post_and_read_with_credentials() -> None:
    c = TestClient(small_app(allowed_origins=[SHOP]), base_url=HOST)
    r = c.post("/change", headers={"Origin": SHOP})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == SHOP
    assert r.headers["access-control-allow-credentials"] == "true"
    assert f"frame-ancestors 'self' {SHOP}" in r.headers["content-security-policy"]
    assert c.post("/change", headers={"Origin": EVIL}).status_code == 403


def test_other_origins_get_no_cors_headers() -> None:
    c = TestClient(small_app(), base_url=HOST)
    r = c.get("/who", headers={"Origin": EVIL})
    assert r.status_code == 200
    assert not [k for k in r.headers if k.startswith("access-control-")]
    preflight = c.options(
        "/change", headers={"Origin": EVIL, "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_headers_and_cookies_on_every_response() -> None:
    c = TestClient(small_app(), base_url=HOST)
    for r in (c.get("/who"), c.get("/missing"), c.post("/change")):
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "same-origin"
        assert "frame-ancestors 'self'" in r.headers["content-security-policy"]
        assert "strict-transport-security" not in r.headers
    cookies = c.post("/change").headers.get_list("set-cookie")
    assert [x.rsplit("; ", 1)[1] for x in cookies] == ["SameSite=Lax", "SameSite=Strict"]


def test_console_pages_allow_eval_for_charts_and_the_customer_page_does_not() -> None:
    c = TestClient(small_app(), base_url=HOST)
    assert "'unsafe-eval'" in c.get("/admin/").headers["content-security-policy"]
    assert "'unsafe-eval'" not in c.get("/who").headers["content-security-policy"]
    assert "'unsafe-eval'" not in c.get("/administrator").headers["content-security-policy"]


def test_https_adds_hsts_and_secure_cookies() -> None:
    c = TestClient(small_app(), base_url="https://support.example")
    r = c.post("/change", headers={"Origin": "https://support.example"})
    assert r.status_code == 200
    assert r.headers["strict-transport-security"].startswith("max-age=")
    assert all("; Secure" in x for x in r.headers.get_list("set-cookie"))


def test_forwarded_headers_are_ignored_without_trusted_proxies() -> None:
    c = TestClient(small_app(), base_url=HOST, client=("127.0.0.1", 5000))
    r = c.get("/who", headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"})
    assert r.json() == {"client": "127.0.0.1", "scheme": "http"}


def test_forwarded_headers_from_a_trusted_proxy_name_the_client_and_scheme() -> None:
    app = small_app(trusted_proxies=["127.0.0.1"])
    forwarded = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    proxy = TestClient(app, base_url=HOST, client=("127.0.0.1", 5000))
    r = proxy.get("/who", headers=forwarded)
    assert r.json() == {"client": "203.0.113.9", "scheme": "https"}
    assert "strict-transport-security" in r.headers
    other = TestClient(app, base_url=HOST, client=("198.51.100.7", 5000))
    assert other.get("/who", headers=forwarded).json() == {
        "client": "198.51.100.7",
        "scheme": "http",
    }


# --- the real app -----------------------------------------------------------------------


def test_gradio_pages_echo_no_origin_and_send_the_headers(services: Services) -> None:
    c = TestClient(create_app(services), base_url=HOST)
    for path in ("/", "/config", "/admin/", "/gradio_api/info"):
        r = c.get(path, headers={"Origin": EVIL})
        assert r.status_code in (200, 401), (path, r.status_code)
        assert "access-control-allow-origin" not in r.headers, path
        assert "access-control-allow-credentials" not in r.headers, path
        assert r.headers["x-frame-options"] == "SAMEORIGIN", path
    r = c.post("/admin/login", data={"username": "x", "password": "y"}, headers={"Origin": EVIL})
    assert r.status_code == 403
