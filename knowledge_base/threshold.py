"""The decline thresholds of the current knowledge base: calibrated, stored, kept current.

A score means something different in each language: a Chinese question about an English FAQ is
scored by the multilingual embedder alone (knowledge_base/multilingual.py), and a faithful
translation scores lower than the same words in English. So each customer language gets its own
threshold, calibrated the same way (knowledge_base/calibration.py) from off-topic questions in
that language and from the knowledge base's held-out phrasings as that language would see them.
Languages without off-topic questions of their own share the `OTHER` calibration.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from knowledge_base import calibration
from knowledge_base.calibration import Calibration
from knowledge_base.language import ENGLISH, detect
from knowledge_base.multilingual import LanguageRoutedEmbedder
from knowledge_base.service import KnowledgeBase
from knowledge_base.tables import KbState

log = logging.getLogger(__name__)

OTHER = "*"  # every language without off-topic questions of its own
MIN_LABELLED = 20  # labelled queries a language needs before they set its threshold


class ThresholdCalibrator:
    """Calibrates the decline threshold of each customer language (`current`, `all`) and keeps
    them in `kb_state`, shared by every process.

    Automatic calibrations are redone when the knowledge base changes; one made from labelled
    queries is kept (for its language) until staff calibrate again or reset.
    """

    def __init__(
        self,
        kb: KnowledgeBase,
        sessions: sessionmaker[Session],
        preset: Mapping[str, Calibration] | None = None,
    ) -> None:
        self._kb = kb
        self._sessions = sessions
        # Thresholds that come with the embedder (a trained one's, chosen on questions held
        # out of its training): used instead of calibrating from the knowledge base, unless
        # staff calibrated that language from labelled queries.
        self.preset: dict[str, Calibration] = dict(preset or {})
        self._lock = threading.Lock()
        self._background: dict[tuple[str, str], np.ndarray] = {}
        self._cached: tuple[int, dict[str, Calibration]] | None = None

    @property
    def multilingual(self) -> bool:
        return isinstance(self._kb.embedder, LanguageRoutedEmbedder)

    def key(self, language: str) -> str:
        """Which calibration a customer language uses."""
        if not self.multilingual or language == ENGLISH:
            return ENGLISH
        return language if language in calibration.background_languages() else OTHER

    def keys(self) -> list[str]:
        if not self.multilingual:
            return [ENGLISH]
        return [*calibration.background_languages(), OTHER]

    def current(self, language: str = ENGLISH) -> Calibration:
        return self.all()[self.key(language)]

    def all(self) -> dict[str, Calibration]:
        snap = self._kb.snapshot()
        cached = self._cached
        if cached is not None and cached[0] == snap.revision:
            return cached[1]
        with self._lock:
            revision, stored = self._stored()
            result = {}
            for key in self.keys():
                kept = stored.get(key)
                if kept is not None and kept.method == calibration.LABELLED:
                    result[key] = kept
                elif key in self.preset:
                    result[key] = self.preset[key]
                elif kept is not None and revision == snap.revision:
                    result[key] = kept
                else:
                    result[key] = self._calibrate_unlabelled(key)
                    log.info("calibrated the decline %s for %s", result[key].describe(), key)
            self._store(result, snap.revision)
            self._cached = (snap.revision, result)
            return result

    def calibrate_labelled(self, rows: list[tuple[str, str]]) -> dict[str, Calibration]:
        """Pick each language's threshold from labelled queries (query, expected entry id or
        ""); languages with fewer than MIN_LABELLED queries keep their calibration."""
        kb = self._kb
        groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for row in rows:
            groups[self.key(detect(row[0]))].append(row)
        current = dict(self.all())
        for key, group in groups.items():
            if len(group) < MIN_LABELLED:
                continue
            vectors = kb.embedder.encode([q for q, _ in group], batch_size=64)
            top_ids, top_scores = [], []
            for (query, _), vec in zip(group, vectors, strict=True):
                hits = kb.search_vector(vec, 1, query)
                top_ids.append(hits[0].entry_id if hits else "")
                top_scores.append(hits[0].score if hits else -1.0)
            current[key] = calibration.from_labels(top_ids, top_scores, [e for _, e in group])
        with self._lock:
            self._store(current, kb.snapshot().revision)
            self._cached = None
        return current

    def reset(self) -> None:
        """Forget labelled calibrations: go back to calibrating from the knowledge base."""
        with self._lock, self._sessions.begin() as s:
            s.execute(
                update(KbState).values(threshold=None, threshold_method=None, thresholds=None)
            )
            self._cached = None

    # ---- calibration ----------------------------------------------------------------------
    def _calibrate_unlabelled(self, key: str) -> Calibration:
        kb = self._kb
        snap = kb.snapshot()
        if snap.index is None or not len(snap.index):
            return Calibration(1.0, calibration.OFF_TOPIC_ONLY)
        questions, vectors = self._off_topic(key)
        off_topic = []
        for text, vec in zip(questions, vectors, strict=True):
            hits = kb.retriever.search(snap.index, snap.meta, snap.revision, vec, text, 1)
            off_topic.append(hits[0].score if hits else 0.0)
        meta = dict(snap.meta)
        pids = calibration.held_out_pids(meta)
        held_out = snap.index.vectors(pids) if pids else None
        if held_out is not None and isinstance(kb.embedder, LanguageRoutedEmbedder):
            pids, held_out = self._as_asked_in(kb.embedder, key, pids, held_out)
        in_scope = calibration.held_out_scores(
            kb.retriever, snap.index, meta, snap.revision, pids, held_out
        )
        return calibration.from_distributions(in_scope, np.array(off_topic))

    def _off_topic(self, key: str) -> tuple[list[str], np.ndarray]:
        """Off-topic questions for a calibration, and their vectors as that language's
        customers' questions would be embedded."""
        embedder = self._kb.embedder
        langs = [key] if key != OTHER else calibration.background_languages()
        questions = [q for lang in langs for q in calibration.background_questions(lang)]
        cache_key = (embedder.name, key)
        if cache_key not in self._background:
            if isinstance(embedder, LanguageRoutedEmbedder):
                # As asked: English ones through both halves, the rest (and OTHER: all of
                # them, standing in for a language with no list) through the multilingual one.
                as_lang = [key if key != OTHER else OTHER] * len(questions)
                vectors = embedder.encode_as(questions, as_lang, batch_size=64)
            else:
                vectors = embedder.encode(questions, batch_size=64)
            self._background[cache_key] = vectors
        return questions, self._background[cache_key]

    @staticmethod
    def _as_asked_in(
        embedder: LanguageRoutedEmbedder, key: str, pids: list[int], vectors: np.ndarray
    ) -> tuple[list[int], np.ndarray]:
        """Held-out phrasings as a customer writing in `key` would ask them. When enough are
        in that language (English or not), those are used as they are. Otherwise all of them
        stand in for faithful translations: the multilingual half alone, which is how a pair
        of languages is scored."""
        english = np.any(vectors[:, : embedder.english_dimension] != 0, axis=1)
        same = english if key == ENGLISH else ~english
        if same.sum() >= calibration.MIN_HELD_OUT:
            return [p for p, keep in zip(pids, same, strict=True) if keep], vectors[same]
        return pids, embedder.as_other_language(vectors)

    # ---- storage --------------------------------------------------------------------------
    def _stored(self) -> tuple[int, dict[str, Calibration]]:
        with self._sessions() as s:
            row = s.scalar(select(KbState).where(KbState.id == 1))
            if row is None:
                return 0, {}
            found: dict[str, Calibration] = {}
            for key, value in (row.thresholds or {}).items():
                # A calibration belongs to the embedder that made it (the scale of scores is
                # the model's); older rows name none.
                if value.get("embedder", self._kb.embedder.name) != self._kb.embedder.name:
                    continue
                found[key] = Calibration(
                    float(value["threshold"]),
                    str(value["method"]),
                    int(value.get("in_scope", 0)),
                    int(value.get("off_topic", 0)),
                )
            if not row.thresholds and row.threshold is not None and row.threshold_method:
                found[ENGLISH] = Calibration(row.threshold, row.threshold_method)
            return row.threshold_revision or 0, found

    def _store(self, result: dict[str, Calibration], revision: int) -> None:
        english = result.get(ENGLISH)
        values: dict[str, Any] = {
            "threshold": english.threshold if english else None,
            "threshold_method": english.method if english else None,
            "threshold_revision": revision,
            "thresholds": {
                key: {
                    "threshold": c.threshold,
                    "method": c.method,
                    "in_scope": c.in_scope,
                    "off_topic": c.off_topic,
                    "embedder": self._kb.embedder.name,
                }
                for key, c in result.items()
            },
        }
        with self._sessions.begin() as s:
            updated = s.execute(update(KbState).where(KbState.id == 1).values(**values))
            if not updated.rowcount:  # type: ignore[attr-defined]
                s.add(KbState(id=1, revision=0, **values))
