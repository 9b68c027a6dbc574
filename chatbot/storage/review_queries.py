"""The staff console's SQL, by job: the conversation search (`review_search`), the handoff
queue and live stamps (`queue_queries`) and staff edits (`review_edits`). This index keeps
the names importable from one place for the modules that use all three."""

from __future__ import annotations

from chatbot.core.vocabulary import DecisionKind
from chatbot.storage.queue_queries import (
    ConversationStamp,
    LiveStamps,
    QueueItem,
    QueueStamp,
    handoff_queue,
    live_stamps,
)
from chatbot.storage.review_edits import (
    NoteView,
    add_note,
    add_staff_message,
    mark_handled,
    notes,
    set_labels,
    staff_message_ids,
)
from chatbot.storage.review_search import (
    ANSWERED,
    ANY_RATING,
    DECLINED,
    HANDED_OFF,
    LABELS,
    MAX_PAGE_SIZE,
    NEEDS_HUMAN,
    OUTCOMES,
    RATINGS,
    THUMBS_DOWN,
    THUMBS_UP,
    ReviewError,
    ReviewFilters,
    ReviewRow,
    clean_labels,
    conversation_languages,
    filter_clauses,
    search_conversations,
    split_labels,
)

# A staff member's reply is stored with this decision (chatbot.core.vocabulary).
STAFF = DecisionKind.STAFF

__all__ = [
    "ANSWERED",
    "ANY_RATING",
    "DECLINED",
    "HANDED_OFF",
    "LABELS",
    "MAX_PAGE_SIZE",
    "NEEDS_HUMAN",
    "OUTCOMES",
    "RATINGS",
    "STAFF",
    "THUMBS_DOWN",
    "THUMBS_UP",
    "ConversationStamp",
    "LiveStamps",
    "NoteView",
    "QueueItem",
    "QueueStamp",
    "ReviewError",
    "ReviewFilters",
    "ReviewRow",
    "add_note",
    "add_staff_message",
    "clean_labels",
    "conversation_languages",
    "filter_clauses",
    "handoff_queue",
    "live_stamps",
    "mark_handled",
    "notes",
    "search_conversations",
    "set_labels",
    "split_labels",
    "staff_message_ids",
]
