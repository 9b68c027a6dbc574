"""Ranges that passages state ("between $100 and $2,000", "20 or more units", "up to 30
days", "满50元"), so that an answer may restate a number the customer gave when a passage's
range covers it: "Yes, you can split the payment for your $400 tent" where the passage says
"orders between $100 and $2,000 can be split". Any other number must appear in a passage
(chatbot.answers.grounding); a customer's number outside every range ("a $20 gift card" where cards
are "$25 to $500") is still refused.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Final

_N: Final = r"[$£€¥]?\s?(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)"
# "between 100 and 2,000", "from 25 to 500", "3-5" (a hyphen or an en or em dash), "3至5".
_BETWEEN: Final = re.compile(
    rf"(?:between|from)\s+{_N}\D{{0,12}}?\s+(?:and|to)\s+{_N}|{_N}\s?(?:-|\u2013|\u2014|to|至|到|~)\s?{_N}",
    re.I,
)
_AT_LEAST: Final = re.compile(
    rf"(?:at\s+least|over|more\s+than|above|minimum\s+of|超过|满|不少于){_N}"
    rf"|(?:at\s+least|over|more\s+than|above|minimum\s+of)\s+{_N}"
    rf"|{_N}\D{{0,20}}?\s+or\s+(?:more|over|above|higher|longer)|{_N}\s?(?:\+|以上|及以上)",
    re.I,
)
_AT_MOST: Final = re.compile(
    rf"(?:up\s+to|at\s+most|under|less\s+than|below|maximum\s+of|within|不超过|最多){_N}"
    rf"|(?:up\s+to|at\s+most|under|less\s+than|below|maximum\s+of|within)\s+{_N}"
    rf"|{_N}\D{{0,20}}?\s+or\s+(?:less|fewer|under|below)|{_N}\s?(?:以下|以内)",
    re.I,
)


@dataclass(frozen=True)
class Range:
    low: float
    high: float

    def covers(self, value: float) -> bool:
        return self.low <= value <= self.high


def _value(text: str) -> float:
    return float(text.replace(",", ""))


def _first(groups: tuple[str | None, ...]) -> list[float]:
    return [_value(g) for g in groups if g]


def ranges_in(text: str) -> list[Range]:
    """Every range the text states, ends included."""
    found: list[Range] = []
    for m in _BETWEEN.finditer(text):
        low, high = sorted(_first(m.groups())[:2])
        found.append(Range(low, high))
    for m in _AT_LEAST.finditer(text):
        found.append(Range(_first(m.groups())[0], math.inf))
    for m in _AT_MOST.finditer(text):
        found.append(Range(-math.inf, _first(m.groups())[0]))
    return found


def covered(number: str, ranges: list[Range]) -> bool:
    """Whether a normalised number ("400", "2.5"; not a clock time) lies in one of `ranges`."""
    try:
        value = float(number)
    except ValueError:  # "9:30": times are compared as written
        return False
    return any(r.covers(value) for r in ranges)
