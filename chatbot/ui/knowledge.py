"""The "Knowledge base" tab: upload FAQ files, list documents, delete one."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import gradio as gr

from chatbot.container import Services
from knowledge_base.service import IngestResult

DOCUMENT_HEADERS = ["name", "type", "passages", "FAQ entries / sections", "size", "uploaded at"]
FILE_TYPES = [".csv", ".md", ".markdown"]

Row = list[Any]


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def documents_table(services: Services) -> list[Row]:
    """One row per document, in DOCUMENT_HEADERS order."""
    return [
        [
            d.name,
            d.source_type,
            d.passages,
            d.entries,
            human_size(d.size_bytes),
            d.created_at.strftime("%Y-%m-%d %H:%M"),
        ]
        for d in services.kb.documents()
    ]


def document_names(services: Services) -> list[str]:
    return [d.name for d in services.kb.documents()]


def report_line(result: IngestResult) -> str:
    if not result.ok:
        return f"❌ {result.name}: {result.message}"
    return f"✅ {result.name}: {result.passages} passages {result.status}"


def upload_files(services: Services, files: Sequence[str | Path] | None) -> tuple[str, list[Row]]:
    """Ingest each uploaded file (gr.File filepaths); one bad file never stops the others.

    Returns (markdown report with one line per file, refreshed documents table).
    """
    if not files:
        return "Choose one or more .csv or .md files to upload.", documents_table(services)
    lines = []
    for f in files:
        path = Path(f)
        try:
            data = path.read_bytes()
        except OSError as exc:
            result = IngestResult(path.name, "error", message=f"cannot read file: {exc.strerror}")
        else:
            result = services.kb.ingest_bytes(path.name, data)
        lines.append(report_line(result))
    return "\n\n".join(lines), documents_table(services)


def delete_document(services: Services, name: str | None) -> tuple[str, list[Row]]:
    """Delete one document by name. Returns (markdown message, refreshed documents table)."""
    if not name:
        message = "Choose a document to delete."
    elif services.kb.delete(name):
        message = f"🗑️ Deleted {name}."
    else:
        message = f"❌ {name}: no such document."
    return message, documents_table(services)


def refresh(services: Services) -> tuple[list[Row], Any]:
    """Documents table and the delete dropdown's choices."""
    return documents_table(services), gr.update(choices=document_names(services), value=None)


def build_knowledge_tab(services: Services, demo: gr.Blocks) -> gr.Tab:
    with gr.Tab("Knowledge base", id="knowledge") as tab:
        gr.Markdown(
            "Upload FAQ files: **CSV** with `question` and `answer` columns (optional `id`, "
            "`category`, `url`), or **Markdown**. A file with the same name replaces the old one."
        )
        files = gr.File(
            file_count="multiple", file_types=FILE_TYPES, label="Files", elem_id="kb-files"
        )
        upload = gr.Button("Upload", variant="primary", elem_id="kb-upload")
        report = gr.Markdown(elem_id="kb-report")
        table = gr.Dataframe(
            headers=DOCUMENT_HEADERS, interactive=False, elem_id="kb-documents", label="Documents"
        )
        with gr.Row():
            reload = gr.Button("Refresh", elem_id="kb-refresh", size="sm")
            choice = gr.Dropdown(choices=[], label="Document", elem_id="kb-delete-choice", scale=4)
            delete = gr.Button("Delete", variant="stop", elem_id="kb-delete", size="sm")

        do_refresh = partial(refresh, services)
        upload.click(
            partial(upload_files, services),
            inputs=[files],
            outputs=[report, table],
            api_name="upload_files",
        ).then(do_refresh, outputs=[table, choice], api_visibility="private")
        delete.click(
            partial(delete_document, services),
            inputs=[choice],
            outputs=[report, table],
            api_name="delete_document",
        ).then(do_refresh, outputs=[table, choice], api_visibility="private")
        reload.click(do_refresh, outputs=[table, choice], api_name="documents")
        tab.select(do_refresh, outputs=[table, choice], api_visibility="private")
        demo.load(do_refresh, outputs=[table, choice], api_visibility="private")
    return tab
