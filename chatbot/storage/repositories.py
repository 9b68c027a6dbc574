"""Conversation repository functions. They take a session and never commit: one dialogue
turn step is one transaction, owned by the caller."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Protocol

from sqlalchemy import ColumnElement, ScalarSelect, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session, selectinload

from chatbot.core.vocabulary import MessageStatus, Role
from chatbot.storage.models import Conversation, Message, MessageSource
from knowledge_base.tables import utcnow


@dataclass(frozen=True)
class SourceRecord:
    passage_id: int | None
    entry_id: str
    title: str
    snippet: str
    url: str | None
    score: float
    page: int | None = None
    cited: bool = False  # shown to the customer under the answer


# A SourceRecord's fields are the message_sources columns of the same names.
_SOURCE_FIELDS = fields(SourceRecord)


@dataclass(frozen=True)
class ConversationHeader:
    """What every list of conversations shows first (the review search adds to it)."""

    id: str
    title: str
    channel: str
    created_at: datetime
    updated_at: datetime
    messages: int
    needs_human: bool


@dataclass(frozen=True)
class ConversationSummary(ConversationHeader):
    last_decision: str | None
    language: str | None = None


def create_conversation(
    session: Session, channel: str, title: str, customer_id: str | None = None
) -> Conversation:
    """A new conversation; `customer_id` only once the caller has verified it."""
    conv = Conversation(
        id=str(uuid.uuid4()), channel=channel, title=title[:200], customer_id=customer_id
    )
    session.add(conv)
    session.flush()
    return conv


def get_conversation(session: Session, conversation_id: str) -> Conversation | None:
    return session.get(Conversation, conversation_id)


def add_user_message(
    session: Session, conversation: Conversation, text: str, language: str | None = None
) -> Message:
    """Store a customer message with its language (ISO 639-1, or None when unknown); a known
    language becomes the conversation's language, so it follows the customer's latest one."""
    language = (language or "").strip().lower()[:8] or None
    msg = Message(conversation_id=conversation.id, role=Role.USER, content=text, language=language)
    session.add(msg)
    conversation.updated_at = utcnow()
    if language is not None:
        conversation.language = language
    session.flush()
    return msg


def add_assistant_message(
    session: Session,
    conversation_id: str,
    *,
    content: str,
    decision: str,
    reason: str | None,
    sources: Sequence[SourceRecord],
    latency_ms: float,
    first_token_ms: float | None,
    status: str = MessageStatus.COMPLETE,
    error: str | None = None,
    answer_mode: str | None = None,
    grounded: bool | None = None,
    rewritten_query: str | None = None,
    draft: str | None = None,
    draft_rejection: str | None = None,
) -> Message:
    """Store a bot (or staff) answer with its sources. Only stores: what a decision means for
    the conversation (a handoff puts it in the queue) is the dialogue's to say
    (`mark_needs_human`)."""
    msg = Message(
        conversation_id=conversation_id,
        role=Role.ASSISTANT,
        content=content,
        decision=decision,
        reason=reason,
        latency_ms=latency_ms,
        first_token_ms=first_token_ms,
        status=status,
        error=error,
        answer_mode=answer_mode,
        grounded=grounded,
        rewritten_query=rewritten_query,
        draft=draft,
        draft_rejection=draft_rejection,
        sources=[
            MessageSource(rank=rank, **{f.name: getattr(src, f.name) for f in _SOURCE_FIELDS})
            for rank, src in enumerate(sources, start=1)
        ],
    )
    session.add(msg)
    conv = session.get(Conversation, conversation_id)
    if conv is not None:
        conv.updated_at = utcnow()
    session.flush()
    return msg


def mark_needs_human(session: Session, conversation_id: str, reason: str | None) -> None:
    """Put the conversation in the handoff queue: it needs a person, for `reason` unless it
    already has one, and is no longer marked handled (a queue entry staff handled comes back)."""
    conv = session.get(Conversation, conversation_id)
    if conv is not None:
        conv.needs_human = True
        conv.handoff_reason = conv.handoff_reason or reason
        conv.handled_at = conv.handled_by = None


def rate_message(
    session: Session,
    message_id: int,
    rating: int | None,
    reason: str | None = None,
    conversation_id: str | None = None,
) -> bool:
    """Store a customer's rating of a bot answer: +1, -1 (with an optional reason) or None to
    take it back. False when there is no such bot answer (in `conversation_id`, when given)."""
    if rating not in (1, -1, None):
        raise ValueError(f"a rating is +1, -1 or None, not {rating!r}")
    msg = session.get(Message, message_id)
    if msg is None or msg.role != Role.ASSISTANT:
        return False
    if conversation_id is not None and msg.conversation_id != conversation_id:
        return False
    msg.rating = rating
    msg.rating_reason = ((reason or "").strip()[:500] or None) if rating == -1 else None
    session.flush()
    return True


def history(session: Session, conversation_id: str, limit: int = 6) -> list[tuple[str, str]]:
    """The last messages of a conversation as (role, content), oldest first."""
    rows = session.execute(
        select(Message.role, Message.content)
        .where(Message.conversation_id == conversation_id)
        .order_by(Message.id.desc())
        .limit(limit)
    ).all()
    return [(r, c) for r, c in reversed(rows)]


def set_contact(session: Session, conversation_id: str, contact: str) -> None:
    conv = session.get(Conversation, conversation_id)
    if conv is not None:
        conv.contact = contact[:320]


def recent_decisions(session: Session, conversation_id: str, limit: int = 10) -> list[str]:
    """Decisions of the latest bot answers in a conversation, newest first."""
    rows = session.scalars(
        select(Message.decision)
        .where(Message.conversation_id == conversation_id, Message.role == Role.ASSISTANT)
        .order_by(Message.id.desc())
        .limit(limit)
    )
    return [d or "" for d in rows]


def last_decision() -> ScalarSelect[str | None]:
    """The decision of a conversation's latest bot message, as a correlated subquery."""
    return (
        select(Message.decision)
        .where(Message.conversation_id == Conversation.id, Message.role == Role.ASSISTANT)
        .order_by(Message.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def list_conversations(
    session: Session, limit: int = 50, offset: int = 0
) -> list[ConversationSummary]:
    """Newest first (by last activity)."""
    counts = (
        select(Message.conversation_id, func.count(Message.id).label("n"))
        .group_by(Message.conversation_id)
        .subquery()
    )
    rows = session.execute(
        select(Conversation, func.coalesce(counts.c.n, 0), last_decision())
        .outerjoin(counts, counts.c.conversation_id == Conversation.id)
        .order_by(Conversation.updated_at.desc(), Conversation.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return [
        ConversationSummary(
            c.id, c.title, c.channel, c.created_at, c.updated_at, n, c.needs_human, d, c.language
        )
        for c, n, d in rows
    ]


def load_transcript(session: Session, conversation_id: str) -> Conversation | None:
    """The conversation with its messages and each answer's sources, loaded eagerly."""
    return session.scalar(
        select(Conversation)
        .where(Conversation.id == conversation_id)
        .options(selectinload(Conversation.messages).selectinload(Message.sources))
    )


class Span(Protocol):
    """A stretch of time: from `start` (included) to `end` (excluded); None leaves an end open
    (a chatbot.core.dates.DateRange, an analytics period)."""

    @property
    def start(self) -> datetime | None: ...

    @property
    def end(self) -> datetime | None: ...


def within(column: InstrumentedAttribute[datetime], span: Span) -> list[ColumnElement[bool]]:
    """WHERE clauses keeping the rows whose `column` lies in `span`."""
    out: list[ColumnElement[bool]] = []
    if span.start is not None:
        out.append(column >= span.start)
    if span.end is not None:
        out.append(column < span.end)
    return out
