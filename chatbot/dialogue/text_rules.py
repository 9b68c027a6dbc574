"""What the dialogue's word rules (hand-off requests, anger, contact details, follow-ups)
share: reading Chinese text, and compiling a rule's patterns."""

from __future__ import annotations

import re

from chatbot.core.contact_patterns import HAN_RANGES
from knowledge_base.language import normalise

# Han characters (the ranges knowledge_base.language reads as Chinese).
HAN = re.compile(f"[{HAN_RANGES}]")
_SPACE_IN_CHINESE = re.compile(rf"(?<=[{HAN_RANGES}])\s+(?=[{HAN_RANGES}])")


def chinese_text(text: str) -> str | None:
    """The normalised, lower-cased text when it has Chinese in it, else None (English
    messages never reach the Chinese patterns). Spaces between Chinese characters are
    dropped: Chinese is written without them, so "转 人工" is "转人工"."""
    if not HAN.search(text):
        return None
    return _SPACE_IN_CHINESE.sub("", normalise(text).lower())


def any_case(*patterns: str) -> tuple[re.Pattern[str], ...]:
    """The patterns of one rule, compiled to match in any case (a rule holds when any of them
    is found)."""
    return tuple(re.compile(p, re.IGNORECASE) for p in patterns)
