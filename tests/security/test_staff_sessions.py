"""Console sessions end when the password changes or the user is removed, over HTTP.

`chatbot users passwd` and `chatbot users remove` run in their own process, as an admin would
run them, while the server keeps going; the sessions opened before must be refused from then
on (401 from the console's API, the sign-in form for the page), within about a second.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.security.conftest import (
    ADMIN,
    AGENT,
    Server,
    admin,
    agent,
    assert_responsive,
    login,
    start_server,
    stop_server,
)

ENDS_WITHIN_S = 3.0
NEW_PASSWORD = "a new agent password 2"


def signed_in(c: httpx.Client) -> bool:
    r = c.get("/admin/config")
    assert r.status_code in (200, 401), r.text
    return r.status_code == 200


def refused_within(c: httpx.Client, within_s: float = ENDS_WITHIN_S) -> bool:
    deadline = time.monotonic() + within_s
    while signed_in(c):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def shows_sign_in_form(c: httpx.Client) -> bool:
    page = c.get("/admin/")
    assert page.status_code == 200
    return '"auth_required":true' in page.text.replace(" ", "")


def sign_in_status(server: Server, name: str, password: str) -> int:
    with server.client() as c:
        return c.post("/admin/login", data={"username": name, "password": password}).status_code


def test_a_new_password_or_removal_ends_the_users_sessions(tmp_path: Path) -> None:
    server = start_server(tmp_path / "sessions")
    try:
        first, second, boss = agent(server), agent(server), admin(server)
        assert signed_in(first) and signed_in(second) and signed_in(boss)
        assert not shows_sign_in_form(first)

        changed = server.cli("users", "passwd", AGENT[0], "--password-stdin", input=NEW_PASSWORD)
        assert changed.returncode == 0, changed.stdout + changed.stderr
        assert refused_within(first), "the agent's session outlived the password change"
        assert not signed_in(second)  # every session of that user
        assert first.get("/admin/gradio_api/info").status_code == 401
        assert shows_sign_in_form(first)
        assert signed_in(boss)  # other users keep theirs
        assert sign_in_status(server, *AGENT) == 400  # the old password is refused
        renewed = login(server, AGENT[0], NEW_PASSWORD)
        assert signed_in(renewed)

        # The last admin cannot be removed; the agent can, and that ends their session too.
        last = server.cli("users", "remove", ADMIN[0], "--yes")
        assert last.returncode == 1 and "last admin" in last.stderr
        removed = server.cli("users", "remove", AGENT[0], "--yes")
        assert removed.returncode == 0, removed.stdout + removed.stderr
        assert refused_within(renewed), "the removed agent's session outlived the removal"
        assert sign_in_status(server, AGENT[0], NEW_PASSWORD) == 400
        assert signed_in(boss)
        for c in (first, second, boss, renewed):
            c.close()
        assert_responsive(server)
    finally:
        stop_server(server)
