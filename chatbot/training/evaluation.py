"""Measuring an embedder and its decline thresholds on the held-out questions.

The held-out questions are asked of a temporary knowledge base (its own SQLite file) that holds
the split's index passages: the product's retrieval, scoring and self-calibration run on it
unchanged. Figures: in-scope accuracy (answered with the right entry), out-of-scope recall
(declined) and MCC over both, with "out of scope" as one more label, as `chatbot eval` does.

A threshold chosen on the held-out questions is measured on questions it was not chosen on:
each half (`HeldOut.fold`) is decided with the threshold the other half gives, and the figures
pool both halves. The threshold kept is the one all of them give.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from chatbot.storage import db
from chatbot.training.data import HeldOut, KbPassage
from knowledge_base import repository
from knowledge_base.calibration import Calibration
from knowledge_base.embedders import Embedder
from knowledge_base.language import detect
from knowledge_base.records import ParsedDocument, PassageDraft, SavedPassages
from knowledge_base.retriever import HybridRetriever, RetrievalConfig
from knowledge_base.service import KnowledgeBase
from knowledge_base.tables import Base
from knowledge_base.threshold import MIN_LABELLED, ThresholdCalibrator

OUT_OF_SCOPE = "\0out-of-scope"
# A trained model may cost at most this much in-scope accuracy against the model and threshold
# in use (chatbot.training.job.gate). Its threshold is chosen to cost at most half of it on the
# questions it is chosen on, so that on the others the loss stays within the whole.
MAX_IN_SCOPE_LOSS = 0.02
FIT_IN_SCOPE_LOSS = MAX_IN_SCOPE_LOSS / 2
MIN_PER_CLASS = 5  # in-scope and out-of-scope questions a threshold is chosen from, at least
HELD_OUT = "kb-held-out"  # how a threshold chosen on the held-out questions is described


@dataclass(frozen=True)
class Figures:
    in_scope: int
    out_of_scope: int
    in_scope_accuracy: float
    oos_recall: float
    mcc: float
    recall_at_1: float  # in-scope questions whose best entry is right, whatever the threshold
    # Questions decided by a threshold chosen on them (too few in the other half to choose
    # one there): those figures are optimistic.
    in_sample: int = 0

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)

    def cells(self) -> tuple[str, str, str, str]:
        """In-scope accuracy, OOS recall, MCC and recall@1 as shown to staff (the console's
        and `chatbot train`'s tables)."""
        return (
            f"{self.in_scope_accuracy:.3f}",
            f"{self.oos_recall:.3f}",
            f"{self.mcc:.3f}",
            f"{self.recall_at_1:.3f}",
        )


@dataclass(frozen=True)
class Scored:
    """A held-out question asked: the best entry and its (dense) score."""

    query: HeldOut
    key: str  # which threshold decides it (the customer-language calibration it falls under)
    predicted: str
    score: float
    # In scope: whether the model and threshold in use answer it right (see `right_answers`).
    was_right: bool | None = None


class EvalKnowledgeBase:
    """A knowledge base in `folder` holding `passages` with the given vectors."""

    def __init__(
        self,
        folder: Path,
        passages: Sequence[KbPassage],
        vectors: np.ndarray,
        embedder: Embedder,
        retrieval: RetrievalConfig,
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.engine = db.make_engine(f"sqlite:///{(folder / 'held_out.db').resolve()}")
        Base.metadata.create_all(self.engine)
        self.sessions: sessionmaker[Session] = db.make_sessions(self.engine)
        self.kb = KnowledgeBase(
            self.sessions,
            embedder,
            folder / "index",
            retriever=HybridRetriever.for_embedder(embedder, retrieval),
        )
        by_document: dict[str, list[int]] = defaultdict(list)
        for row, p in enumerate(passages):
            by_document[p.meta.document].append(row)
        for name, rows in by_document.items():
            self._add(name, [passages[r] for r in rows], vectors[rows], embedder.name)

    def _add(self, name: str, passages: list[KbPassage], vectors: np.ndarray, model: str) -> None:
        drafts = [
            PassageDraft(m.entry_id, m.kind, m.title, m.text, m.answer, m.category, m.url, m.page)
            for m in (p.meta for p in passages)
        ]
        parsed = ParsedDocument(name, "held-out", drafts)

        def save(s: Session) -> tuple[SavedPassages, list[PassageDraft]]:
            return repository.save_document(s, parsed, HELD_OUT, 0, vectors, model), drafts

        self.kb.sync.commit(save, vectors)

    def thresholds(self, preset: Mapping[str, Calibration] | None = None) -> ThresholdCalibrator:
        return ThresholdCalibrator(self.kb, self.sessions, preset)

    def score(
        self, calibrator: ThresholdCalibrator, queries: Sequence[HeldOut], vectors: np.ndarray
    ) -> list[Scored]:
        out = []
        for query, vector in zip(queries, vectors, strict=True):
            hits = self.kb.search_vector(vector, 1, query.text)
            key = calibrator.key(detect(query.text))
            predicted, score = (hits[0].entry_id, hits[0].score) if hits else ("", -1.0)
            out.append(Scored(query, key, predicted, score))
        return out

    def close(self) -> None:
        self.engine.dispose()


def figures(scored: Sequence[Scored], thresholds: Mapping[str, float]) -> Figures:
    return _figures(scored, [_decide(s, thresholds[s.key]) for s in scored])


def right_answers(scored: Sequence[Scored], thresholds: Mapping[str, float]) -> list[bool | None]:
    """Whether each in-scope question is answered right with `thresholds` (None: out of
    scope): the model and threshold in use, whose in-scope accuracy a threshold chosen later
    must keep (`marked`, `fit`)."""
    return [
        _decide(s, thresholds[s.key]) and s.predicted == s.query.expected
        if s.query.expected
        else None
        for s in scored
    ]


def marked(scored: Sequence[Scored], right: Sequence[bool | None]) -> list[Scored]:
    return [replace(s, was_right=r) for s, r in zip(scored, right, strict=True)]


def fit(scored: Sequence[Scored], min_rows: int = MIN_LABELLED) -> dict[str, Calibration]:
    """The threshold of each language with enough held-out questions of both kinds that
    maximises MCC (as the product's labelled calibration does), among the thresholds that keep
    in-scope accuracy within FIT_IN_SCOPE_LOSS of the questions' `was_right` (when marked)."""
    out = {}
    for key, group in _by_key(scored).items():
        ins = [s for s in group if s.query.expected]
        if (
            len(group) < min_rows
            or len(ins) < MIN_PER_CLASS
            or len(group) - len(ins) < MIN_PER_CLASS
        ):
            continue
        marks = [s.was_right for s in ins]
        floor = (
            sum(bool(m) for m in marks) / len(marks) - FIT_IN_SCOPE_LOSS
            if all(m is not None for m in marks)
            else None
        )
        threshold = _best_threshold(group, floor)
        out[key] = Calibration(threshold, HELD_OUT, len(ins), len(group) - len(ins))
    return out


def _best_threshold(group: Sequence[Scored], floor: float | None) -> float:
    """Midpoints between the observed scores (and both ends) are tried, so the pick is not
    an edge case; the first of equally good ones (the lowest) wins."""
    scores = sorted({s.score for s in group})
    cuts = [scores[0] - 1e-6, *((a + b) / 2 for a, b in itertools.pairwise(scores))]
    cuts.append(scores[-1] + 1e-6)
    best: tuple[tuple[bool, float], float] | None = None
    for cut in cuts:
        found = _figures(group, [_decide(s, cut) for s in group])
        rank = (floor is None or found.in_scope_accuracy >= floor - 1e-9, found.mcc)
        if best is None or rank > best[0]:
            best = (rank, cut)
    assert best is not None
    return float(best[1])


def cross_fitted(scored: Sequence[Scored], fallback: Mapping[str, float]) -> Figures:
    """Figures of thresholds chosen on the held-out questions (`fit`), each half decided with
    the threshold the other half gives; languages with too few questions for a threshold of
    their own keep `fallback`."""
    kept = fit(scored)
    decisions: dict[int, bool] = {}
    in_sample = 0
    for fold in (0, 1):
        own = [s for s in scored if s.query.fold == fold]
        chosen = fit([s for s in scored if s.query.fold != fold], min_rows=MIN_LABELLED // 2)
        for s in own:
            if s.key not in kept:
                threshold = fallback[s.key]
            elif s.key in chosen:
                threshold = chosen[s.key].threshold
            else:
                threshold, in_sample = kept[s.key].threshold, in_sample + 1
            decisions[id(s)] = _decide(s, threshold)
    found = _figures(scored, [decisions[id(s)] for s in scored])
    return replace(found, in_sample=in_sample)


def _decide(s: Scored, threshold: float) -> bool:
    return bool(s.predicted) and s.score >= threshold


def _by_key(scored: Sequence[Scored]) -> dict[str, list[Scored]]:
    groups: dict[str, list[Scored]] = defaultdict(list)
    for s in scored:
        groups[s.key].append(s)
    return groups


def _figures(scored: Sequence[Scored], answered: Sequence[bool]) -> Figures:
    from sklearn.metrics import matthews_corrcoef

    truth = [s.query.expected or OUT_OF_SCOPE for s in scored]
    said = [s.predicted if a else OUT_OF_SCOPE for s, a in zip(scored, answered, strict=True)]
    pairs = list(zip(truth, said, strict=True))
    ins = [(t, p) for t, p in pairs if t != OUT_OF_SCOPE]
    oos = [(t, p) for t, p in pairs if t == OUT_OF_SCOPE]
    labels = set(itertools.chain(truth, said))
    return Figures(
        in_scope=len(ins),
        out_of_scope=len(oos),
        in_scope_accuracy=_share(sum(1 for t, p in ins if t == p), len(ins)),
        recall_at_1=_share(
            sum(1 for s in scored if s.query.expected and s.predicted == s.query.expected),
            len(ins),
        ),
        oos_recall=_share(sum(1 for _, p in oos if p == OUT_OF_SCOPE), len(oos)),
        mcc=float(matthews_corrcoef(truth, said)) if len(labels) > 1 else 0.0,
    )


def _share(n: int, d: int) -> float:
    return n / d if d else 0.0
