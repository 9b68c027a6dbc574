"""The staff console's pages and role checks, with handlers called directly (no server; the
real HTTP login is tested in tests/integration/test_console_auth.py)."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pytest
from gradio.helpers import special_args

from chatbot.container import Services
from chatbot.settings import Settings
from chatbot.ui import build_chat_page, build_console
from chatbot.ui.audit import AUDIT_HEADERS, audit_table
from chatbot.ui.knowledge import (
    delete_document,
    delete_entry,
    save_entry,
    upload_files,
)
from chatbot.ui.staff import LOCAL_ACTOR, admin_refusal, bind, signed_in_line
from chatbot.web.app import create_app

FAQ_CSV = "id,question,answer\nhours,When are you open?,9 to 5 on weekdays.\n"


def as_user(name: str | None) -> gr.Request:
    return gr.Request(username=name)


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


def test_web_app_queues_chat_turns_concurrently(services: Services, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", server={"concurrency": 7})  # type: ignore[arg-type]
    services.settings = settings
    app = create_app(services)
    mounts = {getattr(r, "path", None): r for r in app.routes}
    assert {"/admin", ""} <= set(mounts)
    chat_blocks = mounts[""].app.get_blocks()  # type: ignore[attr-defined]
    console_blocks = mounts["/admin"].app.get_blocks()  # type: ignore[attr-defined]
    assert chat_blocks._queue.default_concurrency_limit == 7
    assert callable(console_blocks.auth) and chat_blocks.auth is None


def test_concurrency_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().server.concurrency == 4
    monkeypatch.setenv("CHATBOT_SERVER__CONCURRENCY", "9")
    assert Settings().server.concurrency == 9


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
