"""Questions with two parts ("What's your return window, and do you ship to Australia?").

Retrieval finds one entry per search, so a two-part question would be answered in one part
only: each part is searched on its own and the answer is built from the best entry of each.
A part is split off only where a new question clearly starts (a question mark, or "and" /
"also" followed by a question word), and only when both sides say enough to search on.
"""

from __future__ import annotations

import re

from chatbot.core import text as tx

MAX_PARTS = 3
MIN_PART_SIZE = 2  # content words (chatbot.core.text.content_size) each side must have

_QUESTION_WORD = (
    r"(?:do|does|did|can|could|is|are|was|will|would|should|how|what|what's|when|where|which|"
    r"who|why|may|must|have|has)"
)
_SPLIT = re.compile(
    # "...? And how ..." / "...? Do you ..." (a question mark with more text after it)
    r"(?<=[?？])\s*(?=\S)"
    # ", and do you ..." / " and also, can I ..." / "; how ..."
    rf"|\s*(?:,|;)?\s+(?:and|also|plus)\s+(?:also\s+)?(?={_QUESTION_WORD}\b)"
    rf"|\s*;\s*(?={_QUESTION_WORD}\b)"
    # Chinese: "……，还有……" / "……？另外……" / "……，以及……"
    r"|[，,；;]?\s*(?:还有|另外|以及|顺便问一下|并且)[，,]?",
    re.I,
)
_LEADING = re.compile(r"^(?:and|also|plus)\s+", re.I)


def split_question(text: str) -> list[str]:
    """The parts of a customer message that ask different things; [text] when it is one."""
    parts = [_LEADING.sub("", p.strip(" ,;，；")) for p in _SPLIT.split(text.strip())]
    parts = [p for p in parts if p]
    if len(parts) < 2 or len(parts) > MAX_PARTS:
        return [text.strip()]
    if any(tx.content_size(p) < MIN_PART_SIZE for p in parts):
        return [text.strip()]
    return parts
