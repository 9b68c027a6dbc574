"""Staff actions on the knowledge base: upload and delete documents, save and delete FAQ
entries, and the FAQ changes made from a conversation or from the unanswered questions.

Each takes the acting staff user first, checks what their role allows (Forbidden), does the
work and writes its audit entry in the transaction of the change (the knowledge base's
`also` hook), so a change is never saved without its entry, nor an entry without its
change. Every change is in answers at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from sqlalchemy.orm import Session

from chatbot.core.wording import plural
from chatbot.staff.actor import Actor, require_admin
from chatbot.staff.audit import AuditLog, add_entry, entry_writer, ingest_details
from knowledge_base.entries import EntryError
from knowledge_base.records import FaqEntry, IngestProgress, IngestResult
from knowledge_base.service import KnowledgeBase

UPLOAD, UPLOAD_REFUSED = "kb.upload", "kb.upload_refused"
DELETE_DOCUMENT = "kb.delete_document"
SAVE_FAQ_ENTRY, DELETE_FAQ_ENTRY = "kb.save_faq_entry", "kb.delete_faq_entry"
# Outcomes whose passages were saved: their audit entry went in with them.
SAVED = ("added", "replaced")

ProgressFn = Callable[[int, int], None]


class UnreadableUpload(ValueError):
    """A front end cannot hand over an uploaded file; the message says why (for staff)."""


class KnowledgeActions:
    def __init__(self, kb: KnowledgeBase, audit: AuditLog) -> None:
        self.kb = kb
        self.audit = audit

    # ---- documents ----------------------------------------------------------------------
    def upload(
        self,
        actor: Actor,
        name: str,
        read: Callable[[], bytes],
        progress: ProgressFn | None = None,
    ) -> IngestResult:
        """Ingest one uploaded file; problems are in the result, never raised. `read` gives
        its content (UnreadableUpload or OSError when it cannot). Replacing a document
        deletes its passages, so only admins may: the knowledge base refuses it for anyone
        else. Every outcome is audited, refusals and failures too."""
        try:
            data = read()
        except UnreadableUpload as exc:
            result = IngestResult(name, "error", message=str(exc))
        except OSError as exc:
            result = IngestResult(name, "error", message=f"cannot read file: {exc.strerror}")
        else:
            result = self.kb.ingest_bytes(
                name,
                data,
                progress=progress,
                may_replace=actor.is_admin,
                also=self._upload_entry(actor),
            )
        self._audit_unsaved(actor, result)
        return result

    def ingest_paths(
        self,
        actor: Actor,
        paths: Iterable[Path],
        on_result: Callable[[IngestResult], None] | None = None,
        progress: Callable[[IngestProgress], None] | None = None,
    ) -> list[IngestResult]:
        """Ingest files and folders on this machine (KnowledgeBase.ingest_paths); every file
        read is audited (skipped ones were not read)."""
        require_admin(actor, "add files from the server's folders")

        def audited(result: IngestResult) -> None:
            if result.status != "skipped":
                self._audit_unsaved(actor, result)
            if on_result is not None:
                on_result(result)

        return self.kb.ingest_paths(
            paths, on_result=audited, progress=progress, also=self._upload_entry(actor)
        )

    def _upload_entry(self, actor: Actor) -> Callable[[Session, IngestResult], None]:
        def write(session: Session, result: IngestResult) -> None:
            add_entry(session, actor.name, UPLOAD, result.name, ingest_details(result))

        return write

    def _audit_unsaved(self, actor: Actor, result: IngestResult) -> None:
        """The entry of an upload that saved no passages (unchanged, refused, failed)."""
        if result.status in SAVED:
            return
        action = UPLOAD_REFUSED if result.status == "refused" else UPLOAD
        self.audit.record(actor.name, action, result.name, ingest_details(result))

    def delete_document(self, actor: Actor, name: str) -> bool:
        """Delete a document by name (admins only); False when there is none (or no name)."""
        require_admin(actor, "delete documents")
        if not name:
            return False
        return self.kb.delete(name, also=entry_writer(actor.name, DELETE_DOCUMENT, name))

    # ---- FAQ entries --------------------------------------------------------------------
    def faq_entry(self, entry_id: str) -> FaqEntry:
        """An FAQ entry to change; EntryError when there is none of that id."""
        found = self.kb.get_faq_entry(entry_id) if entry_id else None
        if found is None:
            raise EntryError(
                f"there is no FAQ entry {entry_id!r} (document sections cannot be edited here)"
            )
        return found

    def _save(
        self,
        actor: Actor,
        entry_id: str | None,
        questions: list[str] | tuple[str, ...],
        answer: str,
        category: str | None,
        url: str | None,
        details: Callable[[FaqEntry], str],
    ) -> FaqEntry:
        """Save an entry with its audit entry (`details` of the saved entry). EntryError."""

        def write(session: Session, entry: FaqEntry) -> None:
            add_entry(session, actor.name, SAVE_FAQ_ENTRY, entry.entry_id, details(entry))

        return self.kb.save_faq_entry(entry_id, questions, answer, category, url, also=write)

    def save_faq_entry(
        self,
        actor: Actor,
        entry_id: str | None,
        questions: list[str],
        answer: str,
        category: str | None = None,
        url: str | None = None,
    ) -> FaqEntry:
        """Add an entry (no id, or a new one) or replace one (KnowledgeBase.save_faq_entry)."""
        verb = "edited" if entry_id else "added"
        return self._save(actor, entry_id or None, questions, answer, category, url, lambda _: verb)

    def delete_faq_entry(self, actor: Actor, entry_id: str) -> bool:
        """Delete an FAQ entry (admins only); False when there is none (or no id)."""
        require_admin(actor, "delete FAQ entries")
        if not entry_id:
            return False
        return self.kb.delete_faq_entry(
            entry_id, also=entry_writer(actor.name, DELETE_FAQ_ENTRY, entry_id)
        )

    # ---- from a conversation's review -----------------------------------------------------
    def add_entry_from_conversation(
        self, actor: Actor, conversation_id: str, question: str, answer: str
    ) -> FaqEntry:
        """A customer's question as a new FAQ entry (in "Staff-edited entries")."""
        return self._save(
            actor, None, [question], answer, None, None, lambda _: f"added from {conversation_id}"
        )

    def add_phrasing(
        self, actor: Actor, conversation_id: str, entry_id: str, question: str
    ) -> FaqEntry:
        """A customer's question as another phrasing of an existing entry."""
        e = self.faq_entry(entry_id)
        if not " ".join(question.split()):
            raise EntryError("the question is empty")
        return self._save(
            actor,
            e.entry_id,
            [*e.questions, question],
            e.answer,
            e.category,
            e.url,
            lambda _: f"phrasing added from {conversation_id}",
        )

    def correct_answer(
        self, actor: Actor, conversation_id: str | None, entry_id: str, answer: str
    ) -> FaqEntry:
        """Replace an existing entry's answer (its phrasings stay)."""
        e = self.faq_entry(entry_id)
        where = f" from {conversation_id}" if conversation_id else ""
        return self._save(
            actor,
            e.entry_id,
            e.questions,
            answer,
            e.category,
            e.url,
            lambda _: f"answer corrected{where}",
        )

    # ---- from the analytics ---------------------------------------------------------------
    def add_unanswered_group(self, actor: Actor, questions: list[str], answer: str) -> FaqEntry:
        """A group of questions the bot could not answer as one new FAQ entry."""

        def details(entry: FaqEntry) -> str:
            phrasings = plural(len(entry.questions), "phrasing")
            return f"added from analytics (unanswered questions), {phrasings}"

        return self._save(actor, None, questions, answer, None, None, details)
