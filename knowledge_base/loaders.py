"""File -> ParsedDocument. Pure functions: no database, no models."""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections.abc import Callable
from pathlib import PurePath

from knowledge_base.chunking import split_text
from knowledge_base.records import FaqEntry, IngestError, ParsedDocument, PassageDraft
from knowledge_base.text import decode

REQUIRED_CSV_COLUMNS = ("question", "answer")


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "section"


def load_csv(name: str, data: bytes) -> ParsedDocument:
    """FAQ CSV: `question,answer` required; `id,category,url` optional.
    Rows sharing an `id` are alternative phrasings of one entry."""
    text = decode(name, data)
    if not text.strip():
        raise IngestError(name, "the file is empty; an FAQ CSV needs a header and rows")
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = [(h or "").strip().lower() for h in reader.fieldnames or []]
        missing = [c for c in REQUIRED_CSV_COLUMNS if c not in header]
        if missing:
            raise IngestError(
                name,
                f"missing required column(s) {', '.join(missing)}; the first row must be a "
                "header with at least 'question' and 'answer' (optional: id, category, url)",
            )
        reader.fieldnames = header
        entries: dict[str, dict[str, object]] = {}
        stem = slugify(PurePath(name).stem)
        for line_no, row in enumerate(reader, start=2):
            question = (row.get("question") or "").strip()
            answer = (row.get("answer") or "").strip()
            if not question and not answer:
                continue
            if not question or not answer:
                which = "question" if not question else "answer"
                raise IngestError(
                    name, f"row {line_no} has an empty {which}; fill it in or remove the row"
                )
            entry_id = (row.get("id") or "").strip() or f"{stem}-{line_no - 1}"
            entry = entries.setdefault(
                entry_id,
                {
                    "questions": [],
                    "answer": answer,
                    "category": (row.get("category") or "").strip() or None,
                    "url": (row.get("url") or "").strip() or None,
                },
            )
            questions = entry["questions"]
            assert isinstance(questions, list)
            if question not in questions:
                questions.append(question)
    except csv.Error as exc:
        raise IngestError(name, f"the CSV is malformed ({exc}); check its quoting") from None
    if not entries:
        raise IngestError(name, "the CSV has a header but no FAQ rows")
    doc = ParsedDocument(name, "csv")
    for entry_id, e in entries.items():
        faq = FaqEntry(
            entry_id,
            tuple(e["questions"]),  # type: ignore[arg-type]
            str(e["answer"]),
            e["category"],  # type: ignore[arg-type]
            e["url"],  # type: ignore[arg-type]
        )
        doc.passages.extend(faq.passages())
    return doc


_QA = re.compile(r"^\s*Q:\s*(?P<q>.+?)\s*\n\s*A:\s*(?P<a>.+?)(?=^\s*Q:|\Z)", re.S | re.M)


def load_markdown(name: str, data: bytes) -> ParsedDocument:
    """Headings ending in `?` and `Q:`/`A:` pairs become FAQ entries; other sections become
    prose passages, split by heading and then by size."""
    from markdown_it import MarkdownIt

    text = decode(name, data)
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
    doc = ParsedDocument(name, "markdown")
    bounds = [*headings, (len(lines), len(lines), 0, "")]
    sections: list[tuple[list[str], str]] = []
    if (headings and headings[0][0] > 0) or not headings:
        first = headings[0][0] if headings else len(lines)
        sections.append(([doc_title], "\n".join(lines[:first])))
    path: list[tuple[int, str]] = []
    for (_, body_start, level, heading), (end, _, _, _) in itertools.pairwise(bounds):
        path = [p for p in path if p[0] < level] + [(level, heading)]
        body = "\n".join(lines[body_start:end])
        sections.append(([h for _, h in path], body))
    used: set[str] = set()
    for heading_path, body in sections:
        body = body.strip()
        heading = heading_path[-1]
        if heading.endswith("?") and body:
            entry = FaqEntry(_unique(f"{slugify(stem)}#{slugify(heading)}", used), (heading,), body)
            doc.passages.extend(entry.passages())
            continue
        pairs = list(_QA.finditer(body))
        for m in pairs:
            q, a = m["q"].strip(), " ".join(m["a"].split())
            entry = FaqEntry(_unique(f"{slugify(stem)}#{slugify(q)}", used), (q,), a)
            doc.passages.extend(entry.passages())
        if pairs:
            body = _QA.sub("", body).strip()
        if not body:
            continue
        title = " > ".join(heading_path)
        base_id = f"{slugify(stem)}#{slugify(heading)}"
        for chunk in split_text(body):
            entry_id = _unique(base_id, used)
            doc.passages.append(PassageDraft(entry_id, "text", title, chunk, chunk))
    if not doc.passages:
        raise IngestError(name, "no text found to add to the knowledge base")
    return doc


def _unique(entry_id: str, used: set[str]) -> str:
    candidate, n = entry_id, 2
    while candidate in used:
        candidate, n = f"{entry_id}-{n}", n + 1
    used.add(candidate)
    return candidate


LOADERS: dict[str, Callable[[str, bytes], ParsedDocument]] = {
    ".csv": load_csv,
    ".md": load_markdown,
    ".markdown": load_markdown,
}


def load_document(name: str, data: bytes) -> ParsedDocument:
    """Parse one uploaded file by its extension; raises IngestError with a clear message."""
    suffix = PurePath(name).suffix.lower()
    loader = LOADERS.get(suffix)
    if loader is None:
        supported = ", ".join(sorted(LOADERS))
        raise IngestError(
            name, f"unsupported file type '{suffix or '(none)'}'; supported types: {supported}"
        )
    return loader(name, data)
