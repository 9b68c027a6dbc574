"""PDF: the text of each page (pypdf), split by size; every passage carries its 1-based page
and is titled "Document title, page N". A PDF without extractable text is a scanned image.

pypdf gives a page's text one printed line per line, with no blank line between paragraphs,
so the page is laid out again first (knowledge_base.layout): a paragraph's lines join, and
each heading and list item is a paragraph of its own, not run into the text after it."""

from __future__ import annotations

import io
from pathlib import PurePath
from typing import TYPE_CHECKING

from knowledge_base.chunking import split_text
from knowledge_base.formats.common import slugify, unique_id
from knowledge_base.formats.sniff import describe, is_pdf
from knowledge_base.layout import paragraphs
from knowledge_base.limits import (
    DEFAULT_LIMITS,
    Limits,
    PassageBudget,
    TextBudget,
    check_pages,
)
from knowledge_base.records import IngestError, ParsedDocument, PassageDraft

if TYPE_CHECKING:
    from pypdf import PdfReader

_FIX = "open it in a PDF viewer, save or export it as PDF again, and upload it again"


def load_pdf(name: str, data: bytes, limits: Limits = DEFAULT_LIMITS) -> ParsedDocument:
    from pypdf import PasswordType, PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PyPdfError

    if not data.strip():
        raise IngestError(name, "the file is empty")
    if not is_pdf(data):
        raise IngestError(
            name,
            f"this is not a PDF: it looks like {describe(data)} (a PDF starts with '%PDF-'); "
            "upload the real PDF, or give the file the extension that matches its content",
        )
    if b"%%EOF" not in data:
        raise IngestError(
            name,
            "the PDF is incomplete (its end-of-file marker is missing, so it was probably cut "
            f"off while downloading or copying); {_FIX}",
        )
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:  # a PDF with only an owner password (no copying...) opens without one
                unlocked = reader.decrypt("") != PasswordType.NOT_DECRYPTED
            except (DependencyError, NotImplementedError):
                unlocked = False
            if not unlocked:
                raise IngestError(
                    name,
                    "the PDF is password-protected; remove the password (print or save it "
                    "as an unprotected PDF) and upload it again",
                )
        pages = len(reader.pages)
        check_pages(name, pages, limits, "PDF")
        title = _title(reader) or PurePath(name).stem
        budget = TextBudget(name, limits)
        texts = []
        for number, page in enumerate(reader.pages, start=1):
            try:
                texts.append(budget.take(page.extract_text() or ""))
            except IngestError:
                raise
            except Exception as exc:
                raise IngestError(
                    name, f"page {number} of the PDF could not be read ({exc}); {_FIX}"
                ) from None
    except IngestError:
        raise
    except FileNotDecryptedError:
        raise IngestError(name, "the PDF is password-protected; remove the password") from None
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise IngestError(
            name, f"the PDF is damaged or incomplete and could not be read ({exc}); {_FIX}"
        ) from None
    doc = ParsedDocument(name, "pdf")
    slug = slugify(PurePath(name).stem)
    used: set[str] = set()
    passages = PassageBudget(name, limits)
    for number, text in enumerate(texts, start=1):
        page_title = f"{title}, page {number}"
        for chunk in split_text(paragraphs(text)):
            passages.take()
            entry_id = unique_id(f"{slug}#page-{number}", used)
            doc.passages.append(
                PassageDraft(entry_id, "text", page_title, chunk, chunk, page=number)
            )
    if not doc.passages:
        raise IngestError(
            name,
            f"no text could be extracted from any of its {pages} page(s); it may be a scanned "
            "image, which needs OCR (text recognition) first: run it through OCR (e.g. "
            "'Make searchable PDF' in a PDF tool) and upload the result",
        )
    return doc


def _title(reader: PdfReader) -> str:
    try:
        meta = reader.metadata
        title = meta.title if meta is not None else None
    except Exception:  # a broken info dictionary only loses the title
        return ""
    return " ".join(str(title).split()) if title else ""
