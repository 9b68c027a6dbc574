"""Numbers stated about the right thing: "Standard shipping is $14.95" uses a price from the
passages, but the passage gives $14.95 for express shipping. A number must appear in some
passage, and the clause that states it in the answer must be about what that passage sentence
is about: most of the clause's other content words are in a passage sentence that holds the
number ("The Denver store is at 410 Alder Street" fails where 410 Alder Street is the Portland
store's address).

Clauses are the parts of a sentence between commas, semicolons and "and": "Standard shipping
takes 3-5 business days, and express shipping takes 1-2" states each range about its own
subject, and each is checked on its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Final

from chatbot.core import text as tx

# Share of a clause's content words that the passage sentence holding its number must contain.
SAME_SUBJECT: Final = 2 / 3
_CLAUSE: Final = re.compile(
    r"\s*[,;:，；：、]\s*(?:(?:and|but)\s+)?|\s+(?:and|but|while|whereas)\s+|[和及但而]", re.I
)


def clauses(sentence: str) -> list[str]:
    return [c for c in _CLAUSE.split(sentence) if c.strip()]


class NumberBinding:
    """Which passage sentences hold each number, and what they are about."""

    def __init__(
        self,
        passage_sentences: Iterable[str],
        numbers_in: Callable[[str], list[str]],
        ignored: frozenset[str],
    ) -> None:
        self._numbers_in = numbers_in
        self._ignored = ignored
        self._holding: dict[str, list[set[str]]] = {}
        previous: set[str] = set()
        for sentence in passage_sentences:
            words = self._words(sentence)
            if tx.refers_back(sentence):  # "It opens at 10 am": the previous one's subject
                words |= previous
            for number in numbers_in(sentence):
                self._holding.setdefault(number, []).append(words)
            previous = words

    def _words(self, text: str) -> set[str]:
        """Content stems of a spaced script, and CJK character bigrams."""
        stems = tx.word_stems(text) - self._ignored
        cjk = {t for t in tx.lexical_tokens(text) if tx.has_cjk(t)}
        return stems | cjk

    def misplaced(self, sentence: str, exempt: set[str]) -> list[str]:
        """Numbers of `sentence` (other than `exempt`) whose clause is about something else
        than every passage sentence holding that number."""
        wrong: list[str] = []
        for clause in clauses(sentence):
            numbers = [n for n in self._numbers_in(clause) if n not in exempt]
            if not numbers:
                continue
            words = self._words(clause)
            if not words:
                continue
            for number in numbers:
                holders = self._holding.get(number, [])
                if not any(len(words & h) >= SAME_SUBJECT * len(words) for h in holders):
                    wrong.append(number)
        return wrong
