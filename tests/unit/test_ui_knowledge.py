"""The knowledge-base tab's handlers, called directly (no browser, no server)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
import pytest

from chatbot.container import Services
from chatbot.ui import build_console
from chatbot.ui.documents import DOCUMENT_HEADERS
from chatbot.ui.faq_entries import delete_entry, load_entry, save_entry
from chatbot.ui.knowledge import (
    PREVIEW_HEADERS,
    file_types,
    preview_document,
    select_document,
    upload_files,
)
from knowledge_base.entries import MANUAL_DOCUMENT
from knowledge_base.loaders import LOADERS

FAQ_CSV = (
    "id,question,answer,category,url\n"
    "acct-reset,How do I reset my password?,Use Forgot password.,Account,https://h.example/r\n"
    "acct-reset,I forgot my password,Use Forgot password.,Account,\n"
    "ship-time,How long does delivery take?,3 to 5 working days.,,\n"
)


class RecordingProgress:
    """Stands in for the gr.Progress Gradio passes in during an event."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, str | None, str]] = []

    def __call__(
        self, progress: Any, desc: str | None = None, total: Any = None, unit: str = "steps"
    ) -> None:
        self.calls.append((progress, desc, unit))


@pytest.fixture
def faq_file(tmp_path: Path) -> Path:
    path = tmp_path / "uploads" / "faq.csv"
    path.parent.mkdir()
    path.write_text(FAQ_CSV, encoding="utf-8")
    return path


def test_file_picker_accepts_every_supported_type() -> None:
    assert file_types() == sorted(LOADERS)
    assert ".csv" in file_types() and ".md" in file_types()


def test_upload_reports_progress_per_file(services: Services, faq_file: Path) -> None:
    progress = RecordingProgress()
    report, table = upload_files(services, [str(faq_file)], progress=progress)  # type: ignore[arg-type]
    assert report == "✅ faq.csv: 5 passages added"
    assert progress.calls[0] == ((0, 5), "faq.csv (file 1 of 1)", "passages")
    assert progress.calls[-1] == ((5, 5), "faq.csv (file 1 of 1)", "passages")
    assert table[0][:5] == ["faq.csv", "csv", 5, 2, "ingested"]
    # Without a running Gradio event the default gr.Progress() is a no-op.
    assert upload_files(services, [str(faq_file)])[0] == "✅ faq.csv: 5 passages unchanged"


def test_failed_upload_shows_status_and_reason(services: Services, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("question,answer\nBroken?,\n", encoding="utf-8")
    report, table = upload_files(services, [str(bad)])
    assert report.startswith("❌ bad.csv: row 2 has an empty answer")
    [row] = table
    assert len(row) == len(DOCUMENT_HEADERS)
    assert row[:4] == ["bad.csv", "csv", 0, 0]
    assert row[4].startswith("failed: row 2 has an empty answer")
    caption, rows = preview_document(services, "bad.csv")
    assert caption.startswith("❌ **bad.csv** failed: row 2 has an empty answer") and rows == []


def test_preview_document(services: Services, faq_file: Path) -> None:
    upload_files(services, [str(faq_file)])
    caption, rows = preview_document(services, "faq.csv")
    assert caption == "**faq.csv**: 5 passages, in document order."
    assert all(len(r) == len(PREVIEW_HEADERS) for r in rows)
    assert [r[:3] for r in rows] == [
        [1, "question", "acct-reset"],
        [2, "question", "acct-reset"],
        [3, "answer", "acct-reset"],
        [4, "question", "ship-time"],
        [5, "answer", "ship-time"],
    ]
    assert rows[1][3:] == ["How do I reset my password?", "", "I forgot my password"]
    assert preview_document(services, None) == ("Choose a document to preview its passages.", [])
    assert preview_document(services, "nope.csv")[0].startswith("❌")


def test_select_document_from_table_row() -> None:
    evt = gr.SelectData(None, {"index": [0, 2], "value": 5, "row_value": ["faq.csv", "csv", 5]})
    assert select_document(evt) == "faq.csv"
    assert select_document(gr.SelectData(None, {"index": [0, 0], "value": "x"})) is None


def test_entry_editor_add_edit_delete(services: Services, faq_file: Path) -> None:
    upload_files(services, [str(faq_file)])
    assert load_entry(services, None)[:5] == ("", "", "", "", "")

    fields = load_entry(services, "acct-reset")
    assert fields[:5] == (
        "How do I reset my password?",
        "I forgot my password",
        "Use Forgot password.",
        "Account",
        "https://h.example/r",
    )
    assert "Editing `acct-reset`" in fields[5]

    message, choices, table = save_entry(
        services,
        "acct-reset",
        "How do I reset my password?",
        "I forgot my password\n\nLocked out of my account\n",
        "Call support to reset it.",
        "Account",
        "",
    )
    assert message == "✅ Saved `acct-reset` (3 phrasings)."
    assert choices["value"] == "acct-reset"
    assert services.kb.search("Locked out of my account")[0].answer == "Call support to reset it."
    assert table[0][:3] == ["faq.csv", "csv", 6]

    message, choices, table = save_entry(
        services, None, "Do you have gift wrap?", "", "Yes, for 2 euros.", "", ""
    )
    assert message.startswith(f"✅ Added to “{MANUAL_DOCUMENT}”: `manual-do-you-have-gift-wrap`")
    assert "manual-do-you-have-gift-wrap" in choices["choices"]
    assert MANUAL_DOCUMENT in [r[0] for r in table]
    assert services.kb.search("Do you have gift wrap?")[0].entry_id == (
        "manual-do-you-have-gift-wrap"
    )

    message, _, _ = save_entry(services, None, "", "", "An answer", "", "")
    assert message.startswith("❌") and "at least one question" in message

    out = delete_entry(services, "manual-do-you-have-gift-wrap")
    assert out[0] == "🗑️ Deleted `manual-do-you-have-gift-wrap`."
    assert out[2:7] == ("", "", "", "", "")
    assert MANUAL_DOCUMENT not in [r[0] for r in out[7]]
    assert delete_entry(services, "manual-do-you-have-gift-wrap")[0].startswith("❌")
    assert delete_entry(services, None)[0] == "Choose an entry to delete."


def test_build_console_with_the_knowledge_tab(services: Services) -> None:
    app = build_console(services)
    ids = {getattr(b, "elem_id", None) for b in app.blocks.values()}
    for elem_id in ("kb-files", "kb-documents", "kb-preview-passages", "kb-entry", "kb-entry-save"):
        assert elem_id in ids


# ---- replacing needs an admin ---------------------------------------------------------------
def signed_in(services: Services, name: str, paths: list[Path]) -> gr.Request:
    """A console request of `name` whose session uploaded `paths`."""
    services.uploads.record(f"{name}-session", [str(p) for p in paths])
    return gr.Request(username=name, cookies={"access-token-test": f"{name}-session"})


def test_an_agent_cannot_replace_a_document_but_an_admin_can(
    services: Services, faq_file: Path, tmp_path: Path
) -> None:
    services.accounts.add("boss", "admin password", "admin")
    services.accounts.add("ann", "agent password", "agent")
    upload_files(services, [str(faq_file)])
    one_row = tmp_path / "agent" / "faq.csv"
    one_row.parent.mkdir()
    one_row.write_text("question,answer\nWhat is this?,One row.\n", encoding="utf-8")
    extra = tmp_path / "agent" / "extra.csv"
    extra.write_text("question,answer\nDo you gift wrap?,Yes.\n", encoding="utf-8")

    files = [one_row, extra, faq_file]
    report, table = upload_files(
        services, [str(p) for p in files], request=signed_in(services, "ann", files)
    )
    assert report.split("\n\n") == [
        "⛔ faq.csv: a document named 'faq.csv' already exists, and replacing it deletes its "
        "current passages, which only an admin may do; nothing was changed. Upload the file "
        "under a new name to add it alongside, or ask an admin to upload it",
        "✅ extra.csv: 2 passages added",  # the other files of the upload still go in
        "✅ faq.csv: 5 passages unchanged",  # the same content again is a no-op for anyone
    ]
    assert {row[0]: row[2] for row in table} == {"faq.csv": 5, "extra.csv": 2}
    audit = [(e.actor, e.action, e.target) for e in services.audit.recent()]
    assert ("ann", "kb.upload_refused", "faq.csv") in audit
    refusal = next(e for e in services.audit.recent() if e.action == "kb.upload_refused")
    assert "only an admin may do" in refusal.details

    report, table = upload_files(
        services, [str(one_row)], request=signed_in(services, "boss", [one_row])
    )
    assert report == "✅ faq.csv: 2 passages replaced"
    assert {row[0]: row[2] for row in table} == {"faq.csv": 2, "extra.csv": 2}


def test_someone_no_longer_staff_cannot_replace(services: Services, faq_file: Path) -> None:
    upload_files(services, [str(faq_file)])
    faq_file.write_text("question,answer\nWhat is this?,One row.\n", encoding="utf-8")
    report, _ = upload_files(
        services, [str(faq_file)], request=signed_in(services, "gone", [faq_file])
    )
    assert report.startswith("⛔ faq.csv: a document named 'faq.csv' already exists")
    assert services.kb.documents()[0].passages == 5
