"""Word documents (.docx, python-docx): paragraphs split into sections at Heading 1..6 (the
Title style heads the whole document), like Markdown; tables become "cell | cell" rows; a
heading ending in `?` is an FAQ entry whose answer is the text under it."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import PurePath
from typing import TYPE_CHECKING

from knowledge_base.formats.common import heading_sections, section_passages
from knowledge_base.formats.ooxml import open_ooxml
from knowledge_base.limits import DEFAULT_LIMITS, Limits, PassageBudget, TextBudget
from knowledge_base.records import IngestError, ParsedDocument

if TYPE_CHECKING:
    from docx.table import Table
    from docx.text.paragraph import Paragraph

_HEADING_STYLE = re.compile(r"^heading ([1-6])$", re.I)


def load_docx(name: str, data: bytes, limits: Limits = DEFAULT_LIMITS) -> ParsedDocument:
    import docx
    from docx.table import Table

    open_ooxml(name, data, limits, "docx").close()
    try:
        document = docx.Document(io.BytesIO(data))
        blocks = list(document.iter_inner_content())
        core_title = document.core_properties.title or ""
    except Exception as exc:
        raise IngestError(
            name,
            f"the Word document could not be read ({type(exc).__name__}: {exc}); open it in "
            "Word, save it again as .docx and upload it again",
        ) from None
    budget = TextBudget(name, limits)
    preface: list[str] = []
    sections: list[tuple[int, str, list[str]]] = []
    for block in blocks:
        body = sections[-1][2] if sections else preface
        if isinstance(block, Table):
            body.extend(budget.take(row) for row in _table_rows(block))
            continue
        text = budget.take(" ".join(block.text.split()))
        if not text:
            continue
        level = _heading_level(block)
        if level is None:
            body.append(text)
        else:
            sections.append((level, text, []))
    stem = PurePath(name).stem
    doc_title = (
        " ".join(core_title.split())
        or next((h for level, h, _ in sections if level <= 1), "")
        or stem
    )
    doc = ParsedDocument(name, "docx")
    headed = [(level, heading, "\n\n".join(body)) for level, heading, body in sections]
    parts = heading_sections(doc_title, "\n\n".join(preface), headed)
    doc.passages.extend(section_passages(stem, parts, set(), PassageBudget(name, limits)))
    if not doc.passages:
        raise IngestError(name, "no text found to add to the knowledge base")
    return doc


def _heading_level(paragraph: Paragraph) -> int | None:
    """0 for the Title style, 1-6 for Heading 1-6 (or a custom style based on one)."""
    style = paragraph.style
    for _ in range(5):  # follow "based on" a few steps; real documents never nest deeper
        if style is None:
            return None
        style_name = (style.name or "").strip()
        if style_name.lower() == "title":
            return 0
        m = _HEADING_STYLE.match(style_name)
        if m:
            return int(m[1])
        style = style.base_style
    return None


def _table_rows(table: Table) -> Iterator[str]:
    """Each row as "cell | cell"; a merged cell counts once."""
    for row in table.rows:
        seen: set[int] = set()
        cells = []
        for cell in row.cells:
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            text = " ".join(cell.text.split())
            if text:
                cells.append(text)
        if cells:
            yield " | ".join(cells)
