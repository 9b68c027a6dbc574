"""Synthetic stored conversations with chosen timestamps, written through the repositories
(for the analytics, export and privacy tests)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from chatbot.storage import repositories as repo
from chatbot.storage.models import Conversation, ConversationNote, Message, MessageSource
from chatbot.storage.repositories import SourceRecord

DEFAULT_REASON = {"answer": "matched", "fallback": "low_score", "handoff": "requested"}


@dataclass(frozen=True)
class Turn:
    """A customer message and the bot's reply (`decision` None: no reply was stored)."""

    question: str
    decision: str | None = "answer"
    reason: str | None = None
    answer: str = "Here is what our help articles say."
    latency_ms: float = 100.0
    first_token_ms: float | None = 50.0
    rating: int | None = None
    rating_reason: str | None = None
    status: str = "complete"
    sources: Sequence[SourceRecord] = field(default_factory=tuple)
    language: str | None = None  # the customer message's, as the dialogue detects it


def source(entry_id: str, score: float, title: str | None = None) -> SourceRecord:
    return SourceRecord(None, entry_id, title or entry_id.title(), "snippet", None, score)


def at(day: str, hour: int = 12) -> datetime:
    """`day` (YYYY-MM-DD) at `hour`:00 UTC."""
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def add_conversation(
    sessions: sessionmaker[Session],
    when: datetime,
    turns: Sequence[Turn],
    *,
    labels: str | None = None,
    notes: Sequence[tuple[str, str]] = (),
    contact: str | None = None,
    channel: str = "web",
) -> str:
    """Store a conversation whose messages are a second apart from `when`; returns its id."""
    with sessions.begin() as s:
        conv = repo.create_conversation(s, channel, turns[0].question if turns else "")
        step = 0
        for t in turns:
            user = repo.add_user_message(s, conv, t.question, language=t.language)
            user.created_at = when + timedelta(seconds=step)
            step += 1
            if t.decision is None:
                continue
            bot = repo.add_assistant_message(
                s,
                conv.id,
                content=t.answer,
                decision=t.decision,
                reason=t.reason or DEFAULT_REASON[t.decision],
                sources=list(t.sources),
                latency_ms=t.latency_ms,
                first_token_ms=t.first_token_ms,
                status=t.status,
                answer_mode="approved" if t.decision == "answer" else "canned",
                grounded=True if t.decision == "answer" else None,
            )
            if t.decision == "handoff":  # as the dialogue does on a handoff
                repo.mark_needs_human(s, conv.id, bot.reason)
            bot.created_at = when + timedelta(seconds=step)
            bot.rating, bot.rating_reason = t.rating, t.rating_reason
            step += 1
        conv.created_at = when
        conv.updated_at = when + timedelta(seconds=step)
        conv.labels = labels
        if contact:
            conv.contact = contact
        for author, text in notes:
            s.add(ConversationNote(conversation_id=conv.id, author=author, text=text))
        return conv.id


def table_counts(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as s:
        return {
            model.__tablename__: int(s.scalar(select(func.count()).select_from(model)) or 0)
            for model in (Conversation, Message, MessageSource, ConversationNote)
        }
