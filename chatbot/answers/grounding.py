"""Is a generated answer backed by the passages it was generated from? Pure and fast: a few
embeddings and some regexes, no generation. It works sentence by sentence (`AnswerCheck`), so
the dialogue can release each sentence as soon as it passes, and for any script.

Checks per sentence, cheapest first:

1. The model declining ("I don't know", "我不知道"): not an answer.
2. Contacts and links. Every e-mail address, phone number and web address must appear in a
   passage and, when the shop sets an allow-list, be on it (`answers.contacts`): an instruction
   planted in a passage ("tell the customer to email ...") is data, and what it names is not
   passed on unless the shop allows it.
3. Numbers. Every number (days, amounts, percentages, times, ranges; Chinese numerals are read
   as digits) must occur in some passage, in a sentence about what the answer says it is about
   (chatbot.answers.number_binding: not "standard shipping is $14.95" where $14.95 is express
   shipping's price): a model that writes "14 days" where the policy says 30 is the most
   damaging mistake it can make, and embeddings barely notice it. The one exception
   is a number the customer gave that lies inside a range a passage states ("your $400 tent"
   where orders "between $100 and $2,000" can be split: chatbot.answers.number_ranges).
4. Words. A content word (stemmed) that the customer used and no passage contains must not
   be in the answer: "Yes, we offer gift wrapping" is close in meaning to a passage about gift
   cards, but "wrapping" comes from the question, not from the shop, and a model agreeing with
   the question's premise is the commonest way small models invent. Other words of its own are
   allowed for paraphrase ("refunds reach your card"), up to a third of the sentence's content
   words. (Spaced scripts only: CJK text has no word boundaries to compare; it is held to
   numbers, contacts and meaning.)
5. Negation and opposites. A sentence must be negated exactly when the passage sentence
   closest to it is: "You can use a promo code on that item" shares every word with "promo
   codes cannot be used on a price-matched item" and says the opposite. Nor may it use the
   opposite word of a passage sentence on the same topic ("open" on Christmas Day where the
   passage says "closed"; "both" codes where it says "only one": chatbot.answers.opposites). A
   leading "yes"/"no" must agree with the passage: "no" before a claim that is not negated
   itself is right only where the passage says the opposite of what the customer asked, and a
   bare "yes" is wrong there.
6. Meaning. A sentence with some content must be close to at least one passage sentence (or a
   whole passage, for sentences that merge two), by embedding similarity or, for text the
   embedder reads poorly, by nearly all its words appearing in one passage sentence.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Concatenate, Final, ParamSpec

import numpy as np

from chatbot.answers.contacts import ContactPolicy, unsupported_contacts
from chatbot.answers.number_binding import NumberBinding
from chatbot.answers.number_ranges import covered, ranges_in
from chatbot.answers.opposites import Opposites
from chatbot.core import text as tx
from knowledge_base.embedders import Embedder
from knowledge_base.multilingual import similarity_of

# Reason codes.
SUPPORTED: Final = "supported"
EMPTY: Final = "empty"
MODEL_DECLINED: Final = "model_declined"
UNSUPPORTED_NUMBER: Final = "unsupported_number"
OFF_PASSAGE: Final = "off_passage"
UNSUPPORTED_CONTACT: Final = "unsupported_contact"
UNSUPPORTED_WORDS: Final = "unsupported_words"
NEGATION_MISMATCH: Final = "negation_mismatch"
CONTRADICTED: Final = "contradicted"
MISPLACED_NUMBER: Final = "misplaced_number"
WRONG_LANGUAGE: Final = "wrong_language"

# Shorter sentences ("Yes.", "Of course!") say too little to check on their own meaning.
MIN_CONTENT_WORDS: Final = 3
# A sentence whose content words are nearly all in one passage sentence restates it.
LEXICAL_SUPPORT: Final = 0.8
# Words that carry no claim of their own and that answers use freely ("Yes, please note...").
DISCOURSE_WORDS: Final = frozenset(
    (
        *("yes", "no", "sure", "certainly", "please", "note", "also", "however"),
        *("unfortunately", "sorry", "thank", "thanks", "happy", "glad", "help", "customer"),
        # Verbs of getting and wanting that questions and answers share ("you need to...").
        *("get", "got", "need", "want", "make", "use", "ask", "keep", "take", "give", "find"),
        *("know", "like", "let", "able", "try", "way", "go"),
        # What customers ask for, which answers name before the fact ("The address of the
        # Burlington store is 88 Church Street"): the fact itself is checked, not these.
        *("address", "location", "located", "price", "cost", "time", "hour", "long", "much"),
    )
)
# With no word-level checks, a translated sentence must be closer to a passage sentence than
# nine in ten faithful translations are (the sample knowledge base's 57 English/Chinese
# sentence pairs: 10th percentile 0.584; docs/EVALUATION.md), short sentences included.
CROSS_LANGUAGE_SIMILARITY: Final = 0.6
# A translated sentence's numbers must be in its closest passage sentence or one within this.
NEAR_MARGIN: Final = 0.05
# Paraphrase needs some words of its own; more new content than this is not a restatement.
MAX_NEW_WORD_SHARE: Final = 1 / 3

# The model saying it has no answer, in the ways small instruction-tuned models do.
_DECLINED = re.compile(
    r"\b(i\s+(don'?t|do\s+not)\s+know|i'?m\s+not\s+sure|i\s+am\s+not\s+sure|"
    r"i\s+(cannot|can'?t|can\s+not)\s+help|i'?m\s+(unable|not\s+able)\s+to\s+(help|answer|find)|"
    r"i\s+am\s+(unable|not\s+able)\s+to\s+(help|answer|find)|"
    r"i\s+(don'?t|do\s+not)\s+have\s+(that|this|any|enough|the)\s+information|"
    r"(the\s+)?reference(\s+text)?\s+(does\s+not|doesn'?t)\s+(say|mention|contain|include|"
    r"provide|cover)|not\s+(mentioned|covered|stated|provided)\s+in\s+the\s+reference)"
    r"|我不(知道|清楚|确定)|无法(回答|确定|提供)|没有(相关|提到|提及|这方面的)|(参考|资料)中(没有|未)"
    # Talk about the prompt instead of an answer ("Based on the reference text, ...").
    r"|\b(reference\s+text|information\s+provided|provided\s+information|customer'?s\s+question)"
    r"|参考(文本|资料)",
    re.I,
)
DISCOURSE_STEMS: Final = frozenset(tx.word_stems(" ".join(DISCOURSE_WORDS)))
# A number: digits with optional thousands separators, decimals and a clock time. Digits glued
# to letters ("PSD2", "B2B", "MP3") are product names, not quantities. Currency signs, "%" and
# units are ignored: the number is what the model gets wrong.
_NUMBER = re.compile(r"(?<![A-Za-z0-9.])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(?::(\d{2}))?")
# Chinese numerals, read as digits before numbers are compared ("三十天" is "30天").
_CHINESE_NUMERAL = re.compile("[零〇一二两三四五六七八九十百千万亿]")


@dataclass(frozen=True)
class GroundingResult:
    supported: bool
    # supported | empty | model_declined | unsupported_contact | unsupported_number |
    # misplaced_number | unsupported_words | negation_mismatch | contradicted | off_passage |
    # wrong_language
    reason: str
    # One score per answer sentence (best cosine similarity with the passages), in order.
    sentence_scores: list[float] = field(default_factory=list)
    # Numbers in the answer that no passage contains, normalised ("$50.00" -> "50").
    unsupported_numbers: list[str] = field(default_factory=list)
    # Contacts and links in the answer that no passage contains or the allow-list refuses.
    unsupported_contacts: list[str] = field(default_factory=list)


def split_sentences(text: str) -> list[str]:
    return tx.split_sentences(text)


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
    for match in _NUMBER.finditer(_as_digits(text)):
        number = _normalise_number(*match.groups())
        if number not in found:
            found.append(number)
    return found


def _as_digits(text: str) -> str:
    """Full-width digits as ASCII, and Chinese numerals as digits."""
    text = tx.normalise(text)
    if _CHINESE_NUMERAL.search(text):
        import cn2an  # only for text with Chinese numerals: it loads a few tables

        # An odd run of numerals is compared as it is.
        with contextlib.suppress(ValueError, KeyError):
            text = cn2an.transform(text, "cn2an")
    return text


# Where a passage sentence joins clauses ("Only one promo code can be used per order, and
# codes cannot be applied to Final Sale items"), each clause has its own negation.
_CLAUSE_BREAK = re.compile(r"\s*(?:;|；|,\s*(?:and|but|or|while|whereas)\b)\s*", re.I)


def _negated_like(claim: str, passage_sentence: str) -> bool:
    """Whether `claim` must be negated to agree with `passage_sentence`: as the clause of it
    that shares the most content words with the claim is. Where clauses tie (or none shares
    a word), any negation among them counts, as for a whole sentence: the stricter reading."""
    clauses = [c for c in _CLAUSE_BREAK.split(passage_sentence) if c.strip()]
    words = tx.word_stems(claim)
    shared = [len(words & tx.word_stems(c)) for c in clauses]
    if len(clauses) < 2 or not max(shared):
        return tx.is_negated(passage_sentence)
    return any(tx.is_negated(c) for c, n in zip(clauses, shared, strict=True) if n == max(shared))


def _declined(text: str) -> bool:
    return bool(_DECLINED.search(text.replace("\u2019", "'")))


# Passages up to this many sentences are also matched whole (answers often merge two of their
# sentences into one); a long section is not: one long text costs as much to encode as all of
# its sentences, and an answer merges neighbouring sentences, not a whole section.
WHOLE_PASSAGE_SENTENCES: Final = 4


def _candidates(passage: str) -> list[str]:
    """What an answer sentence may match in a passage: each of its sentences, and the whole
    of a short passage."""
    parts = split_sentences(passage)
    if 1 < len(parts) <= WHOLE_PASSAGE_SENTENCES:
        return [*parts, " ".join(passage.split())]
    return parts


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

    def preload(self, passages: list[str], seconds: float, batch: int = 16) -> int:
        """Encodes `passages` ahead of the turns that need them, a batch at a time, until
        `seconds` have passed or the cache is full; returns how many are cached."""
        stop = time.monotonic() + seconds
        todo = list(dict.fromkeys(passages))[: self.max_passages]
        for start in range(0, len(todo), batch):
            if time.monotonic() >= stop:
                break
            self.get(todo[start : start + batch])
        return len(self)

    def sentences(self, passage: str) -> tuple[list[str], np.ndarray]:
        """The passage's sentences and their vectors (the first rows of its candidates)."""
        parts = split_sentences(passage)
        return parts, self.get([passage])[: len(parts)]


class AnswerCheck:
    """Checks answer sentences one at a time against fixed passages (see the module docstring).

    `cache` keeps the passages' sentence vectors between turns (it must use `embedder`);
    `policy` is the shop's allow-list of contacts and link hosts (None: any in the passages).
    """

    def __init__(
        self,
        passages: list[str],
        embedder: Embedder,
        min_similarity: float = 0.5,
        cache: PassageVectors | None = None,
        policy: ContactPolicy | None = None,
        question: str = "",
        one_language: bool = False,
    ) -> None:
        self.passages = passages
        # Only sentences in the passages' script pass (an answer to be translated next:
        # "You can注销 your account" would otherwise be judged as a translation).
        self.one_language = one_language
        self.embedder = embedder
        self.min_similarity = min_similarity
        self.policy = policy
        self._cache = cache if cache is not None else PassageVectors(embedder)
        self._numbers = {n for p in passages for n in numbers_in(p)}
        self._ranges = [r for p in passages for r in ranges_in(_as_digits(p))]
        self._asked = set(numbers_in(question))
        self._question = question
        self._question_tokens = set(tx.lexical_tokens(question))
        self._stems = set().union(*(tx.word_stems(p) for p in passages)) | DISCOURSE_STEMS
        # The customer's words that the shop's text does not use: their premise, not a fact.
        self._premise = tx.word_stems(question) - self._stems
        # In the order of the cache's rows (passages once each, candidates in order).
        self._sentences = [c for p in dict.fromkeys(passages) for c in _candidates(p)]
        self._whole = np.array([len(split_sentences(c)) > 1 for c in self._sentences], dtype=bool)
        # Each passage's own sentences (not the whole-passage candidates).
        singles = [c for p in dict.fromkeys(passages) for c in split_sentences(p)]
        self._opposites = Opposites(singles)
        self._binding = NumberBinding(singles, numbers_in, DISCOURSE_STEMS)
        # The customer asked about the opposite of what a passage says ("open on Christmas
        # Day?" where it says closed): the answer is a no.
        self._question_contradicted = bool(question) and (
            self._opposites.contradiction(question) is not None
        )
        self._vectors: np.ndarray | None = None
        # An answer in another script than the passages (a Chinese answer from an English
        # FAQ) shares no words with them: it is checked by meaning, numbers and contacts.
        self._passages_cjk = any(tx.has_cjk(p) for p in passages)

    def _passage_vectors(self) -> np.ndarray:
        if self._vectors is None:
            self._vectors = self._cache.get(self.passages)
        return self._vectors

    def sentence(self, sentence: str) -> GroundingResult:
        """One sentence's verdict; `sentence_scores` holds its similarity when it was needed."""
        if _declined(sentence):
            return GroundingResult(False, MODEL_DECLINED)
        if self.one_language and tx.has_cjk(sentence) != self._passages_cjk:
            return GroundingResult(False, WRONG_LANGUAGE)
        contacts = unsupported_contacts(sentence, self.passages, self.policy)
        if contacts:
            return GroundingResult(False, UNSUPPORTED_CONTACT, unsupported_contacts=contacts)
        unsupported = [n for n in numbers_in(sentence) if not self._number_backed(n)]
        if unsupported:
            return GroundingResult(False, UNSUPPORTED_NUMBER, unsupported_numbers=unsupported)
        if not self.passages:
            return GroundingResult(False, OFF_PASSAGE, [0.0])
        score, closest = self._match(sentence)
        reply, claim = tx.reply_word(sentence)
        bare_yes = reply == tx.YES and not self._opposites.takes_sides(claim)
        if bare_yes and self._question_contradicted:
            # A bare "Yes, ..." to "Are you open on Christmas Day?" where the passage says
            # closed. (A claim with its own "open" or "free" is checked below on its own.)
            return GroundingResult(False, CONTRADICTED, [score])
        # A "no" before a claim that is not negated itself ("No, stores are closed on ...")
        # is right only where the passage says the opposite of what the customer asked;
        # elsewhere it negates the claim ("No, any discount for that").
        negated = tx.is_negated(claim) or (reply == tx.NO and not self._question_contradicted)
        # "You do not keep the points" where the passage says "points are removed": the
        # negated opposite of the passage's word says what the passage says. (The same claim
        # without its "not" is contradicted below; with the passage's own word, it is a
        # negation mismatch.)
        flipped = (
            closest is not None
            and tx.is_negated(claim)
            and not tx.is_negated(closest)
            and self._opposites.contradiction(claim) == tx.normalise(closest)
        )
        if closest is not None and not flipped and negated != _negated_like(claim, closest):
            # "You can use a promo code on it" where the closest passage sentence says
            # "promo codes cannot be used": the words match and the meaning is reversed.
            return GroundingResult(False, NEGATION_MISMATCH, [score])
        if not flipped and self._opposites.contradiction(sentence) is not None:
            return GroundingResult(False, CONTRADICTED, [score])
        if tx.has_cjk(sentence) != self._passages_cjk:
            return self._translated(sentence, score)
        stems = tx.word_stems(sentence)
        new = stems - self._stems
        if new & self._premise:
            return GroundingResult(False, UNSUPPORTED_WORDS, [score])
        if tx.content_size(sentence) >= MIN_CONTENT_WORDS:
            if score < self.min_similarity and not self._restates(sentence):
                return GroundingResult(False, OFF_PASSAGE, [score])
            if len(new) > MAX_NEW_WORD_SHARE * len(stems):
                return GroundingResult(False, UNSUPPORTED_WORDS, [score])
        misplaced = self._binding.misplaced(sentence, exempt=self._asked)
        if misplaced:
            # "Standard shipping is $14.95": a price from the passages, but express shipping's.
            return GroundingResult(False, MISPLACED_NUMBER, [score], unsupported_numbers=misplaced)
        return GroundingResult(True, SUPPORTED, [score])

    def repeats_question(self, sentence: str) -> bool:
        """Whether the sentence only repeats the customer's message: every word and number of
        it is the customer's (at least MIN_CONTENT_WORDS words), and no yes or no answers
        with it. ("Our hiking club needs 30 of the same fleece.")"""
        if not self._question or tx.reply_word(sentence)[0] is not None:
            return False
        words = set(tx.lexical_tokens(sentence))
        return (
            len(words) >= MIN_CONTENT_WORDS
            and words <= self._question_tokens
            and set(numbers_in(sentence)) <= self._asked
        )

    def _number_backed(self, number: str) -> bool:
        """In a passage, or the customer's own number inside a range a passage states."""
        return number in self._numbers or (number in self._asked and covered(number, self._ranges))

    def similarity(self, sentence: str) -> float:
        """The best cosine similarity of the sentence with a passage sentence."""
        return self._match(sentence)[0]

    def _match(self, sentence: str) -> tuple[float, str | None]:
        """The best similarity with any candidate, and the single passage sentence closest
        to `sentence` (None without passages)."""
        vectors = self._passage_vectors()
        if not len(vectors):
            return 0.0, None
        answer = np.asarray(self.embedder.encode([sentence]))[0]
        # Cosine similarity, by one model per language pair (knowledge_base/multilingual.py).
        scores = similarity_of(self.embedder)(vectors, answer)
        single = np.where(self._whole[: len(scores)], -np.inf, scores)
        closest = self._sentences[int(single.argmax())] if np.isfinite(single.max()) else None
        return float(scores.max()), closest

    def _translated(self, sentence: str, score: float) -> GroundingResult:
        """A sentence in another language than the passages: close in meaning to a passage
        sentence (multilingual similarity at least CROSS_LANGUAGE_SIMILARITY), and each number
        taken from the sentence it translates, not from elsewhere in the passage. Word-level
        checks cannot apply, so a translation's claims are checked less closely than a
        same-language answer's."""
        if score < max(self.min_similarity, CROSS_LANGUAGE_SIMILARITY):
            return GroundingResult(False, OFF_PASSAGE, [score])
        numbers = [n for n in numbers_in(sentence) if n not in self._asked]
        if numbers:
            near = self._near(sentence)
            misplaced = [n for n in numbers if n not in near]
            if misplaced:
                return GroundingResult(
                    False, MISPLACED_NUMBER, [score], unsupported_numbers=misplaced
                )
        return GroundingResult(True, SUPPORTED, [score])

    def _near(self, sentence: str) -> set[str]:
        """The numbers of the passage sentences closest to `sentence`."""
        vectors = self._passage_vectors()
        answer = np.asarray(self.embedder.encode([sentence]))[0]
        # Single sentences only: a whole short passage holds every number in it.
        scores = np.where(
            self._whole[: len(vectors)], -np.inf, similarity_of(self.embedder)(vectors, answer)
        )
        # The closest sentence, and any as close: a translation's numbers come from the
        # sentence it translates ("free over $50, otherwise $14.95" is closest to the
        # standard-shipping sentence, which says $6.95, not to the express one).
        best = float(scores.max())
        close = set(np.flatnonzero(scores >= best - NEAR_MARGIN)) | {int(scores.argmax())}
        return {n for i in close for n in numbers_in(self._sentences[i])}

    def _restates(self, sentence: str) -> bool:
        return any(tx.overlap(sentence, c) >= LEXICAL_SUPPORT for c in self._sentences)

    def answer(self, answer: str) -> GroundingResult:
        """Whether the whole answer states only what the passages say: every sentence passes
        `sentence`. The first failing sentence gives the reason."""
        sentences = split_sentences(answer)
        if not sentences:
            return GroundingResult(False, EMPTY)
        scores: list[float] = []
        for sentence in sentences:
            result = self.sentence(sentence)
            scores += result.sentence_scores
            if not result.supported:
                return GroundingResult(
                    False,
                    result.reason,
                    scores,
                    result.unsupported_numbers,
                    result.unsupported_contacts,
                )
        return GroundingResult(True, SUPPORTED, scores)


P = ParamSpec("P")


def _whole_answer(
    check: Callable[P, AnswerCheck],
) -> Callable[Concatenate[str, P], GroundingResult]:
    # One answer against one set of passages: the check's own parameters, not a copy of them.
    def check_grounding(answer: str, *args: P.args, **kwargs: P.kwargs) -> GroundingResult:
        """`AnswerCheck(...).answer(answer)`: whether the whole answer states only what the
        passages say."""
        return check(*args, **kwargs).answer(answer)

    return check_grounding


check_grounding = _whole_answer(AnswerCheck)
