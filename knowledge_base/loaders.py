"""File -> ParsedDocument: the registry of loaders by extension. Pure functions: no database,
no models. Each format lives in its own module under `knowledge_base.formats`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePath

from knowledge_base.formats.common import slugify
from knowledge_base.formats.docx import load_docx
from knowledge_base.formats.faq import load_csv, load_json, load_xlsx
from knowledge_base.formats.html import load_html
from knowledge_base.formats.markdown import load_markdown
from knowledge_base.formats.pdf import load_pdf
from knowledge_base.formats.plaintext import load_text
from knowledge_base.limits import DEFAULT_LIMITS, Limits, PassageBudget, check_file_size
from knowledge_base.records import IngestError, ParsedDocument

__all__ = [
    "LOADERS",
    "Limits",
    "Loader",
    "load_csv",
    "load_document",
    "load_docx",
    "load_html",
    "load_json",
    "load_markdown",
    "load_pdf",
    "load_text",
    "load_xlsx",
    "slugify",
    "unsupported_type",
]

Loader = Callable[[str, bytes, Limits], ParsedDocument]

LOADERS: dict[str, Loader] = {
    ".csv": load_csv,
    ".xlsx": load_xlsx,
    ".json": load_json,
    ".md": load_markdown,
    ".markdown": load_markdown,
    ".txt": load_text,
    ".html": load_html,
    ".htm": load_html,
    ".pdf": load_pdf,
    ".docx": load_docx,
}


def unsupported_type(name: str) -> str | None:
    """Why no loader reads a file of this name (its extension), or None when one does."""
    suffix = PurePath(name).suffix.lower()
    if suffix in LOADERS:
        return None
    supported = ", ".join(sorted(LOADERS))
    return f"unsupported file type '{suffix or '(none)'}'; supported types: {supported}"


def load_document(name: str, data: bytes, limits: Limits = DEFAULT_LIMITS) -> ParsedDocument:
    """Parse one uploaded file by its extension, within `limits`; raises IngestError with a
    message that says what is wrong and what to do."""
    problem = unsupported_type(name)
    if problem is not None:
        raise IngestError(name, problem)
    loader = LOADERS[PurePath(name).suffix.lower()]
    check_file_size(name, len(data), limits)
    parsed = loader(name, data, limits)
    # Every loader counts its passages as it makes them; this holds for any loader added later.
    PassageBudget(name, limits).take(len(parsed.passages))
    return parsed
