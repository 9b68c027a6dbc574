"""The words stored with conversations and shown to staff, defined once.

Each enum's values are the strings the database and the exports already hold, so old rows,
exports and filters read the same. They are `StrEnum`s: a member is its string, so it can be
compared with, stored in and formatted as one.

Stored values (`Role`, `DecisionKind`, `Reason`, `AnswerMode`, `MessageStatus`, `Label`) are
the machine's words; `OutcomeLabel` is what staff read ("declined", "handed off") wherever the
console names an outcome (the review filter, the analytics shares, the export's choices).
"""

from __future__ import annotations

from enum import StrEnum
from types import MappingProxyType
from typing import Final


class Role(StrEnum):
    """Who wrote a message."""

    USER = "user"
    ASSISTANT = "assistant"  # the bot, or a staff member replying in the conversation


class DecisionKind(StrEnum):
    """What the bot did with a customer's message (`messages.decision`)."""

    ANSWER = "answer"
    FALLBACK = "fallback"  # declined: nothing in the knowledge base answers it
    HANDOFF = "handoff"  # handed to a person
    # A reply typed by a staff member: stored as an assistant message with this decision and
    # answer mode, and the agent's name as its reason.
    STAFF = "staff"


class Reason(StrEnum):
    """Why the bot decided as it did (`messages.reason`; a staff reply stores the agent's
    name there instead)."""

    MATCHED = "matched"
    PARTS = "parts"  # a question in parts, each part answered from its own entry
    LOW_SCORE = "low_score"
    NO_RESULTS = "no_results"
    TOO_LONG = "too_long"  # the reply refusing an over-long message
    ERROR = "error"  # retrieval failed
    REQUESTED = "requested"  # the customer asked for a person
    REPEATED_DECLINES = "repeated_declines"
    ANGRY = "angry"
    # The confirmation sent after a customer left contact details: it answers no question.
    CONTACT = "contact"


class AnswerMode(StrEnum):
    """How the answer text was produced (`messages.answer_mode`)."""

    APPROVED = "approved"  # the stored FAQ answer of a near-certain match
    GENERATED = "generated"  # the model's answer, checked against the passages
    PASSAGE = "passage"  # the passage's own sentences, the draft having failed the check
    CANNED = "canned"  # decline, handoff and contact replies
    STAFF = "staff"  # typed by a staff member


class MessageStatus(StrEnum):
    """How a bot answer ended (`messages.status`)."""

    COMPLETE = "complete"
    ERROR = "error"
    TIMEOUT = "timeout"  # the turn ran too long
    ABANDONED = "abandoned"  # the customer left mid-answer


class Label(StrEnum):
    """The fixed label vocabulary for reviewed conversations, in the order staff see it."""

    WRONG_ANSWER = "wrong-answer"
    MISSING_FAQ = "missing-faq"
    RESOLVED = "resolved"
    GOOD_ANSWER = "good-answer"
    NEEDS_FOLLOW_UP = "needs-follow-up"


class OutcomeLabel(StrEnum):
    """How a bot answer or a conversation turned out, in the words staff read."""

    ANSWERED = "answered"
    DECLINED = "declined"
    HANDED_OFF = "handed off"
    NEEDS_HUMAN = "needs human"  # handed off and not handled yet
    ERRORS = "errors"
    NONE = "none"  # no bot answer at all


class RatingFilter(StrEnum):
    """Customer ratings of bot answers, as the review search filters them."""

    THUMBS_DOWN = "thumbs down"
    THUMBS_UP = "thumbs up"
    ANY_RATING = "any rating"


class ExportOutcome(StrEnum):
    """A conversation's outcome as export files (and `chatbot data export --outcome`) write
    it: stored decision words where there is one, so files exported before read the same."""

    ANSWERED = "answered"
    FALLBACK = DecisionKind.FALLBACK.value
    HANDOFF = DecisionKind.HANDOFF.value
    NONE = "none"


# The words staff read for each export outcome (the console's export choices show these).
EXPORT_OUTCOME_LABELS: Final = MappingProxyType(
    {
        ExportOutcome.ANSWERED: OutcomeLabel.ANSWERED,
        ExportOutcome.FALLBACK: OutcomeLabel.DECLINED,
        ExportOutcome.HANDOFF: OutcomeLabel.HANDED_OFF,
        ExportOutcome.NONE: OutcomeLabel.NONE,
    }
)

# The outcomes the review search filters by; a conversation matches every one that happened
# in it (see chatbot.storage.review_search).
REVIEW_OUTCOMES: Final = (
    OutcomeLabel.ANSWERED,
    OutcomeLabel.DECLINED,
    OutcomeLabel.HANDED_OFF,
    OutcomeLabel.NEEDS_HUMAN,
)


class EventKind(StrEnum):
    """What a webhook can be told about (`webhooks.events`, `webhook_deliveries.event`, the
    `X-Chatbot-Event` header): the names receivers subscribe to, so they never change."""

    HANDOFF_REQUESTED = "handoff.requested"  # a conversation entered the handoff queue
    # The customer wrote in a conversation handed to a person.
    CUSTOMER_MESSAGE = "conversation.customer_message"
    RATING_NEGATIVE = "rating.negative"  # a thumbs-down on a bot answer
    TEST = "webhook.test"  # sent by staff to check a receiver; nobody subscribes to it


class DeliveryStatus(StrEnum):
    """Where a webhook delivery stands (`webhook_deliveries.status`)."""

    PENDING = "pending"  # due at its next_attempt_at (the first try, or a retry)
    DELIVERED = "delivered"  # the receiver answered 2xx
    FAILED = "failed"  # every attempt failed; nothing more is tried
