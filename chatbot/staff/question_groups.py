"""Customer questions grouped by meaning, across languages ("退货要多久" with "How long does a
return take?").

With the knowledge base's `LanguageRoutedEmbedder`, two English questions are compared by the
English model (so English-only sites keep the grouping they had) and every other pair by the
multilingual model, whose vectors compare across languages. The two models' cosines sit on
different scales, so each pair's score is its similarity minus the threshold of the model that
compared it: above 0 means "the same question", on one scale for every pair.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from knowledge_base.embedders import Embedder
from knowledge_base.language import ENGLISH
from knowledge_base.multilingual import USE_SPEC, LanguageRoutedEmbedder

# Two groups of questions merge while the mean cosine similarity between their wordings is at
# least this (average-linkage agglomerative clustering). 0.75 is deliberately conservative:
# a group holds close rewordings of one question, and looser paraphrases may stay in groups
# of their own. That is the cheaper mistake: a split group only splits a count, while an
# over-merged one hides a distinct question (a knowledge gap) inside another's count. On the
# packaged models (all-mpnet-base-v2, all-MiniLM-L6-v2), different questions on one topic
# ("do gift cards expire?" / "can I pay with a gift card?") can score 0.55-0.65, so a much
# lower value merges questions that need different answers. Average linkage, unlike single
# linkage, does not chain: a group cannot drift from one question to another one near
# neighbour at a time. It is a parameter, not tuned to any data set.
DEFAULT_GROUP_THRESHOLD = 0.75
# A multilingual model's cosines have a scale of their own. Multilingual USE scores a
# question and its Chinese translation about 0.66-0.84 (median 0.78), and unrelated questions
# seldom above 0.5: at 0.75 half of the translations would stay apart. Its English-to-English
# scores are looser than the English models' (it puts "do gift cards expire?" and "can I pay
# with a gift card?" at 0.71), which is why two English questions are compared by the
# English model instead.
MULTILINGUAL_GROUP_THRESHOLDS = {USE_SPEC: 0.70}
TOP_GROUPS = 10
EXAMPLES = 3


def group_threshold(embedder: Embedder) -> float:
    """The grouping threshold on this embedder's scale."""
    return MULTILINGUAL_GROUP_THRESHOLDS.get(embedder.name, DEFAULT_GROUP_THRESHOLD)


@dataclass(frozen=True)
class QuestionGroup:
    """Customer questions with one meaning."""

    count: int  # messages in the group
    representative: str  # the most central wording
    examples: list[str] = field(default_factory=list)  # other wordings, most frequent first

    @property
    def questions(self) -> list[str]:
        return [self.representative, *self.examples]


class _CachedEmbedder:
    """Embeds each distinct text once across several groupings (same vectors as `inner`)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name = inner.name
        self._vectors: dict[str, np.ndarray] = {}

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def prime(self, texts: Sequence[str]) -> None:
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            vectors = self.inner.encode(missing)
            self._vectors.update(zip(missing, vectors, strict=True))

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        self.prime(texts)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([self._vectors[t] for t in texts])


def _unit_similarities(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = vectors / np.where(norms > 0, norms, 1.0)
    return np.asarray(vectors @ vectors.T)


class QuestionSimilarity:
    """How alike questions are: one embedder, or for a `LanguageRoutedEmbedder` its English
    model between two English questions and its multilingual model for every other pair.
    Each text is embedded (and its language detected) once, however often it is compared.

    `threshold` None: each model's own (`group_threshold`); a value: that one for both."""

    def __init__(self, embedder: Embedder, threshold: float | None = None) -> None:
        self._english: _CachedEmbedder | None = None
        self._detect: Callable[[list[str]], list[str]] | None = None
        if isinstance(embedder, LanguageRoutedEmbedder):
            self._english = _CachedEmbedder(embedder.english)
            self._detect = embedder.languages
            shared: Embedder = embedder.multilingual
        else:
            shared = embedder
        self._shared = _CachedEmbedder(shared)
        self._shared_threshold = group_threshold(shared) if threshold is None else threshold
        english = self._english.inner if self._english else shared
        self._english_threshold = group_threshold(english) if threshold is None else threshold
        self._languages: dict[str, str] = {}

    def _english_rows(self, texts: Sequence[str]) -> list[int]:
        if self._detect is None:
            return []
        missing = list(dict.fromkeys(t for t in texts if t not in self._languages))
        if missing:
            self._languages.update(zip(missing, self._detect(missing), strict=True))
        return [i for i, t in enumerate(texts) if self._languages[t] == ENGLISH]

    def prime(self, texts: Sequence[str]) -> None:
        """Embed these texts now, in one call per model."""
        self._shared.prime(texts)
        if self._english is not None:
            self._english.prime([texts[i] for i in self._english_rows(texts)])

    def scores(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(similarities, margins) of every pair of texts: the cosine of the model that
        compared the pair, and that cosine minus the model's threshold (> 0: alike)."""
        sims = _unit_similarities(self._shared.encode(texts))
        margins = sims - self._shared_threshold
        english = self._english_rows(texts)
        if self._english is not None and english:
            block = np.ix_(english, english)
            sims[block] = _unit_similarities(self._english.encode([texts[i] for i in english]))
            margins[block] = sims[block] - self._english_threshold
        return sims, margins


# ---- grouping ----------------------------------------------------------------------------
def _normalise(text: str) -> str:
    """Wordings that differ only in case, spacing or final punctuation count as one."""
    return " ".join(text.split()).casefold().rstrip(" ?!.？！。")


def _clusters(margins: np.ndarray) -> list[list[int]]:
    """Average-linkage agglomerative clustering, stopped where the mean margin between two
    groups falls to 0 (with one model: the mean similarity falls below its threshold)."""
    n = len(margins)
    if n == 1:
        return [[0]]
    from sklearn.cluster import AgglomerativeClustering

    # Distance 1 - margin: positive, and below 1 exactly when the margin is above 0.
    distances = np.clip(1.0 - margins, 0.0, None)
    np.fill_diagonal(distances, 0.0)
    model = AgglomerativeClustering(
        n_clusters=None, metric="precomputed", linkage="average", distance_threshold=1.0
    )
    labels = model.fit_predict(distances)
    groups: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(int(label), []).append(i)
    return list(groups.values())


def group_questions(
    questions: Sequence[str],
    embedder: Embedder | QuestionSimilarity,
    *,
    threshold: float | None = None,
    top: int = TOP_GROUPS,
    examples: int = EXAMPLES,
) -> list[QuestionGroup]:
    """Group questions by meaning; the `top` largest groups, largest first.

    `threshold` (for an embedder; a QuestionSimilarity has its own): None for the models'
    own, see QuestionSimilarity. Identical wordings (ignoring case, spacing and final
    punctuation) are embedded once and counted. Each group's representative is its most
    central wording: the highest count-weighted similarity to the group's questions;
    examples are its other wordings, most frequent first.
    """
    similarity = (
        embedder
        if isinstance(embedder, QuestionSimilarity)
        else QuestionSimilarity(embedder, threshold)
    )
    counts: Counter[str] = Counter()
    forms: dict[str, Counter[str]] = {}  # normalised -> how each original wording was written
    for q in questions:
        key = _normalise(q)
        if key:
            counts[key] += 1
            forms.setdefault(key, Counter())[" ".join(q.split())] += 1
    if not counts:
        return []
    # Each wording is shown as it was written most often (ties: the first seen).
    shown = {key: form.most_common(1)[0][0] for key, form in forms.items()}
    keys = list(counts)
    all_sims, margins = similarity.scores([shown[k] for k in keys])
    weights = np.array([counts[k] for k in keys], dtype=np.float64)
    groups = []
    for members in _clusters(margins):
        sims = all_sims[np.ix_(members, members)]
        centrality = sims @ weights[members]
        order = sorted(
            range(len(members)),
            key=lambda i: (-centrality[i], -weights[members[i]], keys[members[i]]),
        )
        rep = order[0]
        others = sorted(
            (i for i in range(len(members)) if i != rep),
            key=lambda i: (-weights[members[i]], -sims[rep, i], keys[members[i]]),
        )
        groups.append(
            QuestionGroup(
                count=int(weights[members].sum()),
                representative=shown[keys[members[rep]]],
                examples=[shown[keys[members[i]]] for i in others[:examples]],
            )
        )
    groups.sort(key=lambda g: (-g.count, g.representative))
    return groups[:top]
