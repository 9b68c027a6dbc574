"""Staff review: what customers asked, to turn into knowledge-base changes.

`customer_questions` lists a conversation's customer messages with the FAQ entry that
answered each. The changes themselves (a question as a new FAQ entry or as a new phrasing of
an entry, a corrected answer; labels, notes, replies, handled) are staff actions
(`services.staff`, chatbot.staff.actions).

The search filters and labels are chatbot.storage.review_search's, the handoff-queue types
chatbot.storage.queue_queries'.
"""

from __future__ import annotations

from dataclasses import dataclass

from chatbot.staff.conversations import ConversationLog


@dataclass(frozen=True)
class CustomerQuestion:
    """A customer message of a conversation and the FAQ entry the bot answered it from
    (the best source of the answer that followed; None when it declined or handed off)."""

    message_id: int
    text: str
    answered_entry: str | None
    answer: str | None  # the bot's reply to it


def customer_questions(
    conversations: ConversationLog, conversation_id: str
) -> list[CustomerQuestion]:
    """The customer's messages in order, each with the entry its answer came from."""
    t = conversations.transcript(conversation_id) if conversation_id else None
    if t is None:
        return []
    out: list[CustomerQuestion] = []
    for i, m in enumerate(t.messages):
        if m.role != "user":
            continue
        nxt = t.messages[i + 1] if i + 1 < len(t.messages) else None
        bot = nxt if nxt is not None and nxt.role == "assistant" else None
        entry = (
            bot.sources[0].entry_id if bot and bot.decision == "answer" and bot.sources else None
        )
        out.append(CustomerQuestion(m.id, m.content, entry, bot.content if bot else None))
    return out
