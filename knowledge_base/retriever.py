"""Hybrid retrieval scored per FAQ entry.

Why this shape (see docs/EVALUATION.md for the measurements):
- Each FAQ phrasing is its own vector; an entry's question evidence is the mean of its best
  few phrasing similarities (a k-nearest-neighbour vote), which is steadier than the single
  best phrasing when entries have many phrasings.
- The entry's answer passage ("question + answer") is the second piece of evidence; the dense
  score is the mean of both, so a match must look like the questions *and* fit the answer.
- BM25 over the same passages adds a bounded lexical bonus to the ranking (exact words such as
  product names and codes), but the decline decision uses the dense score alone, whose scale
  the calibration understands.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from knowledge_base import language
from knowledge_base.embedders import Embedder
from knowledge_base.index import VectorIndex
from knowledge_base.multilingual import inner_product, similarity_of
from knowledge_base.records import PassageMeta, SearchHit

log = logging.getLogger(__name__)

Similarity = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class RetrievalConfig:
    knn: int = 3  # phrasings averaged per entry
    lexical_weight: float = 0.1  # BM25 bonus (scaled to 0..1 per query) added for ranking
    use_answers: bool = True  # mix the answer passage into an FAQ entry's dense score
    candidates: int = 100  # passages fetched from each retriever before scoring entries


@dataclass
class _Prepared:
    """Per-revision structures derived from the index metadata."""

    revision: int
    entry_pids: dict[str, list[int]]
    bm25: Any = None
    bm25_pids: list[int] = field(default_factory=list)


class HybridRetriever:
    """Dense (FAISS) + lexical (BM25) retrieval; results are FAQ entries or prose passages."""

    def __init__(
        self,
        config: RetrievalConfig | None = None,
        similarity: Similarity = inner_product,
    ) -> None:
        self.config = config or RetrievalConfig()
        # FAISS finds the candidates; this scores them (per language pair for a
        # LanguageRoutedEmbedder, see knowledge_base/multilingual.py).
        self.similarity = similarity
        self._prepared: _Prepared | None = None
        self._lock = threading.Lock()

    @classmethod
    def for_embedder(
        cls, embedder: Embedder, config: RetrievalConfig | None = None
    ) -> HybridRetriever:
        return cls(config, similarity_of(embedder))

    def _prepare(self, meta: Mapping[int, PassageMeta], revision: int) -> _Prepared:
        prepared = self._prepared
        if prepared is not None and prepared.revision == revision:
            return prepared
        with self._lock:
            if self._prepared is not None and self._prepared.revision == revision:
                return self._prepared
            entry_pids: dict[str, list[int]] = defaultdict(list)
            for pid in sorted(meta):
                entry_pids[meta[pid].entry_id].append(pid)
            prepared = _Prepared(revision, dict(entry_pids))
            if self.config.lexical_weight > 0 and meta:
                prepared.bm25, prepared.bm25_pids = _build_bm25(meta)
            self._prepared = prepared
            return prepared

    def search(
        self,
        index: VectorIndex,
        meta: Mapping[int, PassageMeta],
        revision: int,
        vector: np.ndarray,
        text: str,
        k: int,
    ) -> list[SearchHit]:
        if not len(index):
            return []
        prepared = self._prepare(meta, revision)
        fetch = max(self.config.candidates, k * 10)
        candidates: dict[str, None] = {}
        for pid, _ in index.search(vector, fetch):
            if pid in meta:
                candidates.setdefault(meta[pid].entry_id)
        lexical = self._lexical(prepared, meta, text, fetch)
        for entry_id in lexical:
            candidates.setdefault(entry_id)
        scored = [
            self._score_entry(index, meta, prepared.entry_pids[e], vector, lexical.get(e, 0.0))
            for e in candidates
            if e in prepared.entry_pids
        ]
        # Highest fused score first; ties go to the earlier passage (document order).
        scored.sort(key=lambda s: (-round(s[0], 6), s[1].passage_id))
        return [hit for _, hit in scored[:k]]

    def entry_score(
        self,
        index: VectorIndex,
        meta: Mapping[int, PassageMeta],
        revision: int,
        vector: np.ndarray,
        entry_id: str,
        exclude: int | None = None,
    ) -> float | None:
        """Dense score of one entry without passage `exclude` (leave-one-out calibration)."""
        prepared = self._prepare(meta, revision)
        pids = [p for p in prepared.entry_pids.get(entry_id, []) if p != exclude]
        if not pids:
            return None
        return self._score_entry(index, meta, pids, vector, 0.0)[1].score

    def _score_entry(
        self,
        index: VectorIndex,
        meta: Mapping[int, PassageMeta],
        pids: list[int],
        vector: np.ndarray,
        lexical: float,
    ) -> tuple[float, SearchHit]:
        sims = self.similarity(index.vectors(pids), vector)
        questions = sorted(
            (float(s) for p, s in zip(pids, sims, strict=True) if meta[p].kind == "question"),
            reverse=True,
        )
        others = [float(s) for p, s in zip(pids, sims, strict=True) if meta[p].kind != "question"]
        parts = []
        if questions:
            parts.append(float(np.mean(questions[: self.config.knn])))
        if others and (self.config.use_answers or not questions):
            parts.append(max(others))
        dense = float(np.mean(parts))
        best = int(np.argmax(sims))
        m = meta[pids[best]]
        hit = SearchHit(
            entry_id=m.entry_id,
            passage_id=pids[best],
            title=m.title,
            answer=m.answer,
            score=dense,
            kind=m.kind,
            matched_text=m.text,
            url=m.url,
            category=m.category,
            document=m.document,
            page=m.page,
            similarity=float(sims[best]),
        )
        return dense + self.config.lexical_weight * lexical, hit

    def _lexical(
        self, prepared: _Prepared, meta: Mapping[int, PassageMeta], text: str, fetch: int
    ) -> dict[str, float]:
        """BM25 per entry (best passage), scaled so the query's best entry scores 1."""
        if prepared.bm25 is None:
            return {}
        tokens = [t for t in language.tokens(text) if t in prepared.bm25.vocab_dict]
        if not tokens:
            return {}
        try:
            docs, scores = prepared.bm25.retrieve(
                [tokens], k=min(fetch, len(prepared.bm25_pids)), show_progress=False
            )
        except (ValueError, IndexError):  # no query term is in the corpus
            return {}
        best: dict[str, float] = {}
        # Words match only within a script: a Chinese question's one token shared with an
        # English FAQ (a number, a brand) must not earn that entry the whole bonus.
        chinese = language.has_han(text)
        for doc, score in zip(docs[0], scores[0], strict=True):
            passage = meta[prepared.bm25_pids[int(doc)]]
            if score <= 0 or language.has_han(passage.text) != chinese:
                continue
            entry = passage.entry_id
            best[entry] = max(best.get(entry, 0.0), float(score))
        top = max(best.values(), default=0.0)
        return {e: s / top for e, s in best.items()} if top > 0 else {}


def _build_bm25(meta: Mapping[int, PassageMeta]) -> tuple[Any, list[int]]:
    import bm25s

    pids = sorted(meta)
    corpus = [meta[p].text for p in pids]
    retriever = bm25s.BM25()
    # The product's own tokens: Chinese segmented into words, traditional folded to simplified.
    retriever.index([language.tokens(t) for t in corpus], show_progress=False)
    return retriever, pids
