"""What one bot turn gives the front ends: the streaming `Reply`, the `Source`s shown under
an answer, the fixed texts (in English; the customer reads them in their language,
chatbot.core.i18n) and the errors a turn reports."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from chatbot.answers.contacts import ContactPolicy
from chatbot.core.i18n import N_, gettext_for
from chatbot.core.vocabulary import AnswerMode, DecisionKind
from chatbot.storage.db import StorageUnavailable
from knowledge_base.language import ENGLISH
from knowledge_base.records import SearchHit

# Fixed texts in English; the customer reads them in their language (chatbot.core.i18n).
PROMPT_FOR_QUESTION = N_("Please type a question and I'll do my best to help.")
FALLBACK_TEXT = N_(
    "I'm sorry, I don't know that: I couldn't find it in our help articles. "
    "Would you like me to connect you with a member of our support team? "
    'Just say "talk to a human".'
)
ERROR_TEXT = N_("Sorry, something went wrong while I was answering. Please try again.")
SNIPPET_CHARS = 200


TOO_LONG_TEXT = N_(
    "Your message is {length} characters long, and I can read at most {limit}. "
    "Please send just your question in a shorter message (you can add details in the "
    "next one)."
)


def too_long_text(length: int, limit: int, language: str = ENGLISH) -> str:
    return gettext_for(language)(TOO_LONG_TEXT).format(length=f"{length:,}", limit=f"{limit:,}")


class EmptyMessageError(ValueError):
    """The customer sent nothing to answer."""


# Shown instead of an answer when the customer's message could not be stored.
NOT_SENT_TEXT = N_(
    "Sorry, your message was not sent: we could not save it just now. "
    "Please send it again in a moment."
)


class MessageNotSent(StorageUnavailable):
    """The customer's message could not be stored (database locked, read-only, unreachable),
    so nothing was answered: tell the customer with NOT_SENT_TEXT and let them send it again."""


@dataclass(frozen=True)
class Source:
    entry_id: str
    title: str
    snippet: str
    score: float
    url: str | None = None
    document: str = ""
    page: int | None = None

    @classmethod
    def from_hit(cls, hit: SearchHit, contacts: ContactPolicy | None = None) -> Source:
        """The source as shown; with `contacts`, without what its allow-list does not name
        (in the snippet, and the link when its host is not allowed)."""
        policy = contacts or ContactPolicy()
        text = " ".join(policy.remove_disallowed(hit.answer)[0].split())
        snippet = text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1] + "…"
        url = hit.url if hit.url and policy.allows_link(hit.url) else None
        return cls(hit.entry_id, hit.title, snippet, hit.score, url, hit.document, hit.page)


@dataclass
class Reply:
    """One bot turn. Iterate it to stream the answer; it is stored when the stream ends.

    Every piece is final: after the stream, `text` is the pieces joined. `draft` is generated
    text the check withheld (None when all of it was shown), `draft_rejection` why.
    """

    conversation_id: str | None  # None: a refused message that started no conversation
    decision: DecisionKind
    reason: str
    sources: list[Source]
    text: str = ""
    stored: bool = False
    answer_mode: AnswerMode = AnswerMode.CANNED
    grounded: bool | None = None
    rewritten_query: str | None = None
    draft: str | None = None
    draft_rejection: str | None = None
    message_id: int | None = None  # the stored bot message, once the stream has ended
    language: str = ENGLISH  # the customer's message's: every fixed text of the reply is in it
    # The customer's message, when masking hid personal data in it: masked where the stored
    # reply repeats it.
    _typed: str = field(default="", repr=False)
    # The passages behind `sources`, stored as the answer's citations.
    _cited: list[SearchHit] = field(default_factory=list, repr=False)
    _pieces: Iterator[str] = field(default_factory=lambda: iter(()), repr=False)
    _closed: bool = field(default=False, repr=False)

    def __iter__(self) -> Iterator[str]:
        return self._pieces

    def close(self) -> None:
        """Stop the stream (the customer left, or the turn was abandoned): the model stops,
        and what was shown so far is stored. A no-op once the stream has ended."""
        self._closed = True  # seen after the next piece if another thread is reading now
        close = getattr(self._pieces, "close", None)
        if close is not None:
            # "generator already executing": another thread is reading; it sees `_closed`.
            with contextlib.suppress(ValueError):
                close()
