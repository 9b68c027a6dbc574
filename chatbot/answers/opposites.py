"""Answers that say the opposite of the passage in other words than a negation.

"Yes, your stores are open on Christmas Day" shares nearly every word with "Stores are closed
on Thanksgiving Day, Christmas Day and New Year's Day", is close to it in meaning for an
embedder, and contains no "not": the check for negation misses it, and it is the commonest way
a small model gets a yes/no question wrong (it agrees with the customer). The same goes for
quantities: "you can use both promo codes" against "only one promo code can be used".

So a sentence is contradicted when a passage sentence is about the same thing (it holds the
sentence's other content words) and uses the opposite of one of the sentence's words without
using that word itself. The pairs are the few opposites that decide customer-service answers
(open or closed, free or charged, before or after, both or only one); words are compared as
stems in spaced scripts and as substrings in Chinese.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Final

from chatbot.core import text as tx

# Each pair: two sides, each a set of words with the same meaning. English words are given as
# plain words and stemmed once (so "closed", "closes" and "closing" all match "close").
_ENGLISH_PAIRS: Final = (
    (("open", "opens", "opening"), ("closed", "close", "shut")),
    (("free", "complimentary"), ("charge", "charged", "paid", "fee", "cost", "costs")),
    (("both", "all", "every", "multiple", "several", "combine", "combined"), ("only", "single")),
    (("before", "earlier", "prior"), ("after", "later")),
    (("more", "over", "above", "exceed", "exceeds", "minimum"), ("less", "under", "below")),
    (("keep", "kept", "retain"), ("removed", "lose", "lost", "deducted", "forfeit")),
    (("include", "included", "includes"), ("exclude", "excluded", "excludes", "except")),
    (("available",), ("unavailable",)),
    (("accept", "accepted", "allow", "allowed", "permitted"), ("refuse", "prohibited")),
    (("increase", "raise"), ("decrease", "reduce")),
)
_CHINESE_PAIRS: Final = (
    (("营业", "开门", "开放"), ("关门", "休息", "停业", "闭店")),
    (("免费",), ("收费", "付费", "费用")),
    (("都", "全部", "所有", "两个", "叠加"), ("只", "仅", "一个")),
    (("之前", "以前", "提前"), ("之后", "以后")),
    (("以上", "超过", "多于"), ("以下", "不到", "少于")),
    (("保留",), ("扣除", "收回", "取消")),
)
# Share of a sentence's other content words that a passage sentence must hold to be about the
# same thing (so "open 10 am-8 pm" is not compared with "closed on Christmas Day").
SAME_TOPIC: Final = 2 / 3


def _both_ways(
    pairs: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...],
) -> list[tuple[frozenset[str], frozenset[str]]]:
    one_way = [(frozenset(a), frozenset(b)) for a, b in pairs]
    return one_way + [(b, a) for a, b in one_way]


@cache
def _english() -> list[tuple[frozenset[str], frozenset[str]]]:
    stemmed = tuple(
        (tuple(_all_stems(" ".join(a))), tuple(_all_stems(" ".join(b)))) for a, b in _ENGLISH_PAIRS
    )
    return _both_ways(stemmed)


@cache
def _chinese() -> list[tuple[frozenset[str], frozenset[str]]]:
    return _both_ways(_CHINESE_PAIRS)


def _all_stems(text: str) -> set[str]:
    """Stems of every word, stop words included: "both", "only", "before" are stop words for
    search, and exactly the words that turn an answer around."""
    return {str(s) for s in tx.stem_words(tx.words(text))}


@dataclass(frozen=True)
class _Sentence:
    text: str  # normalised
    stems: set[str]  # of every word
    content: set[str]  # of the content words


def _read(sentence: str) -> _Sentence:
    return _Sentence(tx.normalise(sentence), _all_stems(sentence), tx.word_stems(sentence))


class Opposites:
    """Finds the passage sentence that a sentence contradicts by an opposite word."""

    def __init__(self, passage_sentences: list[str]) -> None:
        self._sentences = [_read(s) for s in passage_sentences]

    def takes_sides(self, sentence: str) -> bool:
        """Whether the sentence uses a word of one of the pairs ("open", "free", "only")."""
        stems = _all_stems(sentence)
        text = tx.normalise(sentence)
        return any(stems & mine for mine, _ in _english()) or any(
            w in text for mine, _ in _chinese() for w in mine
        )

    def contradiction(self, sentence: str) -> str | None:
        """The passage sentence that says the opposite of `sentence`, or None. A passage
        sentence on the same topic that uses the sentence's own word backs it instead."""
        answer = _read(sentence)
        for mine, theirs in _english():
            used = answer.stems & mine
            if not used:
                continue
            topic = answer.content - mine - theirs
            about = [s for s in self._sentences if _same_topic(topic, s.content)]
            if any(s.stems & used for s in about):
                continue
            for s in about:
                if s.stems & theirs:
                    return s.text
        if tx.has_cjk(answer.text):
            return self._chinese_contradiction(answer.text)
        return None

    def _chinese_contradiction(self, text: str) -> str | None:
        for mine, theirs in _chinese():
            used = [w for w in mine if w in text]
            if not used:
                continue
            rest = text
            for w in mine | theirs:
                rest = rest.replace(w, " ")
            about = [s for s in self._sentences if tx.overlap(rest, s.text) >= SAME_TOPIC]
            if any(w in s.text for s in about for w in used):
                continue
            for s in about:
                if any(w in s.text for w in theirs):
                    return s.text
        return None


def _same_topic(topic: set[str], other: set[str]) -> bool:
    return bool(topic) and len(topic & other) >= SAME_TOPIC * len(topic)
