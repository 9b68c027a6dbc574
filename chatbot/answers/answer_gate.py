"""Releases a generated answer to the customer sentence by sentence, each one only after it
has passed the grounding check, so no customer ever reads text that is later withdrawn.

A sentence is complete once the next one has begun (or the stream has ended). Sentences too
short to check on their own ("Sure!", "Yes.") and questions are held back and shown with the
next checked sentence; an answer made of nothing else is not shown at all. The first sentence
that fails ends the draft: what was shown stays, the rest is kept for staff review as the
withheld draft.

One exception: before anything has been shown, a failing sentence that only repeats the
customer's own message ("My tent arrived with a cracked pole.", the commonest opening of a
small model) is left out and the draft goes on: it states nothing of the shop's, so nothing
unchecked is shown by going on (each later sentence is checked on its own), and ending the
draft there would throw away the answer that usually follows. A repeat with a yes or no in
front of it answers the question, and ends the draft like any other failing sentence.
"""

from __future__ import annotations

from chatbot.answers.grounding import EMPTY, MIN_CONTENT_WORDS, AnswerCheck, GroundingResult
from chatbot.core import text as tx


class AnswerGate:
    def __init__(self, check: AnswerCheck) -> None:
        self.check = check
        self.draft = ""  # everything the model wrote
        self._shown = ""  # what was released (the draft without its left-out repeats)
        self._released = 0  # characters of `draft` released or left out
        self.left_out: list[str] = []  # sentences repeating the customer's message
        self._left_out_result: GroundingResult | None = None
        self._checked = 0  # characters of `draft` checked (held short sentences included)
        self.shown_content = False  # a checked sentence with content has been shown
        self.rejected: GroundingResult | None = None

    @property
    def shown(self) -> str:
        return self._shown

    @property
    def withheld(self) -> str:
        """The part of the draft the customer did not see (left-out repeats, then what
        followed the last sentence shown)."""
        return " ".join([*self.left_out, self.draft[self._released :].strip()]).strip()

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
            # (A draft of nothing but repeats of the message: why the last one failed.)
            self.rejected = self._left_out_result or GroundingResult(False, EMPTY)
        return released

    def _judge(self, end: int) -> str:
        """Check the sentence up to `end`; release it (with any held short sentences)."""
        sentence = tx.strip_markup(self.draft[self._checked : end])
        self._checked = end
        if not sentence:
            return ""
        result = self.check.sentence(sentence)
        if not result.supported:
            if not self.shown_content and self.check.repeats_question(sentence):
                # Left out with any short sentence held before it ("Sure! My tent arrived...").
                self.left_out.append(self.draft[self._released : end].strip())
                self._released = end
                self._left_out_result = result
                return ""
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
        if not self._shown:
            released = released.lstrip()  # after a left-out repeat
        self._shown += released
        self._released = end
        return released
