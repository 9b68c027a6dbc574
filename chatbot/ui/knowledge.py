"""The "Knowledge base" tab: upload files (with progress), list documents with their status,
preview what a document became and delete it; the FAQ entry editor under it is
chatbot.ui.faq_entries. Upload times are in the staff member's time zone (chatbot.ui.times).
The changes are staff actions (`services.staff.knowledge`)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import gradio as gr

from chatbot.container import Services
from chatbot.core.wording import plural
from chatbot.staff.actor import Forbidden
from chatbot.staff.knowledge_actions import UnreadableUpload
from chatbot.staff.upload_registry import request_session
from chatbot.ui.documents import (
    DOCUMENT_HEADERS,
    DOCUMENT_WIDTHS,
    Row,
    document_names,
    documents_table,
)
from chatbot.ui.events import bind
from chatbot.ui.faq_entries import build_faq_editor, entry_choices
from chatbot.ui.render import escape_text
from chatbot.ui.staff import current_actor, refusal
from chatbot.ui.tables import console_table
from chatbot.ui.times import page_ready
from knowledge_base.loaders import LOADERS
from knowledge_base.records import IngestResult

PREVIEW_HEADERS = ["#", "kind", "entry id", "title", "page", "text"]
# Percent of the table's width per column (chatbot.ui.tables).
PREVIEW_WIDTHS = [6, 8, 15, 18, 6, 46]


def file_types() -> list[str]:
    """Extensions the file picker accepts: whatever the loaders support."""
    return sorted(LOADERS)


def report_line(result: IngestResult) -> str:
    """One file's outcome as markdown (its name and message escaped: they come from the file)."""
    name, message = escape_text(result.name), escape_text(result.message or "")
    if result.status == "refused":
        return f"⛔ {name}: {message}"
    if result.status == "skipped":
        return f"⏭️ {name}: skipped, {message}"
    if not result.ok:
        return f"❌ {name}: {message}"
    return f"✅ {name}: {plural(result.passages, 'passage')} {result.status}"


def uploaded_bytes(services: Services, path: Path, request: gr.Request | None) -> bytes:
    """The content of a file this console session uploaded. A path the session did not
    upload (another session's upload, or any file on the server) is refused, so a browser
    can never make the server ingest its own files. A direct call (no request) is trusted."""
    if request is not None and not services.uploads.owns(request_session(request), str(path)):
        raise NotUploadedError(
            "this file was not uploaded in your session of the console; choose it and "
            "upload it again"
        )
    return path.read_bytes()


class NotUploadedError(UnreadableUpload):
    """The upload event named a file that the session did not upload."""


def upload_files(
    services: Services,
    files: Sequence[str | Path] | None,
    progress: gr.Progress = gr.Progress(),
    request: gr.Request | None = None,
    zone: str | None = None,
) -> tuple[str, list[Row]]:
    """Ingest each uploaded file (gr.File filepaths); one bad file never stops the others.
    `progress` (filled in by Gradio) shows passages embedded per file. Each file goes into
    the audit log under the signed-in user (`request`, filled in by Gradio). Replacing a
    document deletes its passages, so only admins may (the knowledge base refuses it for
    anyone else, file by file).

    Returns (markdown report with one line per file, refreshed documents table, times in
    `zone`).
    """
    if not files:
        return "Choose one or more files to upload.", documents_table(services, zone)
    actor = current_actor(services, request)
    lines = []
    for number, f in enumerate(files, start=1):
        path = Path(f)
        desc = f"{path.name} (file {number} of {len(files)})"

        def embedded(done: int, total: int, desc: str = desc) -> None:
            progress((done, total), desc=desc, unit="passages")

        def read(path: Path = path) -> bytes:
            return uploaded_bytes(services, path, request)

        result = services.staff.knowledge.upload(actor, path.name, read, progress=embedded)
        lines.append(report_line(result))
    return "\n\n".join(lines), documents_table(services, zone)


def delete_document(
    services: Services,
    name: str | None,
    request: gr.Request | None = None,
    zone: str | None = None,
) -> tuple[str, list[Row]]:
    """Delete one document by name (admins only). Returns (markdown message, refreshed
    documents table, times in `zone`)."""
    try:  # a caller who may not delete is told so first, even with nothing chosen
        deleted = services.staff.knowledge.delete_document(
            current_actor(services, request), name or ""
        )
    except Forbidden as exc:
        return refusal(exc), documents_table(services, zone)
    if not name:
        message = "Choose a document to delete."
    elif deleted:
        message = f"🗑️ Deleted {escape_text(name)}."
    else:
        message = f"❌ {escape_text(name)}: no such document."
    return message, documents_table(services, zone)


def preview_document(services: Services, name: str | None) -> tuple[str, list[Row]]:
    """The passages a document became, in order: (markdown caption, rows in PREVIEW_HEADERS)."""
    if not name:
        return "Choose a document to preview its passages.", []
    passages = services.kb.preview(name)
    if passages is None:
        return f"❌ {escape_text(name)}: no such document.", []
    info = next((d for d in services.kb.documents() if d.name == name), None)
    if info is not None and info.status == "failed":
        return f"❌ **{escape_text(name)}** failed: {escape_text(info.error or '')}", []
    rows = [
        [i, p.kind, p.entry_id, p.title, "" if p.page is None else p.page, p.text]
        for i, p in enumerate(passages, start=1)
    ]
    return f"**{escape_text(name)}**: {plural(len(rows), 'passage')}, in document order.", rows


def select_document(evt: gr.SelectData) -> str | None:
    """Clicking a row of the documents table chooses that document."""
    row = evt.row_value
    return str(row[0]) if row else None


def refresh(services: Services, zone: str | None = None) -> tuple[list[Row], Any]:
    """Documents table (times in `zone`) and the document dropdown's choices."""
    return (
        documents_table(services, zone),
        gr.update(choices=document_names(services), value=None),
    )


def build_knowledge_tab(
    services: Services, demo: gr.Blocks, zone: gr.State | None = None
) -> gr.Tab:
    """The Knowledge base tab; it fills when the page opens, in the browser's time zone when
    `zone` (chatbot.ui.times.track_browser_zone) is given."""
    types = ", ".join(file_types())
    ready = page_ready(demo, zone)
    with gr.Tab("Knowledge base", id="knowledge") as tab:
        # A tab built on its own shows UTC.
        zone = zone if zone is not None else gr.State(None)
        gr.Markdown(
            f"Upload files ({types}): FAQ **CSV** with `question` and `answer` columns "
            "(optional `id`, `category`, `url`), or documents. A file with the same name "
            "replaces the old one (admins only: replacing deletes the old passages); an "
            "unchanged file is left as it is. A file that cannot be used is listed as "
            "*failed* with the reason (an earlier good version stays)."
        )
        files = gr.File(
            file_count="multiple", file_types=file_types(), label="Files", elem_id="kb-files"
        )
        upload = gr.Button("Upload", variant="primary", elem_id="kb-upload")
        report = gr.Markdown(elem_id="kb-report")
        table = console_table(
            DOCUMENT_HEADERS,
            DOCUMENT_WIDTHS,
            elem_id="kb-documents",
            label="Documents (click a row to choose it)",
        )
        with gr.Row():
            reload = gr.Button("Refresh", elem_id="kb-refresh", size="sm")
            choice = gr.Dropdown(
                choices=[],
                value=None,
                allow_custom_value=True,
                label="Document",
                elem_id="kb-document",
                scale=4,
            )
            show = gr.Button("Preview", elem_id="kb-preview", size="sm")
            delete = gr.Button("Delete", variant="stop", elem_id="kb-delete", size="sm")
        caption = gr.Markdown(elem_id="kb-preview-caption")
        preview = console_table(
            PREVIEW_HEADERS,
            PREVIEW_WIDTHS,
            elem_id="kb-preview-passages",
            label="Passages",
            max_chars=None,  # the preview is there to read the passages whole
            max_height=400,
        )

        editor = build_faq_editor()
        entry = editor.entry

        do_refresh = partial(refresh, services)
        do_entries = partial(entry_choices, services)
        # An upload or a delete changes the documents and the FAQ entries: both are read again.
        for button, handler, target, api_name in (
            (upload, bind(upload_files, services), files, "upload_files"),
            (delete, bind(delete_document, services), choice, "delete_document"),
        ):
            button.click(
                handler, inputs=[target, zone], outputs=[report, table], api_name=api_name
            ).then(do_refresh, [zone], [table, choice], api_visibility="private").then(
                do_entries, outputs=[entry], api_visibility="private"
            )
        show.click(
            partial(preview_document, services),
            inputs=[choice],
            outputs=[caption, preview],
            api_name="preview_document",
        )
        table.select(select_document, outputs=[choice], api_visibility="private").then(
            partial(preview_document, services),
            inputs=[choice],
            outputs=[caption, preview],
            api_visibility="private",
        )
        editor.connect(services, zone, table)
        reload.click(do_refresh, [zone], [table, choice], api_name="documents")
        for event in (tab.select, ready):
            event(do_refresh, [zone], [table, choice], api_visibility="private").then(
                do_entries, outputs=[entry], api_visibility="private"
            )
    return tab
