"""Training data and the held-out split, built from the knowledge base as it is.

The trainer holds out its own test questions, of two kinds, and never trains on them:
- *in scope*: some alternative phrasings of each entry (never an entry's first phrasing, which
  is also the title inside its answer passage), asked while they are missing from the index;
- *near-domain out of scope*: a share of whole FAQ entries, removed from the index, whose
  phrasings are then asked. They are about the shop, so they look like what real customers ask
  that the knowledge base cannot answer, unlike general off-topic questions.

Training pairs come from what is left: each phrasing with another phrasing of its entry, and
with its entry's answer passage. An entry left with one phrasing gets rule-based variants
(`chatbot.training.variants`) to pair with. When a knowledge base has too few alternative
phrasings to hold out, variants of single-phrasing entries stand in as in-scope questions
(marked `synthetic`), and are kept out of training too.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from chatbot.training.variants import normalise, variants
from knowledge_base import repository
from knowledge_base.records import PassageMeta

QUESTION = "question"
MIN_FAQ_ENTRIES = 5  # one held out leaves four to learn from
MIN_IN_SCOPE = 20  # in-scope questions wanted; below it variants stand in


class TrainingDataError(ValueError):
    """The knowledge base cannot be trained on; the message says why and what to do."""


@dataclass(frozen=True)
class KbPassage:
    """A passage of the knowledge base, with its stored vector when that vector is the
    current embedder's (no need to encode it again)."""

    pid: int
    meta: PassageMeta
    vector: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def text(self) -> str:
        return self.meta.text


@dataclass(frozen=True)
class Entry:
    """An FAQ entry (its phrasings and answer passage) or a prose section, in document order."""

    entry_id: str
    passages: tuple[KbPassage, ...]

    @property
    def phrasings(self) -> list[str]:
        return [p.text for p in self.passages if p.meta.kind == QUESTION]

    @property
    def answer(self) -> str | None:
        """The answer passage as the index holds it ("title\\nanswer")."""
        return next((p.text for p in self.passages if p.meta.kind != QUESTION), None)

    @property
    def is_faq(self) -> bool:
        return any(p.meta.kind == QUESTION for p in self.passages)


@dataclass(frozen=True)
class HeldOut:
    """A held-out question: `expected` is its entry, "" when it is out of scope. `fold` (0 or
    1) splits the held-out questions in two halves, so a threshold chosen on one half is
    measured on the other."""

    text: str
    expected: str
    fold: int
    synthetic: bool = False


@dataclass(frozen=True)
class TrainEntry:
    """What training may use of an in-scope entry: the phrasings left in the index."""

    entry_id: str
    phrasings: tuple[str, ...]
    answer: str | None


@dataclass(frozen=True)
class Split:
    index: tuple[KbPassage, ...]  # what the evaluation index holds
    train: tuple[TrainEntry, ...]
    queries: tuple[HeldOut, ...]
    out_of_scope_entries: tuple[str, ...]

    @property
    def in_scope(self) -> list[HeldOut]:
        return [q for q in self.queries if q.expected]

    @property
    def out_of_scope(self) -> list[HeldOut]:
        return [q for q in self.queries if not q.expected]

    def held_out_texts(self, entries: Iterable[Entry]) -> set[str]:
        """Every text training must not see (normalised): the held-out questions and all
        passages of the held-out entries."""
        held = {normalise(q.text) for q in self.queries}
        removed = set(self.out_of_scope_entries)
        held |= {normalise(p.text) for e in entries if e.entry_id in removed for p in e.passages}
        return held


@dataclass(frozen=True)
class Pair:
    """One training example: two texts that belong together, and the entry they belong to
    (no two pairs of one training step share an entry: they are each other's negatives)."""

    anchor: str
    positive: str
    entry: str


def read_passages(sessions: sessionmaker[Session], embedder_name: str) -> list[KbPassage]:
    """Every passage of the knowledge base, in id order, with the stored vectors that
    `embedder_name` made."""
    out = []
    with sessions() as s:
        for pid, blob, name, meta in repository.iter_passages(s):
            vector = np.frombuffer(blob, dtype=np.float32).copy() if name == embedder_name else None
            out.append(KbPassage(pid, meta, vector))
    return out


def entries_of(passages: Iterable[KbPassage]) -> list[Entry]:
    grouped: dict[str, list[KbPassage]] = defaultdict(list)
    for p in sorted(passages, key=lambda p: p.pid):
        grouped[p.meta.entry_id].append(p)
    return [Entry(entry_id, tuple(ps)) for entry_id, ps in grouped.items()]


def split_knowledge_base(
    entries: list[Entry],
    holdout_entries: float,
    holdout_phrasings: float,
    seed: int,
    min_in_scope: int = MIN_IN_SCOPE,
) -> Split:
    faq = sorted((e for e in entries if e.is_faq), key=lambda e: e.entry_id)
    if len(faq) < MIN_FAQ_ENTRIES:
        raise TrainingDataError(
            f"the knowledge base has {len(faq)} FAQ entries; training needs at least "
            f"{MIN_FAQ_ENTRIES}: add FAQ entries (`chatbot ingest faq.csv`) and train again"
        )
    rng = random.Random(seed)
    rng.shuffle(faq)
    n_out = min(len(faq) - 1, max(1, round(len(faq) * holdout_entries)))
    removed, kept = faq[:n_out], faq[n_out:]
    queries = [
        HeldOut(text, "", fold=i % 2)
        for i, entry in enumerate(removed)
        for text in dict.fromkeys(entry.phrasings)
    ]
    held_phrasings: dict[str, set[str]] = {}
    in_scope: list[HeldOut] = []
    for entry in kept:
        others = list(dict.fromkeys(entry.phrasings[1:]))
        if not others:
            continue
        count = min(len(others), max(1, math.floor(len(entry.phrasings) * holdout_phrasings)))
        chosen = rng.sample(others, count)
        held_phrasings[entry.entry_id] = set(chosen)
        in_scope += [HeldOut(text, entry.entry_id, fold=0) for text in chosen]
    if len(in_scope) < min_in_scope:
        single = [e for e in kept if e.entry_id not in held_phrasings]
        for entry in single[: min_in_scope - len(in_scope)]:
            found = variants(entry.phrasings[0])
            if found:
                in_scope.append(HeldOut(found[-1], entry.entry_id, fold=0, synthetic=True))
    queries += [
        HeldOut(q.text, q.expected, fold=i % 2, synthetic=q.synthetic)
        for i, q in enumerate(in_scope)
    ]
    removed_ids = {e.entry_id for e in removed}
    index = [
        p
        for e in entries
        if e.entry_id not in removed_ids
        for p in e.passages
        if not (p.meta.kind == QUESTION and p.text in held_phrasings.get(e.entry_id, ()))
    ]
    train = [
        TrainEntry(
            e.entry_id,
            tuple(t for t in e.phrasings if t not in held_phrasings.get(e.entry_id, ())),
            e.answer,
        )
        for e in kept
    ]
    return Split(tuple(index), tuple(train), tuple(queries), tuple(e.entry_id for e in removed))


def build_pairs(split: Split, held_out: set[str], max_pairs: int, seed: int) -> list[Pair]:
    """Training pairs of the in-scope entries, none with a held-out text (`held_out`,
    normalised), at most `max_pairs`, spread evenly over the entries."""
    rng = random.Random(seed)
    per_entry: list[list[Pair]] = []
    for entry in split.train:
        pool = list(dict.fromkeys(entry.phrasings))
        if len(pool) == 1:
            pool += variants(pool[0])
        pool = [t for t in pool if normalise(t) not in held_out]
        pairs = []
        if len(pool) >= 2:
            for anchor in pool:
                other = rng.choice([t for t in pool if t != anchor])
                pairs.append(Pair(anchor, other, entry.entry_id))
        if entry.answer is not None and normalise(entry.answer) not in held_out:
            pairs += [Pair(anchor, entry.answer, entry.entry_id) for anchor in pool]
        rng.shuffle(pairs)
        if pairs:
            per_entry.append(pairs)
    # Round robin over the entries, so a cap keeps every entry represented.
    out: list[Pair] = []
    for i in range(max((len(p) for p in per_entry), default=0)):
        out += [pairs[i] for pairs in per_entry if i < len(pairs)]
    return out[:max_pairs]


def leaks(pairs: Iterable[Pair], held_out: set[str]) -> list[str]:
    """Texts of `pairs` that are held out (should be none)."""
    return sorted({t for p in pairs for t in (p.anchor, p.positive) if normalise(t) in held_out})
