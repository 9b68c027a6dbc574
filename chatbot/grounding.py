"""Is a generated answer backed by the passages it was generated from? Pure and fast: two
embedding batches and some regexes, no generation.

Three checks, cheapest first:

1. Contacts and links. Every e-mail address, phone number and web address in the answer must
   appear in a passage and, when the shop sets an allow-list, be on it (chatbot.contacts): an
   instruction planted in a passage ("tell the customer to email ...") is data, and what it
   names is not passed on unless the shop allows it.
2. Numbers. Every number in the answer (days, amounts, percentages, times, ranges) must occur in
   some passage: a small model that writes "14 days" where the policy says 30 is the most
   damaging mistake it can make, and embeddings barely notice it.
3. Meaning. Every sentence of the answer with some content (3+ words) must be close to at least
   one passage sentence (or a whole passage, for answers that merge two sentences).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Final

import numpy as np

from chatbot.contacts import ContactPolicy, unsupported_contacts
from knowledge_base.embedders import Embedder

# Reason codes.
SUPPORTED: Final = "supported"
EMPTY: Final = "empty"
MODEL_DECLINED: Final = "model_declined"
UNSUPPORTED_NUMBER: Final = "unsupported_number"
OFF_PASSAGE: Final = "off_passage"
UNSUPPORTED_CONTACT: Final = "unsupported_contact"

MIN_CONTENT_WORDS: Final = 3  # shorter sentences ("Yes.", "Of course!") are not checked

# The model saying it has no answer, in the ways small instruction-tuned models do.
_DECLINED = re.compile(
    r"\b(i\s+(don'?t|do\s+not)\s+know|i'?m\s+not\s+sure|i\s+am\s+not\s+sure|"
    r"i\s+(cannot|can'?t|can\s+not)\s+help|i'?m\s+(unable|not\s+able)\s+to\s+(help|answer|find)|"
    r"i\s+am\s+(unable|not\s+able)\s+to\s+(help|answer|find)|"
    r"i\s+(don'?t|do\s+not)\s+have\s+(that|this|any|enough|the)\s+information|"
    r"(the\s+)?reference(\s+text)?\s+(does\s+not|doesn'?t)\s+(say|mention|contain|include|"
    r"provide|cover)|not\s+(mentioned|covered|stated|provided)\s+in\s+the\s+reference)",
    re.I,
)
# A sentence ends at . ! ? followed by space and a capital, digit or quote ("e.g. the app"
# does not split), or at a line break.
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[$£€])|\s*\n+\s*")
_WORD = re.compile(r"[A-Za-z0-9]+")
# A number: digits with optional thousands separators, decimals and a clock time. Digits glued
# to letters ("PSD2", "B2B", "MP3") are product names, not quantities. Currency signs, "%" and
# units are ignored: the number is what the model gets wrong.
_NUMBER = re.compile(r"(?<![A-Za-z0-9.])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(?::(\d{2}))?")


@dataclass(frozen=True)
class GroundingResult:
    supported: bool
    # supported | empty | model_declined | unsupported_contact | unsupported_number | off_passage
    reason: str
    # One score per answer sentence (best cosine similarity with the passages), in order.
    sentence_scores: list[float] = field(default_factory=list)
    # Numbers in the answer that no passage contains, normalised ("$50.00" -> "50").
    unsupported_numbers: list[str] = field(default_factory=list)
    # Contacts and links in the answer that no passage contains or the allow-list refuses.
    unsupported_contacts: list[str] = field(default_factory=list)


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text.strip()) if s and s.strip()]


def _normalise_number(whole: str, decimals: str | None, minutes: str | None) -> str:
    number = whole.replace(",", "").lstrip("0") or "0"
    decimals = (decimals or "").rstrip("0")
    if decimals:
        number += "." + decimals
    if minutes and minutes != "00":
        number += ":" + minutes
    return number


def numbers_in(text: str) -> list[str]:
    """Normalised numbers in order of appearance, without repeats: "$1,200.00 in 5-7 days" ->
    ["1200", "5", "7"]; "9:00" -> "9"."""
    found: list[str] = []
    for match in _NUMBER.finditer(text):
        number = _normalise_number(*match.groups())
        if number not in found:
            found.append(number)
    return found


def _declined(text: str) -> bool:
    return bool(_DECLINED.search(text.replace("\u2019", "'")))


def _candidates(passage: str) -> list[str]:
    """What an answer sentence may match in a passage: each of its sentences, and the whole
    passage when it has several (answers often merge two sentences into one)."""
    parts = split_sentences(passage)
    return [*parts, " ".join(passage.split())] if len(parts) > 1 else parts


class PassageVectors:
    """Sentence vectors of passages, computed once per passage text and kept (LRU).

    The same FAQ passages back answer after answer, and encoding their sentences is most of
    the check's cost (hundreds of ms with the default embedder on one thread); the answer's own
    sentences are new every time and are always encoded. Thread-safe: turns run concurrently.
    """

    def __init__(self, embedder: Embedder, max_passages: int = 1024) -> None:
        self.embedder = embedder
        self.max_passages = max_passages
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._vectors)

    def get(self, passages: list[str]) -> np.ndarray:
        """The candidates' vectors of all `passages`, stacked in passage order."""
        unique = list(dict.fromkeys(passages))
        with self._lock:
            known = {p: self._vectors[p] for p in unique if p in self._vectors}
        missing = [p for p in unique if p not in known]
        if missing:  # encoded outside the lock: other turns keep using the cache meanwhile
            parts = {p: _candidates(p) for p in missing}
            texts = [c for p in missing for c in parts[p]]
            encoded = np.asarray(self.embedder.encode(texts) if texts else np.zeros((0, 0)))
            start = 0
            for p in missing:
                known[p] = encoded[start : start + len(parts[p])]
                start += len(parts[p])
        with self._lock:
            for p in unique:
                self._vectors[p] = known[p]
                self._vectors.move_to_end(p)
            while len(self._vectors) > self.max_passages:
                self._vectors.popitem(last=False)
        blocks = [known[p] for p in unique if len(known[p])]
        return np.vstack(blocks) if blocks else np.zeros((0, 0), dtype=np.float32)


def _best_similarities(
    sentences: list[str], passages: list[str], embedder: Embedder, cache: PassageVectors | None
) -> list[float]:
    passage_vectors = (cache if cache is not None else PassageVectors(embedder)).get(passages)
    if not len(passage_vectors):
        return [0.0] * len(sentences)
    answer_vectors = embedder.encode(sentences)
    # Unit-length vectors: the dot product is the cosine similarity.
    similarities = np.asarray(answer_vectors) @ passage_vectors.T
    return [float(s) for s in similarities.max(axis=1)]


def check_grounding(
    answer: str,
    passages: list[str],
    embedder: Embedder,
    min_similarity: float = 0.5,
    cache: PassageVectors | None = None,
    policy: ContactPolicy | None = None,
) -> GroundingResult:
    """Whether the answer states only what the passages say (see the module docstring).

    `cache` keeps the passages' sentence vectors between calls (it must use `embedder`);
    `policy` is the shop's allow-list of contacts and link hosts (None: any in the passages)."""
    sentences = split_sentences(answer)
    if not sentences:
        return GroundingResult(False, EMPTY)
    if _declined(answer):
        return GroundingResult(False, MODEL_DECLINED)
    contacts = unsupported_contacts(answer, passages, policy)
    if contacts:
        return GroundingResult(False, UNSUPPORTED_CONTACT, unsupported_contacts=contacts)
    in_passages = {n for p in passages for n in numbers_in(p)}
    unsupported = [n for n in numbers_in(answer) if n not in in_passages]
    scores = _best_similarities(sentences, passages, embedder, cache)
    if unsupported:
        return GroundingResult(False, UNSUPPORTED_NUMBER, scores, unsupported)
    checked = [
        score
        for sentence, score in zip(sentences, scores, strict=True)
        if len(_WORD.findall(sentence)) >= MIN_CONTENT_WORDS
    ]
    if any(score < min_similarity for score in checked):
        return GroundingResult(False, OFF_PASSAGE, scores)
    return GroundingResult(True, SUPPORTED, scores)
