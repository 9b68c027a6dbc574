"""The documents table of the Knowledge base tab (chatbot.ui.knowledge), which the FAQ entry
editor (chatbot.ui.faq_entries) refreshes too."""

from __future__ import annotations

from typing import Any

from chatbot.container import Services
from chatbot.core.wording import human_size
from chatbot.ui.times import fmt_time
from knowledge_base.records import DocumentInfo

Row = list[Any]

DOCUMENT_HEADERS = [
    "name",
    "type",
    "passages",
    "FAQ entries / sections",
    "status",
    "size",
    "uploaded at",
]
# Percent of the table's width per column (chatbot.ui.tables): a failed document's reason
# wraps in its status column.
DOCUMENT_WIDTHS = [20, 8, 8, 10, 30, 8, 15]


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
