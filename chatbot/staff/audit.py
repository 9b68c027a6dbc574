"""The audit log: who changed what, when.

A staff action writes its entry in the transaction of the change it records
(`add_entry`, see chatbot.staff.actions), so there is never a change without its entry nor
an entry without its change. `AuditLog.record` is for entries of their own (an upload that
was refused, an export file)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from chatbot.core.wording import plural
from chatbot.storage.models import AuditEntry

if TYPE_CHECKING:
    from knowledge_base.records import IngestResult

# Column sizes in chatbot.storage.models.AuditEntry.
ACTOR_CHARS = 64
ACTION_CHARS = 64


@dataclass(frozen=True)
class AuditRecord:
    id: int
    actor: str
    action: str
    target: str
    details: str
    created_at: datetime


class AuditLog:
    """Append-only record of staff actions (`actor` is a staff user name, or "cli")."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def record(self, actor: str, action: str, target: str = "", details: str = "") -> None:
        """Store one entry, committed at once (independent of the caller's transaction)."""
        with self._sessions.begin() as s:
            add_entry(s, actor, action, target, details)

    def recent(self, limit: int = 100) -> list[AuditRecord]:
        """The latest entries, newest first."""
        with self._sessions() as s:
            rows = s.scalars(
                select(AuditEntry)
                .order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
                .limit(limit)
            ).all()
            return [
                AuditRecord(r.id, r.actor, r.action, r.target, r.details, r.created_at)
                for r in rows
            ]


def add_entry(
    session: Session, actor: str, action: str, target: str = "", details: str = ""
) -> None:
    """Add one entry to `session`'s open transaction: it commits or rolls back with it."""
    session.add(
        AuditEntry(
            actor=actor[:ACTOR_CHARS],
            action=action[:ACTION_CHARS],
            target=target,
            details=details,
        )
    )
    session.flush()  # a row the database refuses fails here, before the change commits


InTransaction = Callable[[Session], None]


def entry_writer(actor: str, action: str, target: str = "", details: str = "") -> InTransaction:
    """`add_entry` for a write that runs its own transaction and calls this inside it."""

    def write(session: Session) -> None:
        add_entry(session, actor, action, target, details)

    return write


def ingest_details(result: IngestResult) -> str:
    """An ingested file's outcome for the audit log ("added, 4 passages" or the error)."""
    return f"{result.status}, {plural(result.passages, 'passage')}" if result.ok else result.message
