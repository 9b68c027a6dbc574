"""`GET /widget.js` and CORS on the API the widget calls from a shop's pages: answered for
the allowed origins (preflight, JSON and the SSE stream), refused for any other."""

from __future__ import annotations

import httpx
import pytest

from chatbot.container import Services
from chatbot.settings import ServerSettings, Settings
from chatbot.web.widget.routes import widget_source
from tests.unit.api_server import FAQ_CSV, bearer, client, new_key, parse_sse, served

SHOP = "http://shop.example:8001"
OTHER = "http://evil.example"
ACAO = "access-control-allow-origin"


def allowing(services: Services, *origins: str) -> Services:
    server = ServerSettings(allowed_origins=list(origins))
    services.settings = Settings.model_validate(services.settings.model_dump() | {"server": server})
    return services


def test_the_widget_script_is_served_as_javascript_with_short_caching(
    services: Services,
) -> None:
    with served(services) as url, client(url) as c:
        r = c.get("/widget.js")
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/javascript; charset=utf-8"
        assert r.headers["cache-control"] == "public, max-age=300"
        assert r.headers["x-content-type-options"] == "nosniff"  # hence the exact type
        assert r.content == widget_source()
        assert b"attachShadow" in r.content and b"/api/v1/conversations" in r.content
        etag = r.headers["etag"]
        again = c.get("/widget.js", headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == etag
        assert c.get("/widget.js", headers={"If-None-Match": '"stale"'}).status_code == 200


def test_the_widget_never_sets_server_text_as_html() -> None:
    source = widget_source().decode()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in source


def preflight(c: httpx.Client, path: str, origin: str, headers: str) -> httpx.Response:
    return c.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": headers,
        },
    )


def test_the_api_answers_cors_for_an_allowed_origin_sse_included(services: Services) -> None:
    allowing(services, SHOP)
    assert services.kb.ingest_bytes("faq.csv", FAQ_CSV.encode()).ok
    key = new_key(services, "customer")
    with served(services) as url, client(url) as c:
        r = preflight(c, "/api/v1/conversations", SHOP, "authorization,content-type")
        assert r.status_code == 200
        assert r.headers[ACAO] == SHOP
        allowed = r.headers["access-control-allow-headers"].lower()
        assert "authorization" in allowed and "content-type" in allowed
        assert "POST" in r.headers["access-control-allow-methods"]

        r = c.post("/api/v1/conversations", headers=bearer(key, Origin=SHOP))
        assert r.status_code == 201 and r.headers[ACAO] == SHOP
        cid, token = r.json()["id"], r.json()["token"]

        path = f"/api/v1/conversations/{cid}/messages"
        r = preflight(c, path, SHOP, "authorization,content-type,x-conversation-token")
        assert r.status_code == 200 and r.headers[ACAO] == SHOP
        assert "x-conversation-token" in r.headers["access-control-allow-headers"].lower()
        r = c.post(
            path,
            json={"text": "When are you open?", "stream": True},
            headers=bearer(key, Origin=SHOP, **{"X-Conversation-Token": token}),
        )
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers[ACAO] == SHOP
        assert [e for e, _ in parse_sse(r.text)][-1] == "final"

        # Errors are readable too, so the widget can tell a refusal from a network failure.
        r = c.post("/api/v1/conversations", headers={"Origin": SHOP})
        assert r.status_code == 401 and r.headers[ACAO] == SHOP


def test_the_api_gives_other_origins_no_cors_headers(services: Services) -> None:
    allowing(services, SHOP)
    key = new_key(services, "customer")
    with served(services) as url, client(url) as c:
        r = preflight(c, "/api/v1/conversations", OTHER, "authorization,content-type")
        assert ACAO not in r.headers and r.status_code >= 400
        # A POST a page on another site makes anyway (no preflight) is refused outright.
        r = c.post("/api/v1/conversations", headers=bearer(key, Origin=OTHER))
        assert r.status_code == 403 and ACAO not in r.headers
        assert c.post("/api/v1/conversations", headers=bearer(key)).status_code == 201
        r = c.get("/widget.js", headers={"Origin": OTHER})
        assert r.status_code == 200 and ACAO not in r.headers  # a <script> needs no CORS


@pytest.mark.parametrize("origin", [SHOP, OTHER])
def test_without_allowed_origins_no_origin_gets_cors_headers(
    services: Services, origin: str
) -> None:
    key = new_key(services, "customer")
    with served(services) as url, client(url) as c:
        r = preflight(c, "/api/v1/conversations", origin, "authorization")
        assert ACAO not in r.headers
        r = c.post("/api/v1/conversations", headers=bearer(key, Origin=origin))
        assert r.status_code == 403 and ACAO not in r.headers
