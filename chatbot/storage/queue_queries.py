"""SQL for the handoff queue (conversations waiting for a person) and the stamps an open staff
console compares to notice changes. Every function takes a session and never commits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select, true
from sqlalchemy.orm import Session

from chatbot.core.vocabulary import DecisionKind, Role
from chatbot.storage.models import STAFF_VIEW_COLUMNS, Conversation, ConversationNote, Message


@dataclass(frozen=True)
class QueueItem:
    """A conversation waiting for a person."""

    id: str
    title: str
    created_at: datetime
    waiting_since: datetime  # the first handoff answer (the conversation start if none)
    handoff_reason: str | None
    contact: str | None
    last_customer_message: str
    messages: int
    language: str | None = None  # the conversation's language (ISO 639-1), None if not known


@dataclass(frozen=True)
class QueueStamp:
    """What changes whenever the handoff queue does: how many conversations wait, and the
    newest message in any of them (a customer writing, a new handoff, a staff reply)."""

    waiting: int
    last_message_id: int | None


# A conversation as far as its transcript shows it: messages, ratings, notes, labels and the
# handoff fields, as plain values (for a gr.State to compare).
ConversationStamp = tuple[object, ...]


@dataclass(frozen=True)
class LiveStamps:
    """The queue's stamp and one per asked-for conversation (none for one not found)."""

    queue: QueueStamp
    conversations: dict[str, ConversationStamp]


# ---- handoff queue -------------------------------------------------------------------------
def handoff_queue(
    session: Session, limit: int = 100, language: str | None = None
) -> list[QueueItem]:
    """Conversations that need a person and are not handled yet, longest waiting first; only
    those in `language` (a code such as "zh") when given."""
    first_handoff = (
        select(func.min(Message.created_at))
        .where(
            Message.conversation_id == Conversation.id,
            Message.role == Role.ASSISTANT,
            Message.decision == DecisionKind.HANDOFF,
        )
        .scalar_subquery()
    )
    waiting = func.coalesce(first_handoff, Conversation.created_at).label("waiting")
    last_user = (
        select(Message.content)
        .where(Message.conversation_id == Conversation.id, Message.role == Role.USER)
        .order_by(Message.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    count = (
        select(func.count(Message.id))
        .where(Message.conversation_id == Conversation.id)
        .scalar_subquery()
    )
    query = select(Conversation, waiting, last_user, count).where(
        Conversation.needs_human == true(), Conversation.handled_at.is_(None)
    )
    if language:
        query = query.where(Conversation.language == language)
    rows = session.execute(query.order_by(waiting, Conversation.id).limit(limit)).all()
    return [
        QueueItem(
            c.id,
            c.title,
            c.created_at,
            _aware(since) if isinstance(since, datetime) else c.created_at,
            c.handoff_reason,
            c.contact,
            last or "",
            n,
            c.language,
        )
        for c, since, last, n in rows
    ]


def live_stamps(session: Session, conversation_ids: Sequence[str]) -> LiveStamps:
    """The stamps an open staff console compares to notice changes, in one query: the
    queue's (over the unhandled handed-off conversations, by the indexed
    messages.conversation_id) and each conversation's (by primary key, its messages and
    notes read through their indexed conversation ids)."""
    ids = sorted({c for c in conversation_ids if c})
    waiting = (Conversation.needs_human == true(), Conversation.handled_at.is_(None))
    queue = select(
        select(func.count()).select_from(Conversation).where(*waiting).scalar_subquery(),
        select(func.max(Message.id))
        .join(Conversation, Message.conversation_id == Conversation.id)
        .where(*waiting)
        .scalar_subquery(),
    ).subquery("queue")
    waiting_count, waiting_last = queue.c
    messages = (
        select(
            Message.conversation_id.label("cid"),
            func.max(Message.id).label("last_id"),
            func.count(Message.rating).label("rated"),
            func.sum(Message.rating).label("rating_sum"),
        )
        .where(Message.conversation_id.in_(ids))
        .group_by(Message.conversation_id)
        .subquery("conversation_messages")
    )
    notes_of = (
        select(
            ConversationNote.conversation_id.label("cid"),
            func.max(ConversationNote.id).label("last_id"),
        )
        .where(ConversationNote.conversation_id.in_(ids))
        .group_by(ConversationNote.conversation_id)
        .subquery("conversation_notes_last")
    )
    shown = (
        *STAFF_VIEW_COLUMNS,
        messages.c.last_id,
        messages.c.rated,
        messages.c.rating_sum,
        notes_of.c.last_id,
    )
    rows = session.execute(
        select(waiting_count, waiting_last, Conversation.id, *shown)
        .select_from(queue)
        .outerjoin(Conversation, Conversation.id.in_(ids))
        .outerjoin(messages, messages.c.cid == Conversation.id)
        .outerjoin(notes_of, notes_of.c.cid == Conversation.id)
    ).all()
    stamps = {
        row[2]: tuple(v.isoformat() if isinstance(v, datetime) else v for v in row[3:])
        for row in rows
        if row[2] is not None
    }
    return LiveStamps(QueueStamp(rows[0][0] or 0, rows[0][1]), stamps)


def _aware(value: datetime) -> datetime:
    """SQLite returns naive datetimes from aggregates; they are UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
