"""The "Knowledge base" tab: upload files (with progress), list documents with their status,
preview what a document became, delete it, and add or edit single FAQ entries. Upload times
are in the staff member's time zone (chatbot.ui.times)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import gradio as gr

from chatbot.container import Services
from chatbot.core.wording import plural
from chatbot.staff.audit import ingest_details
from chatbot.staff.upload_registry import request_session
from chatbot.ui.render import code, escape_text
from chatbot.ui.staff import actor, admin_refusal, bind
from chatbot.ui.tables import console_table
from chatbot.ui.times import fmt_time, page_ready
from knowledge_base.entries import MANUAL_DOCUMENT, EntryError
from knowledge_base.loaders import LOADERS
from knowledge_base.service import IngestResult
from knowledge_base.store import DocumentInfo

DOCUMENT_HEADERS = [
    "name",
    "type",
    "passages",
    "FAQ entries / sections",
    "status",
    "size",
    "uploaded at",
]
PREVIEW_HEADERS = ["#", "kind", "entry id", "title", "page", "text"]
# Percent of the table's width per column (chatbot.ui.tables): a failed document's reason
# wraps in its status column.
DOCUMENT_WIDTHS = [20, 8, 8, 10, 30, 8, 15]
PREVIEW_WIDTHS = [6, 8, 15, 18, 6, 46]

Row = list[Any]
EntryFields = tuple[str, str, str, str, str]  # question, other phrasings, answer, category, url
NO_ENTRY: EntryFields = ("", "", "", "", "")


def file_types() -> list[str]:
    """Extensions the file picker accepts: whatever the loaders support."""
    return sorted(LOADERS)


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def status_text(d: DocumentInfo) -> str:
    return f"failed: {d.error}" if d.status == "failed" else d.status


def documents_table(services: Services, zone: str | None = None) -> list[Row]:
    """One row per document, newest upload first, in DOCUMENT_HEADERS order; upload times
    in `zone`."""
    return [
        [
            d.name,
            d.source_type,
            d.passages,
            d.entries,
            status_text(d),
            human_size(d.size_bytes),
            fmt_time(d.uploaded_at, zone)[:16],  # to the minute
        ]
        for d in services.kb.documents()
    ]


def document_names(services: Services) -> list[str]:
    return [d.name for d in services.kb.documents()]


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


class NotUploadedError(ValueError):
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
    may_replace = admin_refusal(services, request, "replace documents") is None
    lines = []
    for number, f in enumerate(files, start=1):
        path = Path(f)
        desc = f"{path.name} (file {number} of {len(files)})"

        def embedded(done: int, total: int, desc: str = desc) -> None:
            progress((done, total), desc=desc, unit="passages")

        try:
            data = uploaded_bytes(services, path, request)
        except NotUploadedError as exc:
            result = IngestResult(path.name, "error", message=str(exc))
        except OSError as exc:
            result = IngestResult(path.name, "error", message=f"cannot read file: {exc.strerror}")
        else:
            result = services.kb.ingest_bytes(
                path.name, data, progress=embedded, may_replace=may_replace
            )
        action = "kb.upload_refused" if result.status == "refused" else "kb.upload"
        services.audit.record(actor(request), action, result.name, ingest_details(result))
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
    refusal = admin_refusal(services, request, "delete documents")
    if refusal:
        return refusal, documents_table(services, zone)
    if not name:
        message = "Choose a document to delete."
    elif services.kb.delete(name):
        services.audit.record(actor(request), "kb.delete_document", name)
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


# ---- single FAQ entries -------------------------------------------------------------------
def entry_choices(services: Services) -> Any:
    return gr.update(choices=services.kb.faq_entry_ids())


def load_entry(services: Services, entry_id: str | None) -> tuple[str, str, str, str, str, str]:
    """The editor's fields for an entry (blank for a new one), then a status message."""
    if not entry_id:
        return (*NO_ENTRY, "New entry: fill in the fields and save.")
    entry = services.kb.get_faq_entry(entry_id)
    if entry is None:
        return (*NO_ENTRY, f"❌ {code(entry_id)}: no such FAQ entry.")
    return (
        entry.questions[0],
        "\n".join(entry.questions[1:]),
        entry.answer,
        entry.category or "",
        entry.url or "",
        f"Editing {code(entry_id)}.",
    )


def save_entry(
    services: Services,
    entry_id: str | None,
    question: str,
    phrasings: str,
    answer: str,
    category: str,
    url: str,
    request: gr.Request | None = None,
    zone: str | None = None,
) -> tuple[str, Any, list[Row]]:
    """Save the editor's entry (new when no id is chosen); it is in answers at once.

    Returns (markdown message, entry dropdown update, refreshed documents table with times
    in `zone`).
    """
    questions = [question, *phrasings.splitlines()]
    try:
        entry = services.kb.save_faq_entry(entry_id or None, questions, answer, category, url)
    except EntryError as exc:
        return f"❌ {escape_text(str(exc))}", gr.update(), documents_table(services, zone)
    services.audit.record(
        actor(request), "kb.save_faq_entry", entry.entry_id, "edited" if entry_id else "added"
    )
    verb = "Saved" if entry_id else f"Added to “{MANUAL_DOCUMENT}”:"
    message = f"✅ {verb} {code(entry.entry_id)} ({plural(len(entry.questions), 'phrasing')})."
    return (
        message,
        gr.update(choices=services.kb.faq_entry_ids(), value=entry.entry_id),
        documents_table(services, zone),
    )


def delete_entry(
    services: Services,
    entry_id: str | None,
    request: gr.Request | None = None,
    zone: str | None = None,
) -> tuple[Any, ...]:
    """Delete the chosen entry (admins only). Returns (message, dropdown update, 5 cleared
    fields, table with times in `zone`); a refused delete leaves the dropdown and the
    fields as they are."""
    refusal = admin_refusal(services, request, "delete FAQ entries")
    if refusal:
        unchanged = (gr.update() for _ in NO_ENTRY)
        return (refusal, gr.update(), *unchanged, documents_table(services, zone))
    if not entry_id:
        message = "Choose an entry to delete."
    elif services.kb.delete_faq_entry(entry_id):
        services.audit.record(actor(request), "kb.delete_faq_entry", entry_id)
        message = f"🗑️ Deleted {code(entry_id)}."
    else:
        message = f"❌ {code(entry_id)}: no such FAQ entry."
    choices = gr.update(choices=services.kb.faq_entry_ids(), value=None)
    return (message, choices, *NO_ENTRY, documents_table(services, zone))


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

        with gr.Accordion("FAQ entries: add or edit one", open=False):
            gr.Markdown(
                f"Choose an entry to edit it, or leave the id empty (or type a new one) to add "
                f"an entry; it goes into “{MANUAL_DOCUMENT}”. Changes are in answers at once."
            )
            with gr.Row():
                entry = gr.Dropdown(
                    choices=[],
                    value=None,
                    allow_custom_value=True,  # typing a new id adds an entry with that id
                    label="Entry id",
                    elem_id="kb-entry",
                    scale=4,
                )
                new = gr.Button("New entry", elem_id="kb-entry-new", size="sm")
            question = gr.Textbox(label="Question", elem_id="kb-entry-question")
            phrasings = gr.Textbox(
                label="Other phrasings (one per line)", lines=3, elem_id="kb-entry-phrasings"
            )
            answer = gr.Textbox(label="Answer", lines=4, elem_id="kb-entry-answer")
            with gr.Row():
                category = gr.Textbox(label="Category", elem_id="kb-entry-category")
                url = gr.Textbox(label="URL", elem_id="kb-entry-url")
            with gr.Row():
                save = gr.Button("Save entry", variant="primary", elem_id="kb-entry-save")
                remove = gr.Button("Delete entry", variant="stop", elem_id="kb-entry-delete")
            entry_status = gr.Markdown(elem_id="kb-entry-status")
        fields = [question, phrasings, answer, category, url]

        do_refresh = partial(refresh, services)
        do_entries = partial(entry_choices, services)
        upload.click(
            bind(upload_files, services),
            inputs=[files, zone],
            outputs=[report, table],
            api_name="upload_files",
        ).then(do_refresh, [zone], [table, choice], api_visibility="private").then(
            do_entries, outputs=[entry], api_visibility="private"
        )
        delete.click(
            bind(delete_document, services),
            inputs=[choice, zone],
            outputs=[report, table],
            api_name="delete_document",
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
        entry.input(
            partial(load_entry, services),
            inputs=[entry],
            outputs=[*fields, entry_status],
            api_visibility="private",
        )
        new.click(
            lambda: (None, *NO_ENTRY, "New entry: fill in the fields and save."),
            outputs=[entry, *fields, entry_status],
            api_visibility="private",
        )
        save.click(
            bind(save_entry, services),
            inputs=[entry, *fields, zone],
            outputs=[entry_status, entry, table],
            api_name="save_faq_entry",
        )
        remove.click(
            bind(delete_entry, services),
            inputs=[entry, zone],
            outputs=[entry_status, entry, *fields, table],
            api_name="delete_faq_entry",
        )
        reload.click(do_refresh, [zone], [table, choice], api_name="documents")
        for event in (tab.select, ready):
            event(do_refresh, [zone], [table, choice], api_visibility="private").then(
                do_entries, outputs=[entry], api_visibility="private"
            )
    return tab
