"""Read-only access to stored conversations for the UI and CLI (no sessions leak out)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from chatbot.storage import repositories as repo
from chatbot.storage.repositories import ConversationSummary


@dataclass(frozen=True)
class SourceView:
    rank: int
    entry_id: str
    title: str
    snippet: str
    score: float
    url: str | None


@dataclass(frozen=True)
class MessageView:
    id: int
    role: str
    content: str
    created_at: datetime
    decision: str | None
    reason: str | None
    status: str
    latency_ms: float | None
    first_token_ms: float | None
    sources: list[SourceView]
    answer_mode: str | None = None
    grounded: bool | None = None
    rewritten_query: str | None = None


@dataclass(frozen=True)
class TranscriptView:
    id: str
    title: str
    channel: str
    created_at: datetime
    needs_human: bool
    messages: list[MessageView]
    handoff_reason: str | None = None
    contact: str | None = None


class ConversationLog:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def recent(self, limit: int = 50, offset: int = 0) -> list[ConversationSummary]:
        with self._sessions() as s:
            return repo.list_conversations(s, limit, offset)

    def transcript(self, conversation_id: str) -> TranscriptView | None:
        with self._sessions() as s:
            conv = repo.load_transcript(s, conversation_id)
            if conv is None:
                return None
            return TranscriptView(
                conv.id,
                conv.title,
                conv.channel,
                conv.created_at,
                conv.needs_human,
                [
                    MessageView(
                        m.id,
                        m.role,
                        m.content,
                        m.created_at,
                        m.decision,
                        m.reason,
                        m.status,
                        m.latency_ms,
                        m.first_token_ms,
                        [
                            SourceView(x.rank, x.entry_id, x.title, x.snippet, x.score, x.url)
                            for x in m.sources
                        ],
                        m.answer_mode,
                        m.grounded,
                        m.rewritten_query,
                    )
                    for m in conv.messages
                ],
                conv.handoff_reason,
                conv.contact,
            )
