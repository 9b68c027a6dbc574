"""The decline threshold of the current knowledge base: calibrated, stored, kept current."""

from __future__ import annotations

import logging
import threading

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from knowledge_base import calibration
from knowledge_base.calibration import Calibration
from knowledge_base.service import KnowledgeBase
from knowledge_base.tables import KbState

log = logging.getLogger(__name__)


class Thresholds:
    """Keeps the calibrated threshold in `kb_state`, shared by every process.

    An automatic calibration is redone when the knowledge base changes; one made from labelled
    queries is kept until staff calibrate again.
    """

    def __init__(self, kb: KnowledgeBase, sessions: sessionmaker[Session]) -> None:
        self._kb = kb
        self._sessions = sessions
        self._lock = threading.Lock()
        self._background: tuple[str, np.ndarray] | None = None
        self._cached: tuple[int, Calibration] | None = None

    def current(self) -> Calibration:
        snap = self._kb.snapshot()
        cached = self._cached
        if cached is not None and cached[0] == snap.revision:
            return cached[1]
        with self._lock:
            stored = self._stored()
            if stored is not None and (
                stored[1].method == calibration.LABELLED or stored[0] == snap.revision
            ):
                result = stored[1]
            else:
                result = self._calibrate_unlabelled()
                self._store(result, snap.revision)
                log.info("calibrated the decline %s", result.describe())
            self._cached = (snap.revision, result)
            return result

    def calibrate_labelled(self, rows: list[tuple[str, str]]) -> Calibration:
        """Pick the threshold from labelled queries (query, expected entry id or "")."""
        kb = self._kb
        vectors = kb.embedder.encode([q for q, _ in rows], batch_size=64)
        top_ids, top_scores = [], []
        for (query, _), vec in zip(rows, vectors, strict=True):
            hits = kb.search_vector(vec, 1, query)
            top_ids.append(hits[0].entry_id if hits else "")
            top_scores.append(hits[0].score if hits else -1.0)
        result = calibration.from_labels(top_ids, top_scores, [e for _, e in rows])
        with self._lock:
            self._store(result, kb.snapshot().revision)
            self._cached = None
        return result

    def reset(self) -> None:
        """Forget a labelled calibration: go back to calibrating from the knowledge base."""
        with self._lock, self._sessions.begin() as s:
            s.execute(update(KbState).values(threshold=None, threshold_method=None))
            self._cached = None

    def _calibrate_unlabelled(self) -> Calibration:
        kb = self._kb
        snap = kb.snapshot()
        if snap.index is None or not len(snap.index):
            return Calibration(1.0, calibration.OFF_TOPIC_ONLY)
        questions = calibration.background_questions()
        if self._background is None or self._background[0] != kb.embedder.name:
            self._background = (kb.embedder.name, kb.embedder.encode(questions, batch_size=64))
        off_topic = []
        for text, vec in zip(questions, self._background[1], strict=True):
            hits = kb.retriever.search(snap.index, snap.meta, snap.revision, vec, text, 1)
            off_topic.append(hits[0].score if hits else 0.0)
        in_scope = calibration.held_out_scores(
            kb.retriever, snap.index, dict(snap.meta), snap.revision
        )
        return calibration.from_distributions(in_scope, np.array(off_topic))

    def _stored(self) -> tuple[int, Calibration] | None:
        with self._sessions() as s:
            row = s.scalar(select(KbState).where(KbState.id == 1))
            if row is None or row.threshold is None or row.threshold_method is None:
                return None
            return row.threshold_revision or 0, Calibration(row.threshold, row.threshold_method)

    def _store(self, result: Calibration, revision: int) -> None:
        with self._sessions.begin() as s:
            updated = s.execute(
                update(KbState)
                .where(KbState.id == 1)
                .values(
                    threshold=result.threshold,
                    threshold_method=result.method,
                    threshold_revision=revision,
                )
            )
            if not updated.rowcount:  # type: ignore[attr-defined]
                s.add(
                    KbState(
                        id=1,
                        revision=0,
                        threshold=result.threshold,
                        threshold_method=result.method,
                        threshold_revision=revision,
                    )
                )
