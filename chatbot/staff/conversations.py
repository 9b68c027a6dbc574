"""Stored conversations for the UI and CLI (no sessions leak out): listing, filtered search,
transcripts, the handoff queue, and the staff actions on a conversation (notes, labels,
"handled", staff replies) and customers' ratings of answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from chatbot.core.events import Event, EventSink, NoEvents, publish_safely
from chatbot.core.vocabulary import EventKind
from chatbot.storage import queue_queries, review_edits, review_search
from chatbot.storage import repositories as repo
from chatbot.storage.models import Message
from chatbot.storage.queue_queries import LiveStamps, QueueItem
from chatbot.storage.repositories import ConversationSummary, SourceRecord
from chatbot.storage.review_edits import NoteView
from chatbot.storage.review_search import ReviewFilters, ReviewRow


@dataclass(frozen=True)
class SourceView(SourceRecord):
    """A stored source of an answer, with its place in the answer's list (1 = best)."""

    rank: int = 0


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
    rating: int | None = None  # the customer's +1 / -1
    rating_reason: str | None = None
    draft: str | None = None  # a generated draft the check withheld from the customer
    draft_rejection: str | None = None  # why (a chatbot.answers.grounding reason code)
    language: str | None = None  # a customer message's language (ISO 639-1)


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
    labels: tuple[str, ...] = ()
    notes: list[NoteView] = field(default_factory=list)
    handled_at: datetime | None = None
    handled_by: str | None = None
    language: str | None = None  # the latest customer message's language
    customer_id: str | None = None  # verified from the shop's signature (website widget)


class ConversationLog:
    def __init__(self, sessions: sessionmaker[Session], events: EventSink | None = None) -> None:
        self._sessions = sessions
        self.events: EventSink = events or NoEvents()  # told about thumbs-down ratings

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
                            SourceView(
                                x.passage_id,
                                x.entry_id,
                                x.title,
                                x.snippet,
                                x.url,
                                x.score,
                                x.page,
                                x.cited,
                                x.rank,
                            )
                            for x in m.sources
                        ],
                        m.answer_mode,
                        m.grounded,
                        m.rewritten_query,
                        m.rating,
                        m.rating_reason,
                        m.draft,
                        m.draft_rejection,
                        m.language,
                    )
                    for m in conv.messages
                ],
                conv.handoff_reason,
                conv.contact,
                review_search.split_labels(conv.labels),
                review_edits.notes(s, conv.id),
                conv.handled_at,
                conv.handled_by,
                conv.language,
                conv.customer_id,
            )

    # ---- review ---------------------------------------------------------------------------
    def search(
        self, filters: ReviewFilters | None = None, page: int = 1, page_size: int = 20
    ) -> tuple[list[ReviewRow], int]:
        """One page (1-based) of conversations matching `filters`, newest first, and the
        number of matches. ReviewError for an unknown outcome, rating or label."""
        with self._sessions() as s:
            found = review_search.search_conversations
            return found(s, filters or ReviewFilters(), page, page_size)

    def languages(self) -> list[str]:
        """The language codes conversations are in, most conversations first."""
        with self._sessions() as s:
            return review_search.conversation_languages(s)

    def handoff_queue(self, limit: int = 100, language: str | None = None) -> list[QueueItem]:
        """Handed-off conversations nobody has handled yet, longest waiting first (only those
        in `language` when given)."""
        with self._sessions() as s:
            return queue_queries.handoff_queue(s, limit, language)

    def add_note(self, conversation_id: str, author: str, text: str) -> NoteView:
        with self._sessions.begin() as s:
            n = review_edits.add_note(s, conversation_id, author, text)
            return NoteView(n.id, n.author, n.text, n.created_at)

    def set_labels(
        self, conversation_id: str, labels: list[str] | tuple[str, ...]
    ) -> tuple[str, ...]:
        """Replace the labels (from `review_search.LABELS` only; ReviewError otherwise)."""
        with self._sessions.begin() as s:
            return review_edits.set_labels(s, conversation_id, labels)

    def mark_handled(self, conversation_id: str, agent: str) -> None:
        """Take a handed-off conversation out of the queue (a later handoff puts it back)."""
        with self._sessions.begin() as s:
            review_edits.mark_handled(s, conversation_id, agent)

    def reply_as_staff(self, conversation_id: str, agent: str, text: str) -> int:
        """Store a staff member's reply in the conversation; returns the message id."""
        with self._sessions.begin() as s:
            return review_edits.add_staff_message(s, conversation_id, agent, text).id

    def staff_reply_ids(self, conversation_id: str) -> list[int]:
        """Ids of the staff replies in the conversation: cheap, polled by open chat pages."""
        with self._sessions() as s:
            return review_edits.staff_message_ids(s, conversation_id)

    def rate_message(
        self,
        message_id: int,
        rating: int | None,
        reason: str | None = None,
        conversation_id: str | None = None,
    ) -> bool:
        """A customer's +1 / -1 (None takes it back) on a bot answer; False if not found.
        A new thumbs-down (not a reason added to one) is announced to `events` (webhooks)."""
        with self._sessions.begin() as s:
            before = s.get(Message, message_id)
            was_down = before is not None and before.rating == -1
            stored = repo.rate_message(s, message_id, rating, reason, conversation_id)
            conv_id = before.conversation_id if stored and before is not None else None
        if conv_id is not None and rating == -1 and not was_down:
            # Whether a reason was given, not the reason: it is the customer's own words.
            payload = {"rating": -1, "with_reason": bool(reason and reason.strip())}
            event = Event(EventKind.RATING_NEGATIVE, conv_id, message_id, payload)
            publish_safely(self.events, event)
        return stored

    def live_stamps(self, conversation_ids: list[str]) -> LiveStamps:
        """What open staff consoles compare to notice changes (one small query): the handoff
        queue's stamp and those of the conversations they show."""
        with self._sessions() as s:
            return queue_queries.live_stamps(s, conversation_ids)
