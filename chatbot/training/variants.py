"""Cheap rule-based variants of a question, for FAQ entries with a single phrasing.

They are no real paraphrases: the opening words swapped for an equivalent opening ("How do I"
-> "How can I"), a keyword form (the content words only, as customers often type them), and a
Chinese question with its "请问" opening added or removed. They give the trainer a second
phrasing to pair with, and an entry with one phrasing something to be asked with.
"""

from __future__ import annotations

import re

from knowledge_base import language

# Openings and equivalent ones; matched case-insensitively at the start of the question.
_OPENINGS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("how do i", ("how can I", "what should I do to")),
    ("how can i", ("how do I", "is there a way to")),
    ("how do you", ("how does the shop",)),
    ("can i", ("is it possible to", "am I able to")),
    ("do you", ("does the shop",)),
    ("what is", ("tell me about",)),
    ("what are", ("tell me about",)),
    ("where is", ("where can I find",)),
    ("when will", ("how soon will",)),
    ("is there", ("do you have",)),
    ("i want to", ("I would like to",)),
)
# Openings that turn the question into a request, which ends without a question mark.
_REQUESTS = ("tell me",)
# Question and pronoun words the keyword form leaves out besides the search stop words.
_FUNCTION_WORDS = frozenset(
    (  # noqa: SIM905 (a word list reads best as words)
        "how what when where why which who can could do does did i me my we our you your "
        "is am are was were be should would may might please"
    ).split()
)
_PUNCTUATION = re.compile(r"[?？!！.。,，;；:：]+")
_SPACES = re.compile(r"\s+")
# Chinese politeness opening, added or removed.
_ZH_PLEASE = "请问"


def normalise(text: str) -> str:
    """The form two texts are compared in: case, punctuation and spacing ignored."""
    return _SPACES.sub(" ", _PUNCTUATION.sub(" ", language.normalise(text).casefold())).strip()


def variants(question: str, limit: int = 3) -> list[str]:
    """Up to `limit` variants of `question`, none equal to it (or each other) once
    normalised; in a fixed order, so the same question always gives the same variants."""
    text = _SPACES.sub(" ", question).strip()
    candidates = _chinese(text) if language.has_han(text) else _english(text)
    seen = {normalise(text)}
    out: list[str] = []
    for candidate in candidates:
        key = normalise(candidate)
        if key and key not in seen:
            seen.add(key)
            out.append(candidate)
        if len(out) >= limit:
            break
    return out


def _english(text: str) -> list[str]:
    out: list[str] = []
    lowered = text.lower()
    for opening, replacements in _OPENINGS:
        if re.match(rf"{re.escape(opening)}\b", lowered):
            rest = text[len(opening) :]
            for replacement in replacements:
                variant = _capitalised(replacement + rest)
                if replacement.startswith(_REQUESTS):
                    variant = variant.rstrip("?？ ")
                out.append(variant)
            break
    words = [w for w in language.tokens(text) if w not in _FUNCTION_WORDS]
    if len(words) >= 2:
        out.append(" ".join(words))
    return out


def _chinese(text: str) -> list[str]:
    bare = _PUNCTUATION.sub("", text).strip()
    return [bare.removeprefix(_ZH_PLEASE) if bare.startswith(_ZH_PLEASE) else _ZH_PLEASE + bare]


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]
