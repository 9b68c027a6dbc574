"""FAQ entries that staff add or edit one by one: checked, named, saved and deleted."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session, sessionmaker

from knowledge_base import repository
from knowledge_base.index_sync import IndexSync
from knowledge_base.records import FaqEntry, PassageDraft, SavedPassages

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


class EntryEditor:
    """Reads, saves and deletes single FAQ entries; only that entry's passages change."""

    def __init__(self, sessions: sessionmaker[Session], sync: IndexSync) -> None:
        self._sessions = sessions
        self._sync = sync

    def ids(self) -> list[str]:
        with self._sessions() as s:
            return repository.faq_entry_ids(s)

    def get(self, entry_id: str) -> FaqEntry | None:
        """An FAQ entry (questions, answer, category, url); None for unknown ids and for
        prose sections, which are edited by uploading their document again."""
        with self._sessions() as s:
            passages = repository.entry_passages(s, entry_id)
        if not passages or any(p.kind not in repository.FAQ_KINDS for p in passages):
            return None
        questions = tuple(p.text for p in passages if p.kind == "question")
        if not questions:
            return None
        first = passages[0]
        return FaqEntry(entry_id, questions, first.answer, first.category, first.url)

    def save(
        self,
        entry_id: str | None,
        questions: Sequence[str],
        answer: str,
        category: str | None = None,
        url: str | None = None,
        also: Callable[[Session, FaqEntry], None] | None = None,
    ) -> FaqEntry:
        """Add an entry (`entry_id` None or unknown: into the "Staff-edited entries" document)
        or replace an existing one in place, in whatever document holds it. Only that entry's
        passages change (re-embedded); it is in answers at once. Raises EntryError. `also`
        runs in the same transaction with the saved entry (see `KnowledgeBase.delete`)."""
        wanted = (entry_id or "").strip() or None
        if wanted is not None:
            with self._sessions() as s:
                current = repository.entry_passages(s, wanted)
            if any(p.kind not in repository.FAQ_KINDS for p in current):
                raise EntryError(
                    f"'{wanted}' is a document section, not an FAQ entry; change it in its "
                    "document and upload that again"
                )
        entry = make_entry(wanted or "new", questions, answer, category, url)
        texts = [d.text for d in entry.passages()]  # the id does not change the texts
        vectors = self._sync.embed(texts)
        saved_entry = entry

        def save(s: Session) -> tuple[SavedPassages, Sequence[PassageDraft]]:
            nonlocal saved_entry
            if wanted is None:  # pick the id inside the transaction: no two writers share it
                new_id = new_entry_id(entry.questions[0], lambda c: repository.entry_exists(s, c))
                saved_entry = FaqEntry(
                    new_id, entry.questions, entry.answer, entry.category, entry.url
                )
            drafts = saved_entry.passages()
            saved = repository.replace_entry(
                s, saved_entry.entry_id, drafts, vectors, self._sync.embedder.name, MANUAL_DOCUMENT
            )
            if also is not None:
                also(s, saved_entry)
            return saved, drafts

        self._sync.commit(save, vectors)
        return saved_entry

    def delete(self, entry_id: str, also: Callable[[Session], None] | None = None) -> bool:
        """Delete one FAQ entry (a document left empty goes too); False if there is none.
        `also` runs in the same transaction (see `KnowledgeBase.delete`)."""

        def remove(s: Session) -> tuple[SavedPassages, Sequence[PassageDraft]] | None:
            passages = repository.entry_passages(s, entry_id)
            if not passages or any(p.kind not in repository.FAQ_KINDS for p in passages):
                return None
            saved = repository.delete_entry(s, entry_id)
            if saved is not None and also is not None:
                also(s)
            return None if saved is None else (saved, [])

        return self._sync.commit(remove) is not None
