"""Staff actions on conversations: labels, notes, staff replies, "handled", and the export of
conversations to a file for download.

Each takes the acting staff user first, checks what their role allows (Forbidden), does the
work and writes its audit entry in the same database transaction. Problems with what was
asked (an empty note, an unknown label) raise ReviewError with a message for staff.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from chatbot.core.wording import plural
from chatbot.settings import PrivacySettings
from chatbot.staff import export, export_files, export_formats
from chatbot.staff.actor import Actor, require_admin
from chatbot.staff.audit import AuditLog, add_entry
from chatbot.storage import review_edits
from chatbot.storage.review_edits import NoteView

LABELS, NOTE = "conversation.labels", "conversation.note"
STAFF_REPLY, HANDLED = "conversation.staff_reply", "conversation.handled"
EXPORT = "conversations.export"
ANY_OUTCOME = "any"  # how an export of every outcome is described


class ExportFilterError(ValueError):
    """The export's period or outcome is not valid; the message says why."""


@dataclass(frozen=True)
class ExportFile:
    path: Path
    conversations: int
    keep_seconds: float  # deleted this long after it was written


class ConversationActions:
    def __init__(
        self, sessions: sessionmaker[Session], audit: AuditLog, privacy: PrivacySettings
    ) -> None:
        self._sessions = sessions
        self.audit = audit
        self._privacy = privacy  # read at each export: the setting may change meanwhile

    def set_labels(
        self, actor: Actor, conversation_id: str, labels: list[str] | tuple[str, ...]
    ) -> tuple[str, ...]:
        """Replace the labels (vocabulary only); returns them in vocabulary order."""
        with self._sessions.begin() as s:
            saved = review_edits.set_labels(s, conversation_id, labels)
            add_entry(s, actor.name, LABELS, conversation_id, ",".join(saved))
        return saved

    def add_note(self, actor: Actor, conversation_id: str, text: str) -> NoteView:
        """A staff note on the conversation, by the actor."""
        with self._sessions.begin() as s:
            n = review_edits.add_note(s, conversation_id, actor.author, text)
            add_entry(s, actor.name, NOTE, conversation_id)
            return NoteView(n.id, n.author, n.text, n.created_at)

    def reply(self, actor: Actor, conversation_id: str, text: str) -> int:
        """A staff reply into the conversation (the customer sees it); its message id."""
        with self._sessions.begin() as s:
            message_id = review_edits.add_staff_message(s, conversation_id, actor.author, text).id
            add_entry(s, actor.name, STAFF_REPLY, conversation_id)
        return message_id

    def mark_handled(self, actor: Actor, conversation_id: str) -> None:
        """Take a handed-off conversation out of the queue (a later handoff puts it back)."""
        with self._sessions.begin() as s:
            review_edits.mark_handled(s, conversation_id, actor.author)
            add_entry(s, actor.name, HANDLED, conversation_id)

    def export(
        self,
        actor: Actor,
        fmt: str,
        make_filter: Callable[[], export.ExportFilter],
        upload_folder: str | Path,
    ) -> ExportFile:
        """Write the conversations `make_filter()` selects to a private file under
        `upload_folder` (admins only), deleted after `privacy.export_keep_seconds`
        (chatbot.staff.export_files). The filter is made after the role check, so a refused
        caller hears only that: its ValueError becomes ExportFilterError. Raises
        ExportFolderError when the exports folder is not private."""
        require_admin(actor, "export conversations")
        try:
            flt = make_filter()
        except ValueError as exc:
            raise ExportFilterError(str(exc)) from None
        keep = self._privacy.export_keep_seconds
        root = export_files.exports_root(upload_folder)
        export_files.remove_expired(root, keep)
        span = f"{flt.since or 'start'}_to_{flt.until or 'now'}"
        path, out = export_files.open_export(root, f"conversations_{span}.{fmt}")
        try:
            with out:
                count = export_formats.write_export(self._sessions, out, fmt, flt)
        except BaseException:
            export_files.remove_export(path)
            raise
        export_files.remove_later(path, keep)
        # A file, not a database change: its entry is written on its own once it exists.
        self.audit.record(
            actor.name,
            EXPORT,
            path.name,
            f"{plural(count, 'conversation')}; format {fmt}; since {flt.since or '-'}; "
            f"until {flt.until or '-'}; outcome {flt.outcome or ANY_OUTCOME}",
        )
        return ExportFile(path, count, keep)
