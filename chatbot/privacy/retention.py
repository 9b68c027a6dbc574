"""Retention: delete conversations with no recent activity, with everything attached to them,
and leave no copy of the deleted text on disk.

Takes the sessionmaker (and the retention setting) it works with, not the container: the
container builds services from this module, never the other way round."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from chatbot.storage import scrub as storage_scrub
from chatbot.storage.models import Conversation, ConversationNote, Message, MessageSource
from knowledge_base.tables import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PurgePlan:
    cutoff: datetime
    conversations: int


_PURGE_BATCH = 500


def retention_cutoff(days: int, now: datetime | None = None) -> datetime:
    if days < 1:
        raise ValueError("days must be at least 1")
    return (now or utcnow()) - timedelta(days=days)


def count_older_than(
    sessions: sessionmaker[Session], days: int, now: datetime | None = None
) -> PurgePlan:
    """How many conversations `purge_older_than` would delete (nothing is changed)."""
    cutoff = retention_cutoff(days, now)
    with sessions() as s:
        n = s.scalar(
            select(func.count()).select_from(Conversation).where(Conversation.updated_at < cutoff)
        )
    return PurgePlan(cutoff, int(n or 0))


def purge_older_than(
    sessions: sessionmaker[Session], days: int, now: datetime | None = None
) -> int:
    """Delete conversations with no activity (`updated_at`) in the last `days` days, with
    everything attached to them: messages, their sources, and staff notes. Returns how many
    conversations were deleted."""
    return purge_before(sessions, retention_cutoff(days, now))


def purge_before(sessions: sessionmaker[Session], cutoff: datetime, *, scrub: bool = True) -> int:
    """Delete conversations whose last activity is before `cutoff`, with their messages,
    sources and notes. Returns how many conversations were deleted.

    Deletes in batches, each its own short transaction, so a large purge never holds the
    database for long. The children are deleted explicitly as well as by the foreign keys'
    ON DELETE CASCADE, so nothing is left behind even where cascades are not enforced. On
    SQLite the deleted text is overwritten and, with `scrub`, the database file rebuilt and
    its write-ahead log emptied (chatbot.storage.scrub), so no copy stays on disk.
    """
    deleted = 0
    while True:
        with sessions.begin() as s:
            storage_scrub.secure_delete(s)
            ids = list(
                s.scalars(
                    select(Conversation.id)
                    .where(Conversation.updated_at < cutoff)
                    .order_by(Conversation.updated_at, Conversation.id)
                    .limit(_PURGE_BATCH)
                )
            )
            if not ids:
                break
            message_ids = select(Message.id).where(Message.conversation_id.in_(ids))
            s.execute(delete(MessageSource).where(MessageSource.message_id.in_(message_ids)))
            s.execute(delete(Message).where(Message.conversation_id.in_(ids)))
            s.execute(delete(ConversationNote).where(ConversationNote.conversation_id.in_(ids)))
            s.execute(delete(Conversation).where(Conversation.id.in_(ids)))
        deleted += len(ids)
    if deleted:
        log.info("deleted %d conversations with no activity since %s", deleted, cutoff)
        if scrub:
            storage_scrub.scrub(storage_scrub.engine_of(sessions))
    return deleted


def apply_retention(sessions: sessionmaker[Session], days: int | None) -> int:
    """Automatic retention (called at start-up with `CHATBOT_PRIVACY__RETENTION_DAYS`): purge
    conversations older than `days`, when it is set. Returns how many were deleted."""
    if days is None:
        return 0
    return purge_older_than(sessions, days)
