"""Checking and naming FAQ entries that staff add or edit one by one."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from knowledge_base.records import FaqEntry

# The document that holds entries added one by one (source_type 'manual').
MANUAL_DOCUMENT = "Staff-edited entries"
MAX_ENTRY_ID = 256


class EntryError(ValueError):
    """An FAQ entry cannot be saved as given; the message says what to fix."""


def make_entry(
    entry_id: str,
    questions: Sequence[str],
    answer: str,
    category: str | None = None,
    url: str | None = None,
) -> FaqEntry:
    """A clean FaqEntry: blank phrasings dropped, duplicates removed, empty fields as None."""
    entry_id = entry_id.strip()
    if not entry_id or len(entry_id) > MAX_ENTRY_ID:
        raise EntryError(f"the entry id must be 1 to {MAX_ENTRY_ID} characters")
    cleaned: list[str] = []
    for q in questions:
        q = " ".join(q.split())
        if q and q not in cleaned:
            cleaned.append(q)
    if not cleaned:
        raise EntryError("an FAQ entry needs at least one question")
    answer = answer.strip()
    if not answer:
        raise EntryError("an FAQ entry needs an answer")
    return FaqEntry(
        entry_id,
        tuple(cleaned),
        answer,
        (category or "").strip() or None,
        (url or "").strip() or None,
    )


def new_entry_id(question: str, taken: Callable[[str], bool]) -> str:
    """A readable id from the question (`manual-how-do-i-...`), unique among `taken` ones."""
    slug = re.sub(r"[^a-z0-9]+", "-", question.lower()).strip("-")[:60].strip("-") or "entry"
    base = f"manual-{slug}"
    candidate, n = base, 2
    while taken(candidate):
        candidate, n = f"{base}-{n}", n + 1
    return candidate
