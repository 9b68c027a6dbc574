"""Helpers shared by the prose loaders: ids, and sections -> FAQ entries and text passages."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from knowledge_base.chunking import split_text
from knowledge_base.limits import PassageBudget
from knowledge_base.records import FaqEntry, PassageDraft

# `Q:`/`A:` with an ASCII or a full-width colon (as Chinese text writes it).
_QA = re.compile(
    r"^\s*Q[:：]\s*(?P<q>.+?)\s*\n\s*A[:：]\s*(?P<a>.+?)(?=^\s*Q[:：]|\Z)", re.S | re.M
)
# A heading that asks: ASCII or full-width question mark.
_QUESTION_MARKS = ("?", "？")
_HAN_KANA = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HANGUL = "\uac00-\ud7af"
# Han and kana plus CJK and full-width punctuation. Not hangul: Korean spaces its words.
_UNSPACED = f"{_HAN_KANA}\u3000-\u303f\uff01-\uff60\uffe0-\uffe6"
# A line break between two of them is where the text was wrapped, not a space: Chinese and
# Japanese put no spaces between words (the rule CSS Text 3 applies to segment breaks).
_WRAPPED = re.compile(f"(?<=[{_UNSPACED}])[ \t]*\n[ \t]*(?=[{_UNSPACED}])")
_NOT_SLUG = re.compile(f"[^a-z0-9{_HAN_KANA}{_HANGUL}]+")


def slugify(text: str) -> str:
    """Lower-case letters and digits joined by "-"; Chinese, Japanese and Korean letters are
    kept, so a Chinese heading's id names it instead of being a numbered "section"."""
    return _NOT_SLUG.sub("-", text.lower()).strip("-")[:60] or "section"


def join_wrapped_lines(text: str) -> str:
    """Remove the line breaks that wrapping put between two Chinese or Japanese characters;
    elsewhere a line break stays, to become a space as in English."""
    return _WRAPPED.sub("", text)


def unique_id(entry_id: str, used: set[str]) -> str:
    candidate, n = entry_id, 2
    while candidate in used:
        candidate, n = f"{entry_id}-{n}", n + 1
    used.add(candidate)
    return candidate


def section_passages(
    stem: str,
    sections: Iterable[tuple[Sequence[str], str]],
    used: set[str],
    budget: PassageBudget,
) -> list[PassageDraft]:
    """Turn (heading path, body) sections into passages, counted against `budget`.

    A heading that ends in `?` (or a full-width `？`) is an FAQ entry whose answer is its body,
    and `Q:`/`A:` pairs in a body are FAQ entries too; FAQ entries are never split. The rest of
    each body is split by size (with overlap) into text passages titled by the heading path.
    Line breaks that wrapped Chinese text are removed first (`join_wrapped_lines`).
    """
    passages: list[PassageDraft] = []
    slug = slugify(stem)

    def add(new: list[PassageDraft]) -> None:
        budget.take(len(new))
        passages.extend(new)

    for heading_path, raw_body in sections:
        body = join_wrapped_lines(raw_body).strip()
        heading = heading_path[-1]
        if heading.endswith(_QUESTION_MARKS) and body:
            entry = FaqEntry(unique_id(f"{slug}#{slugify(heading)}", used), (heading,), body)
            add(entry.passages())
            continue
        matched = False
        for m in _QA.finditer(body):
            matched = True
            q, a = m["q"].strip(), " ".join(m["a"].split())
            entry = FaqEntry(unique_id(f"{slug}#{slugify(q)}", used), (q,), a)
            add(entry.passages())
        if matched:
            body = _QA.sub("", body).strip()
        if not body:
            continue
        title = " > ".join(heading_path)
        base_id = f"{slug}#{slugify(heading)}"
        for chunk in split_text(body):
            add([PassageDraft(unique_id(base_id, used), "text", title, chunk, chunk)])
    return passages


def heading_sections(
    doc_title: str, preface: str, headed: Iterable[tuple[int, str, str]]
) -> list[tuple[list[str], str]]:
    """(level, heading, body) in document order -> (heading path, body). Text before the first
    heading (`preface`) is titled by the document title; a heading's path holds the nearest
    enclosing heading of each lower level, so siblings never inherit each other."""
    sections: list[tuple[list[str], str]] = []
    if preface.strip():
        sections.append(([doc_title], preface))
    path: list[tuple[int, str]] = []
    for level, heading, body in headed:
        path = [p for p in path if p[0] < level] + [(level, heading)]
        sections.append(([h for _, h in path], body))
    return sections
