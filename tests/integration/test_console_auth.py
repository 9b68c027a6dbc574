"""The real web app over real HTTP: uvicorn in a background thread, httpx as the browser.

The customer chat at `/` is public; the staff console at `/admin` and all of its API routes
need the session cookie from `POST /admin/login`; agents may not delete. Test doubles
(hash embedder, scripted generator) keep it fast: no packaged models are loaded.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from chatbot.container import Services
from chatbot.generation.base import ChatMessage
from chatbot.generation.scripted import ScriptedGenerator
from chatbot.web.app import create_app

ADMIN = ("boss", "admin password 1")
AGENT = ("ann", "agent password 1")
FAQ = (
    "id,question,answer\n"
    "hours,When are you open?,We are open 9 to 5 on weekdays.\n"
    "parking,Is there parking?,The car park behind the shop is free.\n"
)
UNAUTHORIZED = 401


@pytest.fixture
def base_url(services: Services) -> Iterator[str]:
    services.accounts.add(*ADMIN, role="admin")
    services.accounts.add(*AGENT, role="agent")
    assert services.kb.ingest_bytes("faq.csv", FAQ.encode()).ok
    app = create_app(services)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=15)
    sock.close()


def client(base_url: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=30)


def login(base_url: str, name: str, password: str) -> httpx.Client:
    c = client(base_url)
    r = c.post("/admin/login", data={"username": name, "password": password})
    assert r.status_code == 200, r.text
    return c


def call(c: httpx.Client, prefix: str, api: str, *inputs: Any) -> tuple[str, Any]:
    """Run a Gradio endpoint through its HTTP API: (last SSE event, its data)."""
    r = c.post(f"{prefix}/gradio_api/call/{api}", json={"data": list(inputs)})
    assert r.status_code == 200, r.text
    event_id = r.json()["event_id"]
    event, data = "", None
    with c.stream("GET", f"{prefix}/gradio_api/call/{api}/{event_id}") as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                event, data = line.removeprefix("event:").strip(), None
            elif line.startswith("data:"):
                data = json.loads(line.removeprefix("data:"))
            if event in ("complete", "error") and data is not None:
                break
    return event, data


def ask(c: httpx.Client, question: str) -> tuple[str, Any]:
    """One customer turn through the public chat API. Session state inputs (after the
    textbox and the chat history) are sent empty; the server keeps its own."""
    [chat] = [d for d in c.get("/config").json()["dependencies"] if d.get("api_name") == "chat"]
    return call(c, "", "chat", question, [], *[None] * (len(chat["inputs"]) - 2))


def document_names(services: Services) -> list[str]:
    return [d.name for d in services.kb.documents()]


def test_public_chat_page_is_open_and_has_only_the_chat(base_url: str, services: Services) -> None:
    c = client(base_url)
    page = c.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    config = c.get("/config")
    assert config.status_code == 200
    ids = {comp.get("props", {}).get("elem_id") for comp in config.json()["components"]}
    assert "chatbot" in ids
    assert not {i for i in ids if i and i.startswith(("kb-", "review-", "audit-"))}
    assert "faq.csv" not in config.text
    assert config.json()["footer_links"] == []  # no API docs / settings links for customers
    assert client(base_url).get("/admin/config").status_code == UNAUTHORIZED

    event, data = ask(c, "When are you open?")
    assert event == "complete", data
    history = data[0]  # the conversation id is session state, not sent to API callers
    assert history[-1]["role"] == "assistant"
    answer = json.dumps(history[-1]["content"])
    assert "We are open 9 to 5" in answer and "went wrong" not in answer
    assert len(services.conversations.recent()) == 1

    # The staff endpoints do not exist on the public page.
    r = c.post("/gradio_api/call/delete_document", json={"data": ["faq.csv"]})
    assert r.status_code != 200


def test_console_and_its_api_are_refused_without_login(base_url: str, services: Services) -> None:
    c = client(base_url)
    redirect = c.get("/admin")
    assert redirect.status_code in (301, 302, 307, 308)
    assert redirect.headers["location"].endswith("/admin/")
    page = c.get("/admin/")
    # The page is only the login form: no console components, no data.
    assert page.status_code == 200
    assert '"auth_required":true' in page.text.replace(" ", "")
    assert "kb-files" not in page.text and "faq.csv" not in page.text

    refused = [
        c.get("/admin/config"),
        c.get("/admin/gradio_api/info"),
        c.get("/admin/gradio_api/openapi.json"),
        c.post("/admin/gradio_api/call/delete_document", json={"data": ["faq.csv"]}),
        c.post("/admin/gradio_api/call/upload_files", json={"data": [[]]}),
        c.post("/admin/gradio_api/call/audit_log", json={"data": []}),
        c.post("/admin/gradio_api/run/delete_document", json={"data": ["faq.csv"]}),
        c.post(
            "/admin/gradio_api/queue/join",
            json={"data": ["faq.csv"], "fn_index": 0, "session_hash": "x"},
        ),
        c.get("/admin/gradio_api/queue/data", params={"session_hash": "x"}),
        c.post("/admin/gradio_api/upload", files=[("files", ("x.csv", b"question,answer\n"))]),
        c.get(f"/admin/gradio_api/file={services.settings.data_dir.resolve() / 'chatbot.db'}"),
    ]
    assert [r.status_code for r in refused] == [UNAUTHORIZED] * len(refused)
    assert all("faq.csv" not in r.text for r in refused)

    # A made-up session cookie is no better.
    forged = client(base_url)
    forged.cookies.set("access-token-unsecure-x", "made-up")
    assert forged.get("/admin/config").status_code == UNAUTHORIZED
    assert document_names(services) == ["faq.csv"]


def test_login_sets_a_session_cookie_and_logout_ends_it(base_url: str) -> None:
    c = client(base_url)
    for name, password in [(ADMIN[0], "wrong password"), ("nobody", ADMIN[1]), (ADMIN[0], "")]:
        r = c.post("/admin/login", data={"username": name, "password": password})
        assert r.status_code in (400, 401, 422), r.text
        assert not c.cookies
    assert c.get("/admin/config").status_code == UNAUTHORIZED

    r = c.post("/admin/login", data={"username": ADMIN[0], "password": ADMIN[1]})
    assert r.status_code == 200 and r.json() == {"success": True}
    assert any(name.startswith("access-token") for name in c.cookies)
    config = c.get("/admin/config")
    assert config.status_code == 200
    assert config.json()["username"] == ADMIN[0]
    ids = {comp.get("props", {}).get("elem_id") for comp in config.json()["components"]}
    assert {"kb-files", "kb-delete", "audit-entries"} <= ids
    assert c.get("/admin/gradio_api/info").status_code == 200

    assert c.get("/admin/logout").status_code in (200, 302, 307)
    assert c.get("/admin/config").status_code == UNAUTHORIZED


def test_agent_may_not_delete_admin_may_and_both_are_audited(
    base_url: str, services: Services
) -> None:
    agent = login(base_url, *AGENT)
    admin = login(base_url, *ADMIN)

    # Agents may upload.
    r = agent.post(
        "/admin/gradio_api/upload",
        files=[("files", ("extra.csv", b"question,answer\nDo you gift wrap?,Yes.\n", "text/csv"))],
    )
    assert r.status_code == 200, r.text
    [path] = r.json()
    event, data = call(
        agent, "/admin", "upload_files", [{"path": path, "meta": {"_type": "gradio.FileData"}}]
    )
    assert event == "complete", data
    assert data[0] == "✅ extra.csv: 2 passages added"

    # The public page does not serve what staff uploaded; the console does, to staff only.
    assert client(base_url).get(f"/gradio_api/file={path}").status_code == 403
    assert client(base_url).get(f"/admin/gradio_api/file={path}").status_code == UNAUTHORIZED
    assert agent.get(f"/admin/gradio_api/file={path}").status_code == 200

    event, data = call(agent, "/admin", "delete_document", "faq.csv")
    assert event == "complete", data
    assert data[0] == (
        "⛔ Only an admin can delete documents; you are signed in as ann (agent). Ask an admin."
    )
    assert sorted(document_names(services)) == ["extra.csv", "faq.csv"]
    event, data = call(agent, "/admin", "delete_faq_entry", "hours")
    assert event == "complete", data
    assert data[0].startswith("⛔ Only an admin can delete FAQ entries")
    assert services.kb.get_faq_entry("hours") is not None

    event, data = call(admin, "/admin", "delete_document", "faq.csv")
    assert event == "complete", data
    assert data[0] == "🗑️ Deleted faq.csv."
    assert document_names(services) == ["extra.csv"]

    event, data = call(agent, "/admin", "audit_log")
    assert data[0].startswith("⛔ Only an admin can see the audit log")
    event, data = call(admin, "/admin", "audit_log")
    assert event == "complete", data
    rows = [row[1:4] for row in data[1]["data"]]
    assert rows == [
        ["boss", "kb.delete_document", "faq.csv"],
        ["ann", "kb.upload", "extra.csv"],
    ]


class MeetingGenerator(ScriptedGenerator):
    """Answers only once two chat turns are generating at the same time."""

    name = "meeting"

    def __init__(self) -> None:
        super().__init__()
        self.barrier = threading.Barrier(2, timeout=10)

    def stream(
        self, messages: list[ChatMessage], max_new_tokens: int, *, deadline: float | None = None
    ) -> Iterator[str]:
        self.barrier.wait()
        yield "We are open 9 to 5 on weekdays."


def test_customers_are_answered_concurrently(base_url: str, services: Services) -> None:
    services.dialogue.generator = MeetingGenerator()
    services.dialogue.approved_answers = False  # every answer goes through the generator
    results: list[tuple[str, Any]] = []

    def customer(question: str) -> None:
        results.append(ask(client(base_url), question))

    threads = [threading.Thread(target=customer, args=("When are you open?",)) for _ in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(results) == 2
    for event, data in results:
        assert event == "complete", data
        answer = json.dumps(data[0][-1]["content"])
        assert "We are open 9 to 5" in answer and "went wrong" not in answer


def test_too_many_failed_sign_ins_make_the_address_wait(base_url: str, services: Services) -> None:
    limit = services.settings.server.login_max_failures
    c = client(base_url)
    for _ in range(limit):
        r = c.post("/admin/login", data={"username": ADMIN[0], "password": "wrong password"})
        assert r.status_code == 400, r.text
    # Now even the right password is refused, without being checked, until the window passes.
    r = c.post("/admin/login", data={"username": ADMIN[0], "password": ADMIN[1]})
    assert r.status_code == 429
    assert "Too many failed sign-ins" in r.json()["detail"]
    wait = int(r.headers["Retry-After"])
    assert 0 < wait <= services.settings.server.login_window_seconds
    unit = "second" if wait == 1 else "seconds"
    assert r.json()["detail"].endswith(f"Try again in {wait} {unit}.")
    assert not c.cookies
    # The rest of the app is not affected: the customer chat still answers.
    assert client(base_url).get("/").status_code == 200


def test_a_successful_sign_in_clears_earlier_failures(base_url: str, services: Services) -> None:
    limit = services.settings.server.login_max_failures
    c = client(base_url)
    for _ in range(limit - 1):
        assert c.post("/admin/login", data={"username": "x", "password": "y"}).status_code == 400
    login(base_url, *AGENT)
    for _ in range(limit - 1):  # counting starts again from zero
        assert c.post("/admin/login", data={"username": "x", "password": "y"}).status_code == 400
    login(base_url, *ADMIN)
