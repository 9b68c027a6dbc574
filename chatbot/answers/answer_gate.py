"""Releases a generated answer to the customer sentence by sentence, each one only after it
has passed the grounding check, so no customer ever reads text that is later withdrawn.

A sentence is complete once the next one has begun (or the stream has ended). Sentences too
short to check on their own ("Sure!", "Yes.") and questions are held back and shown with the
next checked sentence; an answer made of nothing else is not shown at all. The first sentence
that fails ends the draft: what was shown stays, the rest is kept for staff review as the
withheld draft.
"""

from __future__ import annotations

from chatbot.answers.grounding import EMPTY, MIN_CONTENT_WORDS, AnswerCheck, GroundingResult
from chatbot.core import text as tx


class AnswerGate:
    def __init__(self, check: AnswerCheck) -> None:
        self.check = check
        self.draft = ""  # everything the model wrote
        self._released = 0  # characters of `draft` shown
        self._checked = 0  # characters of `draft` checked (held short sentences included)
        self.shown_content = False  # a checked sentence with content has been shown
        self.rejected: GroundingResult | None = None

    @property
    def shown(self) -> str:
        return self.draft[: self._released]

    @property
    def withheld(self) -> str:
        """The part of the draft the customer did not see."""
        return self.draft[self._released :].strip()

    def feed(self, piece: str) -> str:
        """Add model text; returns the text that may be shown now ("" if none)."""
        if self.rejected is not None:
            return ""
        self.draft += piece
        released = ""
        for _start, end in tx.sentence_breaks(self.draft[self._checked :]):
            released += self._judge(self._checked + end)
            if self.rejected is not None:
                break
        return released

    def finish(self) -> str:
        """The stream ended: judge the last sentence; returns what may be shown now."""
        if self.rejected is not None or self._checked >= len(self.draft.rstrip()):
            released = ""
        else:
            released = self._judge(len(self.draft))
        if self.rejected is None and not self.shown_content:
            self.rejected = GroundingResult(False, EMPTY)
        return released

    def _judge(self, end: int) -> str:
        """Check the sentence up to `end`; release it (with any held short sentences)."""
        sentence = tx.strip_markup(self.draft[self._checked : end])
        self._checked = end
        if not sentence:
            return ""
        result = self.check.sentence(sentence)
        if not result.supported:
            self.rejected = result
            return ""
        # Held, and shown only with the next sentence that says something: a short sentence,
        # or a question (a model restating the customer's question has answered nothing).
        says_little = tx.content_size(sentence) < MIN_CONTENT_WORDS or sentence.endswith(
            ("?", "？")
        )
        if says_little and not self.shown_content:
            return ""
        self.shown_content = True
        released = self.draft[self._released : end]
        self._released = end
        return released
