"""Plain text: one section titled by the file name, split at blank-line paragraphs and then by
size. `Q:`/`A:` pairs are FAQ entries, as in Markdown."""

from __future__ import annotations

from pathlib import PurePath

from knowledge_base.formats.common import section_passages
from knowledge_base.limits import DEFAULT_LIMITS, Limits, PassageBudget, TextBudget
from knowledge_base.records import IngestError, ParsedDocument
from knowledge_base.text import decode


def load_text(name: str, data: bytes, limits: Limits = DEFAULT_LIMITS) -> ParsedDocument:
    text = TextBudget(name, limits).take(decode(name, data))
    if not text.strip():
        raise IngestError(name, "the file is empty")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    stem = PurePath(name).stem
    doc = ParsedDocument(name, "text")
    doc.passages.extend(
        section_passages(stem, [([stem], text)], set(), PassageBudget(name, limits))
    )
    if not doc.passages:
        raise IngestError(name, "no text found to add to the knowledge base")
    return doc
