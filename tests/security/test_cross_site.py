"""Other sites' pages can neither read the app with a visitor's cookies nor change anything
through them; the session cookie is SameSite=Lax; every response carries the security
headers.

The server is addressed with a Host that is not localhost (as it is on the internet), and
the attacking page's Origin is https://evil.example.
"""

from __future__ import annotations

from contextlib import closing

import httpx

from tests.security.conftest import ADMIN, Server, admin, assert_responsive, fn_index

HOST = "support.example"
OWN = f"http://{HOST}"
EVIL = "https://evil.example"
SECURITY_HEADERS = ("x-content-type-options", "x-frame-options", "content-security-policy")


def as_seen_from(c: httpx.Client, origin: str) -> httpx.Client:
    c.headers.update({"Host": HOST, "Origin": origin})
    return c


def assert_no_cors(r: httpx.Response) -> None:
    assert "access-control-allow-origin" not in r.headers, r.headers
    assert "access-control-allow-credentials" not in r.headers, r.headers


def test_other_sites_cannot_read_or_change_the_console_with_an_admin_cookie(
    server: Server,
) -> None:
    with closing(as_seen_from(admin(server), EVIL)) as c:
        for path in ("/admin/config", "/admin/gradio_api/info", "/config"):
            r = c.get(path)
            assert r.status_code == 200, (path, r.status_code)
            assert_no_cors(r)
        preflight = c.options(
            "/admin/gradio_api/queue/join",
            headers={
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert_no_cors(preflight)

        documents = fn_index(c, "/admin", "documents")
        join = c.post(
            "/admin/gradio_api/queue/join",
            json={"data": [], "fn_index": documents, "session_hash": "evil0000001"},
        )
        assert join.status_code == 403, join.text
        assert "cross-site" in join.json()["detail"]
        assert "CHATBOT_SERVER__ALLOWED_ORIGINS" in join.json()["detail"]
        assert_no_cors(join)
        assert c.post("/admin/gradio_api/call/documents", json={"data": []}).status_code == 403

        # A multipart form needs no preflight, so it is refused on its Origin alone.
        upload = c.post(
            "/admin/gradio_api/upload",
            files={"files": ("evil.csv", b"id,question,answer\nx,q,a\n", "text/csv")},
        )
        assert upload.status_code == 403, upload.text
        # Nor can another site sign a visitor in (login CSRF).
        login = c.post("/admin/login", data={"username": "admin", "password": "x" * 12})
        assert login.status_code == 403
        # The page's own origin still works with the same cookie.
        c.headers["Origin"] = OWN
        own = c.post("/admin/gradio_api/call/documents", json={"data": []})
        assert own.status_code == 200, own.text
    assert_responsive(server)


def test_referer_from_another_site_is_refused_too(server: Server) -> None:
    with closing(admin(server)) as c:
        c.headers.update({"Host": HOST, "Referer": f"{EVIL}/page.html"})
        r = c.post("/admin/gradio_api/call/documents", json={"data": []})
        assert r.status_code == 403, r.text
    assert_responsive(server)


def test_session_cookies_are_same_site_lax_or_strict(server: Server) -> None:
    with server.client(headers={"Host": HOST, "Origin": OWN}) as c:
        name, password = ADMIN
        r = c.post("/admin/login", data={"username": name, "password": password})
        assert r.status_code == 200, r.text
        cookies = r.headers.get_list("set-cookie")
    assert [x for x in cookies if x.startswith("access-token")], cookies
    for cookie in cookies:
        attributes = [a.strip().lower() for a in cookie.split(";")]
        assert "samesite=lax" in attributes or "samesite=strict" in attributes, cookie
        assert "samesite=none" not in attributes, cookie
    assert_responsive(server)


def test_security_headers_on_every_response(server: Server) -> None:
    with closing(admin(server)) as staff, server.client() as anonymous:
        responses = {
            "/": anonymous.get("/"),
            "/admin/ (signed out)": anonymous.get("/admin/"),
            "/admin/": staff.get("/admin/"),
            "/config": anonymous.get("/config"),
            "/gradio_api/info": anonymous.get("/gradio_api/info"),
            "/admin/gradio_api/info": staff.get("/admin/gradio_api/info"),
            "/admin/gradio_api/info (signed out)": anonymous.get("/admin/gradio_api/info"),
            "/gradio_api/queue/join (bad)": anonymous.post("/gradio_api/queue/join", json={}),
            "/theme.css": anonymous.get("/theme.css"),
            "/missing": anonymous.get("/no-such-page"),
        }
    for name, r in responses.items():
        for header in SECURITY_HEADERS:
            assert header in r.headers, (name, r.status_code, header)
        assert r.headers["x-content-type-options"] == "nosniff", name
        assert r.headers["x-frame-options"] == "SAMEORIGIN", name
        assert "frame-ancestors 'self'" in r.headers["content-security-policy"], name
        assert r.headers["referrer-policy"] == "same-origin", name
        assert "strict-transport-security" not in r.headers, name  # plain HTTP
    csp = responses["/"].headers["content-security-policy"]
    assert "img-src 'self' data: blob:" in csp
    assert "'unsafe-eval'" not in csp
    assert_responsive(server)
