"""Staff review: turn what customers asked into knowledge-base changes.

From a conversation, staff can add a customer's question as a new FAQ entry, add it as a new
phrasing of an existing entry, or correct an entry's answer. Every change goes through
`KnowledgeBase.save_faq_entry`, so it is in answers at once.

The search filters, labels and handoff-queue types live in `chatbot.storage.review_queries`
and are re-exported here; the conversation-side actions (notes, labels, handled, staff
replies, ratings) are on `ConversationLog` (`services.conversations`).
"""

from __future__ import annotations

from dataclasses import dataclass

from chatbot.container import Services
from chatbot.storage.review_queries import (
    ANSWERED,
    ANY_RATING,
    DECLINED,
    HANDED_OFF,
    LABELS,
    NEEDS_HUMAN,
    OUTCOMES,
    RATINGS,
    STAFF,
    THUMBS_DOWN,
    THUMBS_UP,
    LiveStamps,
    NoteView,
    QueueItem,
    QueueStamp,
    ReviewError,
    ReviewFilters,
    ReviewRow,
)
from knowledge_base.entries import EntryError
from knowledge_base.records import FaqEntry

__all__ = [
    "ANSWERED",
    "ANY_RATING",
    "DECLINED",
    "HANDED_OFF",
    "LABELS",
    "NEEDS_HUMAN",
    "OUTCOMES",
    "RATINGS",
    "STAFF",
    "THUMBS_DOWN",
    "THUMBS_UP",
    "CustomerQuestion",
    "EntryError",
    "LiveStamps",
    "NoteView",
    "QueueItem",
    "QueueStamp",
    "ReviewActions",
    "ReviewError",
    "ReviewFilters",
    "ReviewRow",
]


@dataclass(frozen=True)
class CustomerQuestion:
    """A customer message of a conversation and the FAQ entry the bot answered it from
    (the best source of the answer that followed; None when it declined or handed off)."""

    message_id: int
    text: str
    answered_entry: str | None
    answer: str | None  # the bot's reply to it


class ReviewActions:
    """Knowledge-base changes made from a conversation (all raise EntryError when the entry
    cannot be saved as asked)."""

    def __init__(self, services: Services) -> None:
        self.kb = services.kb
        self.conversations = services.conversations

    def customer_questions(self, conversation_id: str) -> list[CustomerQuestion]:
        """The customer's messages in order, each with the entry its answer came from."""
        t = self.conversations.transcript(conversation_id) if conversation_id else None
        if t is None:
            return []
        out: list[CustomerQuestion] = []
        for i, m in enumerate(t.messages):
            if m.role != "user":
                continue
            nxt = t.messages[i + 1] if i + 1 < len(t.messages) else None
            bot = nxt if nxt is not None and nxt.role == "assistant" else None
            entry = (
                bot.sources[0].entry_id
                if bot and bot.decision == "answer" and bot.sources
                else None
            )
            out.append(CustomerQuestion(m.id, m.content, entry, bot.content if bot else None))
        return out

    def entry(self, entry_id: str) -> FaqEntry:
        found = self.kb.get_faq_entry(entry_id) if entry_id else None
        if found is None:
            raise EntryError(
                f"there is no FAQ entry {entry_id!r} (document sections cannot be edited here)"
            )
        return found

    def add_new_entry(
        self, question: str, answer: str, category: str | None = None, url: str | None = None
    ) -> FaqEntry:
        """A new FAQ entry (in "Staff-edited entries") answering the customer's question."""
        return self.kb.save_faq_entry(None, [question], answer, category, url)

    def add_phrasing(self, entry_id: str, question: str) -> FaqEntry:
        """Add the customer's question as another phrasing of an existing entry."""
        e = self.entry(entry_id)
        if not " ".join(question.split()):
            raise EntryError("the question is empty")
        return self.kb.save_faq_entry(
            e.entry_id, [*e.questions, question], e.answer, e.category, e.url
        )

    def correct_answer(self, entry_id: str, answer: str) -> FaqEntry:
        """Replace an existing entry's answer (its phrasings stay)."""
        e = self.entry(entry_id)
        return self.kb.save_faq_entry(e.entry_id, e.questions, answer, e.category, e.url)
