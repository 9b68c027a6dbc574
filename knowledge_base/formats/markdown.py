"""Markdown: headings ending in `?` and `Q:`/`A:` pairs become FAQ entries; other sections
become prose passages, split by heading and then by size."""

from __future__ import annotations

import re
from pathlib import PurePath

from markdown_it import MarkdownIt

from knowledge_base.formats.common import heading_sections, section_passages
from knowledge_base.limits import DEFAULT_LIMITS, Limits, PassageBudget, TextBudget
from knowledge_base.records import IngestError, ParsedDocument
from knowledge_base.text import decode


def load_markdown(name: str, data: bytes, limits: Limits = DEFAULT_LIMITS) -> ParsedDocument:
    text = TextBudget(name, limits).take(decode(name, data))
    if not text.strip():
        raise IngestError(name, "the file is empty")
    # Split lines exactly as markdown-it counts them (str.splitlines also breaks on \f, \x1c,
    # \u2028..., which would shift every heading's line number).
    text = re.sub(r"\r\n?", "\n", text)
    lines = text.split("\n")
    tokens = MarkdownIt().parse(text)
    # (first line, first line after the heading, level, text): a setext heading ("Title" over
    # "=====") spans two lines, and its underline must not become part of the section body.
    headings: list[tuple[int, int, int, str]] = []
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open" and tok.map:
            headings.append(
                (tok.map[0], tok.map[1], int(tok.tag[1]), tokens[i + 1].content.strip())
            )
    stem = PurePath(name).stem
    doc_title = next((h[3] for h in headings if h[2] == 1), stem)
    first = headings[0][0] if headings else len(lines)
    ends = [h[0] for h in headings[1:]] + ([len(lines)] if headings else [])
    headed = [
        (level, heading, "\n".join(lines[body_start:end]))
        for (_, body_start, level, heading), end in zip(headings, ends, strict=True)
    ]
    doc = ParsedDocument(name, "markdown")
    sections = heading_sections(doc_title, "\n".join(lines[:first]), headed)
    doc.passages.extend(section_passages(stem, sections, set(), PassageBudget(name, limits)))
    if not doc.passages:
        raise IngestError(name, "no text found to add to the knowledge base")
    return doc
