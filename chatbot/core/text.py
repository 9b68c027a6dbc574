"""Text units that do not depend on one language: sentences, content words, lexical tokens.

Built on `knowledge_base.language`, which owns detection, normalisation, stop words and Chinese
word segmentation for retrieval too; this module adds what answers are checked and quoted by.

Answers are checked, quoted and trimmed sentence by sentence, so sentence splitting has to work
for Chinese (。！？ with no space after them) as well as for English ("e.g. the app" is one
sentence), and "how much does it say" has to be measured in words for Latin scripts and in
characters for CJK, where there are no spaces between words.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from knowledge_base import language

# CJK ideographs, kana and hangul: scripts written without spaces between words.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_CJK_CHAR = re.compile(f"[{_CJK}]")
# A word in a spaced script: letters and digits of any alphabet (Latin, Cyrillic, Greek, ...).
_WORD = re.compile(rf"[^\W_{_CJK}]+")
# Sentence ends. Latin: . ! ? then space and something that starts a sentence (a capital, a
# digit, a quote or bracket, or any non-Latin letter), so "e.g. the app" stays whole. CJK: 。！？
# end a sentence by themselves. A line break ends one (lists, headings), except a hard wrap
# inside a paragraph: a line followed by one that starts in lower case ("a 2-year warranty
# against defects in\nmaterials and workmanship", as Markdown files and PDFs wrap prose).
_LATIN_END = r"(?<=[.!?])[\"')\]]*\s+(?=[A-Z0-9\"'(\[$£€¥\u00c0-\u024f\u0370-\uffff])"
_CJK_END = r"(?<=[。！？!?；;])(?![。！？!?；;”’」』）)])\s*"
# A list flattened into one line ("... time: - Portland: 410 Alder Street - Denver: ..."):
# each item is a sentence of its own. (" - 8 pm" is a range, not an item: a capital must follow.)
_INLINE_ITEM = r"\s+[-*•]\s+(?=[A-Z\u00c0-\u024f])"
_LINE_BREAK = r"\s*\n(?![ \t]*[a-z])\s*"
_SPLIT = re.compile(rf"{_LATIN_END}|{_CJK_END}|{_INLINE_ITEM}|{_LINE_BREAK}")
# What is left of a hard wrap inside a sentence.
_WRAP = re.compile(r"[ \t]*\n[ \t]*")
# Markdown list markers and headings at the start of a line are layout, not content.
_MARKUP = re.compile(r"^\s*(?:#{1,6}\s+|[-*+•]\s+|\d{1,2}[.)]\s+|>\s*)")


def normalise(text: str) -> str:
    """NFKC (full-width letters, digits and punctuation become their ASCII forms), and
    traditional Chinese characters simplified: `knowledge_base.language.normalise`."""
    return language.normalise(text)


def sentence_breaks(text: str) -> list[tuple[int, int]]:
    """Where sentences end in `text`: the (start, end) of each break between two sentences.
    A Latin sentence's end is known only once the next one has begun."""
    return [m.span() for m in _SPLIT.finditer(text)]


def strip_markup(line: str) -> str:
    return _MARKUP.sub("", line).strip()


def split_sentences(text: str) -> list[str]:
    """Sentences and list items, without Markdown markers, in order."""
    out = []
    for part in _SPLIT.split(text.strip()):
        part = _WRAP.sub(" ", _MARKUP.sub("", part or "").strip())
        if part:
            out.append(part)
    return out


def is_heading(line: str) -> bool:
    return bool(re.match(r"^\s*#{1,6}\s", line))


def has_cjk(text: str) -> bool:
    return bool(_CJK_CHAR.search(text))


def content_size(sentence: str) -> int:
    """How much a sentence says: its words, with each CJK character counted as half a word
    (a Chinese word is one to three characters)."""
    return len(_WORD.findall(sentence)) + len(_CJK_CHAR.findall(sentence)) // 2


def _stop_words() -> frozenset[str]:
    return language.stop_words()


def lexical_tokens(text: str) -> list[str]:
    """Lower-cased content words; Chinese segmented into words (jieba, as for search)."""
    text = normalise(text).lower()
    stop = _stop_words()
    tokens = [w for w in _WORD.findall(text) if w not in stop]
    for run in re.findall(f"[{_CJK}]+", text):
        tokens += [w for w in language.segment(run) if w not in stop] if len(run) > 1 else [run]
    return tokens


_local = threading.local()


def _stemmer() -> Any:
    """This thread's stemmer: a snowball stemmer keeps the word it works on in itself, so
    one shared by concurrent turns mixes their words up (and raises IndexError)."""
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        import snowballstemmer

        stemmer = _local.stemmer = snowballstemmer.stemmer("english")
    return stemmer


def words(text: str) -> list[str]:
    """Lower-cased words of a spaced script, without numbers and CJK text."""
    return [w for w in _WORD.findall(normalise(text).lower()) if not w.isdigit()]


def stem_words(words: list[str]) -> list[str]:
    return [str(x) for x in _stemmer().stemWords(words)]


def word_stems(text: str) -> set[str]:
    """Stems of the content words of a spaced script ("Returns opened" -> {"return", "open"}),
    without numbers (checked as numbers) and CJK text (no spaces to find words by)."""
    stop = _stop_words()
    return set(stem_words([w for w in words(text) if w not in stop]))


# Grammatical negation, in English and Chinese (不 没 无 未 非 别 勿 before a verb or noun).
_NEGATION = re.compile(
    r"\b(?:not|no|never|cannot|none|nor|neither|without|nothing|nobody)\b|n['’]t\b"
    r"|[不没無无未非别勿]",
    re.I,
)


# "Yes," / "No," / "不，" in front of a claim answer the customer's question; the claim after
# them is checked on its own ("No, stores are closed on Christmas Day").
_YES = r"yes|yeah|yep|sure|of course|certainly|是的|是|对|可以"
_NO = r"no|nope|unfortunately|sorry|不是|不|没有|抱歉|很抱歉"
_REPLY_WORD = re.compile(
    rf"^\s*(?:(?P<yes>{_YES})|(?P<no>{_NO}))(?:\b[\s,.!;:—-]*|(?<=[^\x00-\x7f])[,.!]\s*)",
    re.I,
)
YES, NO = "yes", "no"


def reply_word(sentence: str) -> tuple[str | None, str]:
    """The leading yes or no of an answer (YES, NO or None) and the claim after it:
    "No, it is closed" -> ("no", "it is closed")."""
    text = normalise(sentence)
    found = _REPLY_WORD.match(text)
    if not found:
        return None, text
    return (YES if found.group("yes") else NO), text[found.end() :]


# A sentence that refers back ("It opens at 10 am") is about the previous sentence's subject.
_REFERS_BACK = re.compile(r"^(?:it|they|this|these|that|those|there|he|she|它|这|该|其)\b", re.I)


def refers_back(sentence: str) -> bool:
    return bool(_REFERS_BACK.match(sentence))


def is_negated(sentence: str) -> bool:
    """Whether the sentence contains a negation ("cannot", "don't", "no", "不")."""
    return bool(_NEGATION.search(normalise(sentence)))


def overlap(query: str, sentence: str) -> float:
    """Share of the query's lexical tokens that the sentence contains (0 to 1)."""
    wanted = set(lexical_tokens(query))
    if not wanted:
        return 0.0
    return len(wanted & set(lexical_tokens(sentence))) / len(wanted)
