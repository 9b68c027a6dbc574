"""Choosing the decline threshold for a knowledge base, with or without labelled queries.

Without labels the knowledge base calibrates itself from two score distributions:
- "in scope": each alternative phrasing of an FAQ entry, held out, scored against the rest of
  its own entry (leave-one-out): what a real paraphrase of a known question scores;
- "off topic": a fixed set of general questions no support FAQ answers
  (knowledge_base/data/background_questions.txt), scored against the whole knowledge base.
The threshold sits halfway between the 95th percentile of off-topic scores and the 5th
percentile of in-scope scores. A knowledge base with too few alternative phrasings to hold out
uses the 99th percentile of the off-topic scores alone.

With labelled queries (`chatbot calibrate --queries FILE.csv`) the threshold is the one that
maximises the Matthews correlation over answer-this-entry / decline decisions.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from knowledge_base.index import VectorIndex
from knowledge_base.language import ENGLISH
from knowledge_base.records import PassageMeta
from knowledge_base.retriever import HybridRetriever

_DATA = Path(__file__).parent / "data"
MIN_HELD_OUT = 20
MAX_HELD_OUT = 500
UNLABELLED = "kb-phrasings"
OFF_TOPIC_ONLY = "off-topic"
LABELLED = "labelled"


@dataclass(frozen=True)
class Calibration:
    threshold: float
    method: str
    in_scope: int = 0  # held-out phrasings or labelled in-scope queries used
    off_topic: int = 0  # background or labelled out-of-scope queries used

    def describe(self) -> str:
        return (
            f"threshold {self.threshold:.3f} ({self.method}; {self.in_scope} in-scope, "
            f"{self.off_topic} off-topic examples)"
        )


def _background_file(lang: str) -> Path:
    name = "background_questions.txt" if lang == ENGLISH else f"background_questions_{lang}.txt"
    return Path(__file__).parent / "data" / name


def background_languages() -> list[str]:
    """Languages with their own set of off-topic questions (English first)."""
    found = sorted(p.stem.rsplit("_", 1)[-1] for p in _DATA.glob("background_questions_*.txt"))
    return [ENGLISH, *(lang for lang in found if lang != ENGLISH)]


def background_questions(lang: str = ENGLISH) -> list[str]:
    text = _background_file(lang).read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def held_out_pids(meta: dict[int, PassageMeta] | object) -> list[int]:
    """Phrasings of entries that have at least two (an even sample of at most MAX_HELD_OUT)."""
    assert isinstance(meta, dict)
    by_entry: dict[str, list[int]] = {}
    for pid, m in meta.items():
        if m.kind == "question":
            by_entry.setdefault(m.entry_id, []).append(pid)
    pids = sorted(p for group in by_entry.values() if len(group) >= 2 for p in group)
    if len(pids) > MAX_HELD_OUT:  # an even, deterministic sample
        pids = [pids[i] for i in np.linspace(0, len(pids) - 1, MAX_HELD_OUT).astype(int)]
    return pids


def held_out_scores(
    retriever: HybridRetriever,
    index: VectorIndex,
    meta: dict[int, PassageMeta] | object,
    revision: int,
    pids: list[int] | None = None,
    vectors: np.ndarray | None = None,
) -> np.ndarray:
    """Leave-one-out scores of held-out phrasings (`held_out_pids` unless given), each scored
    with its own vector or with `vectors` (the same phrasings as if asked another way)."""
    assert isinstance(meta, dict)
    if pids is None:
        pids = held_out_pids(meta)
    if not pids:
        return np.zeros(0)
    if vectors is None:
        vectors = index.vectors(pids)
    scores = [
        retriever.entry_score(index, meta, revision, vec, meta[pid].entry_id, exclude=pid)
        for pid, vec in zip(pids, vectors, strict=True)
    ]
    return np.array([s for s in scores if s is not None])


def from_distributions(in_scope: np.ndarray, off_topic: np.ndarray) -> Calibration:
    if len(in_scope) >= MIN_HELD_OUT:
        threshold = (np.percentile(off_topic, 95) + np.percentile(in_scope, 5)) / 2
        return Calibration(float(threshold), UNLABELLED, len(in_scope), len(off_topic))
    return Calibration(float(np.percentile(off_topic, 99)), OFF_TOPIC_ONLY, 0, len(off_topic))


def from_labels(top_ids: list[str], top_scores: list[float], expected: list[str]) -> Calibration:
    """The threshold maximising MCC; `expected` is "" for out-of-scope queries."""
    from sklearn.metrics import matthews_corrcoef

    truth = [e or "\0oos" for e in expected]
    candidates = sorted(set(top_scores))
    best = (-2.0, 0.0)
    # Try midpoints between observed scores (and both ends) so the pick is not an edge case.
    cuts = [candidates[0] - 1e-6] + [(a + b) / 2 for a, b in itertools.pairwise(candidates)]
    cuts.append(candidates[-1] + 1e-6)
    for t in cuts:
        predicted = [i if s >= t else "\0oos" for i, s in zip(top_ids, top_scores, strict=True)]
        mcc = matthews_corrcoef(truth, predicted) if len(set(truth) | set(predicted)) > 1 else 0
        if mcc > best[0]:
            best = (float(mcc), t)
    in_scope = sum(1 for e in expected if e)
    return Calibration(float(best[1]), LABELLED, in_scope, len(expected) - in_scope)
