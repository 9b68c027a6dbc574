"""The staff console's pages and role checks, with handlers called directly (no server; the
real HTTP login is tested in tests/integration/test_console_auth.py)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import gradio as gr
import httpx
import pytest
import uvicorn
from gradio.helpers import special_args

from chatbot.container import Services
from chatbot.generation.base import ChatMessage
from chatbot.generation.scripted import ScriptedGenerator
from chatbot.settings import Settings
from chatbot.staff.actor import Forbidden, require_admin
from chatbot.ui import build_chat_page, build_console
from chatbot.ui.audit import AUDIT_HEADERS, audit_table
from chatbot.ui.events import bind
from chatbot.ui.faq_entries import delete_entry, save_entry
from chatbot.ui.knowledge import delete_document, upload_files
from chatbot.ui.staff import LOCAL_ACTOR, current_actor, refusal, signed_in_line
from chatbot.web.app import create_app

FAQ_CSV = "id,question,answer\nhours,When are you open?,9 to 5 on weekdays.\n"


def as_user(name: str | None) -> gr.Request:
    return gr.Request(username=name)


def admin_refusal(services: Services, request: gr.Request | None, doing: str) -> str | None:
    """What the console shows a caller refused an admin-only thing (None: allowed)."""
    try:
        require_admin(current_actor(services, request), doing)
    except Forbidden as exc:
        return refusal(exc)
    return None


@pytest.fixture
def staffed(services: Services, tmp_path: Path) -> Services:
    services.accounts.add("boss", "admin password", "admin")
    services.accounts.add("ann", "agent password", "agent")
    faq = tmp_path / "faq.csv"
    faq.write_text(FAQ_CSV, encoding="utf-8")
    services.uploads.record("ann-session", [str(faq)])
    report, _ = upload_files(services, [str(faq)], request=in_session("ann", "ann-session"))
    assert report.startswith("✅ faq.csv"), report
    return services


def in_session(name: str, session: str) -> gr.Request:
    """A request of `name` signed in to the console with the session cookie `session`."""
    return gr.Request(username=name, cookies={"access-token-test": session})


def test_uploads_take_only_files_this_session_uploaded(staffed: Services, tmp_path: Path) -> None:
    secret = tmp_path / "server-secret.csv"
    secret.write_text("id,question,answer\nx,Secret?,The server's own file.\n", encoding="utf-8")
    theirs = tmp_path / "theirs.csv"
    theirs.write_text(FAQ_CSV.replace("hours", "theirs"), encoding="utf-8")
    staffed.uploads.record("boss-session", [str(theirs)])
    for path in (secret, theirs, Path("/etc/passwd")):
        report, _ = upload_files(staffed, [str(path)], request=in_session("ann", "ann-session"))
        assert "not uploaded in your session" in report, report
        report, _ = upload_files(staffed, [str(path)], request=as_user("ann"))  # no cookie
        assert "not uploaded in your session" in report, report
    assert {d.name for d in staffed.kb.documents()} == {"faq.csv"}
    report, _ = upload_files(staffed, [str(theirs)], request=in_session("boss", "boss-session"))
    assert report.startswith("✅ theirs.csv"), report


def element_ids(blocks: gr.Blocks) -> set[str]:
    return {b.elem_id for b in blocks.blocks.values() if getattr(b, "elem_id", None)}


def test_the_chat_page_has_only_the_chat(services: Services) -> None:
    page = build_chat_page(services)
    ids = element_ids(page)
    assert {"chatbot", "chat-input"} <= ids
    assert not {i for i in ids if i.startswith(("kb-", "review-", "audit-"))}
    # No lone "Chat" tab: the page is the shop's heading and the chat.
    assert not any(isinstance(b, gr.Tab) for b in page.blocks.values())
    assert "brand-header" in ids


def test_the_console_has_the_staff_tabs_and_no_chat(services: Services) -> None:
    console = build_console(services)
    assert console.title == "Staff console"
    ids = element_ids(console)
    assert {"kb-files", "review-conversations", "audit-entries", "console-logout"} <= ids
    assert "chatbot" not in ids
    tabs = [b.label for b in console.blocks.values() if isinstance(b, gr.Tab)]
    assert tabs[:2] == ["Knowledge base", "Conversations"]
    assert tabs[-1] == "Audit log"


class HeldGenerator(ScriptedGenerator):
    """Holds every turn that reaches the model until the test lets them all go, counting
    how many are being answered at once."""

    name = "held"

    def __init__(self) -> None:
        super().__init__()
        self.arrived = threading.Semaphore(0)
        self.go = threading.Event()
        self._lock = threading.Lock()
        self.answering = 0
        self.most = 0

    def stream(
        self, messages: list[ChatMessage], max_new_tokens: int, *, deadline: float | None = None
    ) -> Iterator[str]:
        with self._lock:
            self.answering += 1
            self.most = max(self.most, self.answering)
        self.arrived.release()
        try:
            if not self.go.wait(SERVER_WAIT_S):
                raise RuntimeError("the test never let the turn go on")
            yield "9 to 5 on weekdays."
        finally:
            with self._lock:
                self.answering -= 1


SERVER_WAIT_S = 30.0
# How long a turn over the limit is given to start, if the limit let it: it was queued
# before, so it would start at once.
OVER_THE_LIMIT_S = 1.0


@contextmanager
def served(services: Services) -> Iterator[str]:
    """The web app on a free local port (uvicorn in a thread); yields its address."""
    app = create_app(services)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + SERVER_WAIT_S
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def test_the_concurrency_setting_is_how_many_customers_are_answered_at_once(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CHATBOT_SERVER__CONCURRENCY=3: three chat turns are answered at the same time (each
    waits for the others), and a fourth, queued meanwhile, waits until one is done."""
    monkeypatch.setenv("CHATBOT_SERVER__CONCURRENCY", "3")
    # The server settings as an operator's environment sets them; the rest as the test's.
    services.settings = services.settings.model_copy(update={"server": Settings().server})
    assert services.settings.server.concurrency == 3
    held = HeldGenerator()
    services.dialogue.generator = held
    services.dialogue.approved_answers = False  # every answer goes through the generator
    assert services.kb.ingest_bytes("faq.csv", FAQ_CSV.encode()).ok
    with served(services) as url, httpx.Client(base_url=url, timeout=SERVER_WAIT_S) as c:
        [chat] = [d for d in c.get("/config").json()["dependencies"] if d.get("api_name") == "chat"]
        inputs: list[object] = ["When are you open?", [], *[None] * (len(chat["inputs"]) - 2)]
        events: list[str] = []
        for _ in range(4):  # all four queued before any is let go
            r = c.post("/gradio_api/call/chat", json={"data": inputs})
            assert r.status_code == 200, r.text
            events.append(r.json()["event_id"])
        results: dict[str, str] = {}

        def listen(event_id: str) -> None:
            with httpx.Client(base_url=url, timeout=SERVER_WAIT_S) as own:
                results[event_id] = own.get(f"/gradio_api/call/chat/{event_id}").text

        listeners = [threading.Thread(target=listen, args=(e,)) for e in events]
        for t in listeners:
            t.start()
        try:
            for n in range(3):
                assert held.arrived.acquire(timeout=SERVER_WAIT_S), f"only {n} answered at once"
            assert not held.arrived.acquire(timeout=OVER_THE_LIMIT_S), "a 4th was answered too"
            assert held.most == 3
        finally:
            held.go.set()
            for t in listeners:
                t.join(timeout=SERVER_WAIT_S)
    assert held.most == 3
    assert len(results) == 4
    for text in results.values():
        assert "event: complete" in text and "9 to 5 on weekdays." in text, text


def test_gradio_passes_the_request_to_bound_handlers(services: Services) -> None:
    request = as_user("ann")
    for fn, inputs in [
        (delete_document, ["faq.csv"]),
        (delete_entry, ["hours"]),
        (save_entry, ["", "Q?", "", "A.", "", ""]),
        (audit_table, []),
    ]:
        # The browser's time zone comes last, after the request.
        args, *_ = special_args(bind(fn, services), [*inputs, "UTC"], request=request)  # type: ignore[arg-type]
        assert args == [*inputs, request, "UTC"], fn.__name__
    args, progress_index, *_ = special_args(
        bind(upload_files, services), [["f.csv"], "UTC"], request=request
    )
    assert progress_index == 1 and args[2] is request and args[3] == "UTC"


def test_agent_cannot_delete_documents_admin_can(staffed: Services) -> None:
    message, table = delete_document(staffed, "faq.csv", request=as_user("ann"))
    assert message == (
        "⛔ Only an admin can delete documents; you are signed in as ann (agent). Ask an admin."
    )
    assert [row[0] for row in table] == ["faq.csv"]

    message, table = delete_document(staffed, "faq.csv", request=as_user("boss"))
    assert message == "🗑️ Deleted faq.csv." and table == []
    actions = [(e.actor, e.action, e.target) for e in staffed.audit.recent()]
    assert actions == [("boss", "kb.delete_document", "faq.csv"), ("ann", "kb.upload", "faq.csv")]
    assert staffed.audit.recent()[-1].details == "added, 2 passages"


def test_agent_can_save_but_not_delete_faq_entries(staffed: Services) -> None:
    message, *_ = save_entry(
        staffed, "hours", "When are you open?", "", "9 to 6 now.", "", "", request=as_user("ann")
    )
    assert message.startswith("✅ Saved `hours`")
    out = delete_entry(staffed, "hours", request=as_user("ann"))
    assert out[0].startswith("⛔ Only an admin can delete FAQ entries")
    assert staffed.kb.get_faq_entry("hours") is not None

    out = delete_entry(staffed, "hours", request=as_user("boss"))
    assert out[0] == "🗑️ Deleted `hours`."
    assert staffed.kb.get_faq_entry("hours") is None
    actions = [(e.actor, e.action, e.target, e.details) for e in staffed.audit.recent(2)]
    assert actions == [
        ("boss", "kb.delete_faq_entry", "hours", ""),
        ("ann", "kb.save_faq_entry", "hours", "edited"),
    ]


def test_refusals_for_unknown_and_anonymous_callers(staffed: Services) -> None:
    assert admin_refusal(staffed, as_user("boss"), "x") is None
    assert admin_refusal(staffed, None, "x") is None  # a direct Python call
    assert admin_refusal(staffed, as_user(None), "delete documents") == (
        "⛔ Sign in to the staff console to delete documents."
    )
    refusal = admin_refusal(staffed, as_user("ghost"), "delete documents")
    assert refusal is not None and "no longer a staff user" in refusal


def test_audit_tab_is_for_admins(staffed: Services) -> None:
    caption, rows = audit_table(staffed, as_user("ann"))
    assert caption.startswith("⛔ Only an admin can see the audit log") and rows == []
    caption, rows = audit_table(staffed, as_user("boss"))
    assert caption == "The latest 1 staff actions, newest first."
    assert len(rows[0]) == len(AUDIT_HEADERS)
    assert rows[0][1:4] == ["ann", "kb.upload", "faq.csv"]
    staffed.audit.record(LOCAL_ACTOR, "kb.upload", "x.csv")
    assert len(audit_table(staffed)[1]) == 2


def test_signed_in_line(staffed: Services) -> None:
    assert signed_in_line(staffed, as_user("boss")) == "Signed in as **boss** (admin)"
    assert signed_in_line(staffed, as_user("ann")) == "Signed in as **ann** (agent)"
    assert signed_in_line(staffed, None) == "Not signed in."
