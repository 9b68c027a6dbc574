"""One retrieval training, start to finish, with progress and cancel.

`TrainingJob.run` does it in the caller's thread; `start` in a background thread, whose state
`progress`, `cancel()` and `wait()` give (the seam for a console button). Steps:

1. read the knowledge base; split it (chatbot.training.data) and build the training pairs;
2. measure the model in use now, with the threshold in use now, on the held-out questions;
3. fine-tune the configured base model (chatbot.training.finetune) into a new version folder;
4. measure it, with its threshold chosen on the held-out questions (chatbot.training.evaluation);
5. adopt it only if it is better (`gate`): then it becomes the active version and the search
   index is rebuilt with it at once, from the vectors step 4 made. Otherwise only its manifest
   (figures and why) is kept.
"""

from __future__ import annotations

import logging
import resource
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from chatbot.settings import Settings, TrainingSettings
from chatbot.training import data, evaluation
from chatbot.training.data import KbPassage, Split
from chatbot.training.embedders import Remembering, english_part, trained_model
from chatbot.training.evaluation import MAX_IN_SCOPE_LOSS, EvalKnowledgeBase, Figures
from chatbot.training.finetune import FitStats, StepProgress, TrainingCancelled, fine_tune
from chatbot.training.versions import Version, VersionStore
from knowledge_base import model_packages
from knowledge_base.calibration import Calibration
from knowledge_base.embedders import Embedder, encode_in_chunks
from knowledge_base.language import ENGLISH
from knowledge_base.multilingual import LanguageRoutedEmbedder
from knowledge_base.retriever import RetrievalConfig
from knowledge_base.service import KnowledgeBase
from knowledge_base.threshold import ThresholdCalibrator

log = logging.getLogger(__name__)

MIN_PAIRS = 10
ENCODE_BATCH = 32

PREPARING = "preparing"
MEASURING_BEFORE = "measuring the model in use"
TRAINING = "training"
ENCODING = "encoding with the trained model"
MEASURING_AFTER = "measuring the trained model"
SAVING = "saving"
DONE = "done"


@dataclass(frozen=True)
class JobProgress:
    phase: str
    step: int = 0
    total: int = 0
    loss: float | None = None
    seconds_left: float | None = None


ProgressFn = Callable[[JobProgress], None]


@dataclass(frozen=True)
class TrainingResult:
    version: Version
    adopted: bool
    reason: str
    before: Figures  # the model and threshold in use
    before_recalibrated: Figures  # the model in use, threshold chosen on the held-out questions
    after: Figures  # the trained model with its threshold
    thresholds: dict[str, Calibration]
    counts: dict[str, int]
    fit: FitStats
    seconds: float
    peak_memory_mb: float
    reindexed: int = 0  # passages re-embedded into the search index on adoption


def gate(before: Figures, after: Figures) -> tuple[bool, str]:
    """Adopt when MCC is higher and in-scope accuracy at most MAX_IN_SCOPE_LOSS lower."""
    mcc = f"MCC {before.mcc:.3f} -> {after.mcc:.3f}"
    accuracy = f"in-scope accuracy {before.in_scope_accuracy:.3f} -> {after.in_scope_accuracy:.3f}"
    if after.mcc <= before.mcc:
        return False, f"MCC is not higher ({mcc})"
    if after.in_scope_accuracy < before.in_scope_accuracy - MAX_IN_SCOPE_LOSS - 1e-9:
        return False, f"in-scope accuracy fell by more than {MAX_IN_SCOPE_LOSS} ({accuracy})"
    return True, f"{mcc}, {accuracy}"


@dataclass
class TrainingJob:
    """Everything a training reads: the knowledge base in use and its embedder, the decline
    thresholds in use (`thresholds`: the dialogue's), the settings."""

    kb: KnowledgeBase
    sessions: sessionmaker[Session]
    settings: Settings
    config: TrainingSettings
    thresholds: ThresholdCalibrator
    progress: JobProgress = field(default=JobProgress(PREPARING))
    result: TrainingResult | None = None
    error: BaseException | None = None
    _cancelled: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _listeners: list[ProgressFn] = field(default_factory=list)
    _phase_started: float = field(default_factory=time.monotonic)

    # ---- the job API ----------------------------------------------------------------------
    def start(self, on_progress: ProgressFn | None = None) -> threading.Thread:
        """Run in a background thread; `progress`, `result` and `error` tell how it goes."""
        if self._thread is not None:
            raise RuntimeError("this training has already been started")
        self._thread = threading.Thread(
            target=self._run_caught, args=(on_progress,), name="training", daemon=True
        )
        self._thread.start()
        return self._thread

    def cancel(self) -> None:
        """Stop at the next step (or between encoding batches); nothing is kept."""
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def wait(self, timeout: float | None = None) -> TrainingResult | None:
        """The result once the background run ended (None while it runs); its error raised."""
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                return None
        if self.error is not None:
            raise self.error
        return self.result

    def _run_caught(self, on_progress: ProgressFn | None) -> None:
        try:
            self.run(on_progress)
        except BaseException as exc:  # handed to whoever waits
            self.error = exc

    # ---- the training -------------------------------------------------------------------
    def run(self, on_progress: ProgressFn | None = None) -> TrainingResult:
        if on_progress is not None:
            self._listeners.append(on_progress)
        store = VersionStore(self.settings.data_dir)
        with store.lock():
            result = self._train(store)
        self.result = result
        self._report(JobProgress(DONE))
        return result

    def _train(self, store: VersionStore) -> TrainingResult:
        started = time.monotonic()
        cfg = self.config
        live = self.kb.embedder
        self._report(JobProgress(PREPARING))
        passages = data.read_passages(self.sessions, live.name)
        entries = data.entries_of(passages)
        split = data.split_knowledge_base(
            entries, cfg.holdout_entries, cfg.holdout_phrasings, cfg.seed
        )
        _check_held_out(split)
        held = split.held_out_texts(entries)
        pairs = data.build_pairs(split, held, cfg.max_pairs, cfg.seed)
        leaked = data.leaks(pairs, held)
        if leaked:  # build_pairs filters them: this would be a bug
            raise RuntimeError(f"held-out texts in the training pairs: {leaked[:3]}")
        if len(pairs) < MIN_PAIRS or len({p.entry for p in pairs}) < 2:
            raise data.TrainingDataError(
                f"only {len(pairs)} training pairs could be made; add other phrasings of "
                "the FAQ questions (rows sharing an id) and train again"
            )
        retrieval = self.kb.retriever.config
        with tempfile.TemporaryDirectory(prefix="chatbot-heldout-") as scratch:
            self._report(JobProgress(MEASURING_BEFORE))
            before_vectors = self._vectors_in_use(live, passages, split)
            before, before_recalibrated, right = self._measure_in_use(
                Path(scratch) / "before", split, before_vectors, live, retrieval
            )
            self._check_cancelled()
            folder = store.new_folder()
            try:
                fit = self._fine_tune(pairs, folder)
                after_embedder = self._trained_embedder(live, folder)
                after_vectors = self._encode_all(after_embedder, passages, split)
                self._report(JobProgress(MEASURING_AFTER))
                after, thresholds = self._measure_trained(
                    Path(scratch) / "after", split, after_vectors, after_embedder, retrieval, right
                )
                adopted, reason = gate(before, after)
                self._report(JobProgress(SAVING))
                counts = _counts(entries, split, pairs)
                manifest = self._manifest(
                    folder, adopted, reason, before, before_recalibrated, after, thresholds
                )
                fitted = asdict(fit) | {"seconds": round(fit.seconds, 1)}
                manifest |= {"data": counts, "fit": fitted}
                version = store.write_manifest(folder, manifest)
            except BaseException:
                shutil.rmtree(folder, ignore_errors=True)  # nothing of a failed run is kept
                raise
        reindexed = 0
        if adopted:
            store.set_active(version.name)
            # The index (and stored embeddings) of the new model, from the vectors made above.
            self.kb.embedder = after_embedder
            reindexed = self.kb.reindex()
        else:
            store.discard_model(folder)
        return TrainingResult(
            version,
            adopted,
            reason,
            before,
            before_recalibrated,
            after,
            thresholds,
            counts,
            fit,
            time.monotonic() - started,
            _peak_memory_mb(),
            reindexed,
        )

    # ---- steps --------------------------------------------------------------------------
    def _vectors_in_use(
        self, live: Embedder, passages: Sequence[KbPassage], split: Split
    ) -> np.ndarray:
        """Vectors of the index passages and then the held-out questions, as the model in use
        makes them: the knowledge base's stored ones where it has them (a held-out phrasing
        is a passage too), else encoded now."""
        stored = {p.text: p.vector for p in passages if p.vector is not None}
        texts = [p.text for p in split.index] + [q.text for q in split.queries]
        missing = list(dict.fromkeys(t for t in texts if t not in stored))
        if missing:
            stored |= dict(zip(missing, self._encode(live, missing), strict=True))
        return np.stack([stored[t] for t in texts]).astype(np.float32)

    def _measure_in_use(
        self,
        folder: Path,
        split: Split,
        vectors: np.ndarray,
        live: Embedder,
        retrieval: RetrievalConfig,
    ) -> tuple[Figures, Figures, list[bool | None]]:
        """Figures of the model in use with the thresholds in use, and with thresholds chosen
        on the held-out questions; and which in-scope questions it answers right."""
        in_use = self.thresholds.all()
        held = EvalKnowledgeBase(folder, split.index, vectors[: len(split.index)], live, retrieval)
        try:
            scored = held.score(held.thresholds(in_use), split.queries, vectors[len(split.index) :])
        finally:
            held.close()
        cuts = {key: c.threshold for key, c in in_use.items()}
        right = evaluation.right_answers(scored, cuts)
        recalibrated = evaluation.cross_fitted(evaluation.marked(scored, right), cuts)
        return evaluation.figures(scored, cuts), recalibrated, right

    def _fine_tune(self, pairs: list[data.Pair], folder: Path) -> FitStats:
        base = model_packages.resolve(
            self.settings.models.embedder, self.settings.models_dir, "model"
        )

        def step(p: StepProgress) -> None:
            self._report(JobProgress(TRAINING, p.step, p.total, p.loss, p.seconds_left))

        try:
            return fine_tune(
                base, pairs, self.config, folder / "model", step, cancelled=self._cancelled
            )
        finally:
            self._check_cancelled()

    def _trained_embedder(self, live: Embedder, folder: Path) -> Embedder:
        english = Remembering(trained_model(folder / "model", self.settings.models_dir))
        if isinstance(live, LanguageRoutedEmbedder):  # the multilingual part is not trained
            return LanguageRoutedEmbedder(
                english, Remembering(live.multilingual), live.english_weight
            )
        return english

    def _encode_all(
        self, embedder: Embedder, passages: Sequence[KbPassage], split: Split
    ) -> np.ndarray:
        """The trained model's vectors of the index passages and held-out questions; every
        other passage of the knowledge base is encoded too (and remembered) for the index an
        adoption rebuilds."""
        texts = [p.text for p in split.index] + [q.text for q in split.queries]
        every = list(dict.fromkeys([*texts, *(p.text for p in passages)]))
        vectors = dict(zip(every, self._encode(embedder, every, ENCODING), strict=True))
        return np.stack([vectors[t] for t in texts])

    def _measure_trained(
        self,
        folder: Path,
        split: Split,
        vectors: np.ndarray,
        embedder: Embedder,
        retrieval: RetrievalConfig,
        right: list[bool | None],
    ) -> tuple[Figures, dict[str, Calibration]]:
        """Figures of the trained model with thresholds chosen on the held-out questions, and
        those thresholds. A language with too few held-out questions keeps a calibration of
        its own: the one in use when only the multilingual model scores it (a routed
        embedder's other languages: that model is not trained), else one made now."""
        n = len(split.index)
        carried = {}
        if isinstance(embedder, LanguageRoutedEmbedder):
            carried = {k: c for k, c in self.thresholds.all().items() if k != ENGLISH}
        held = EvalKnowledgeBase(folder, split.index, vectors[:n], embedder, retrieval)
        try:
            scored = held.score(held.thresholds(carried), split.queries, vectors[n:])
            scored = evaluation.marked(scored, right)
            chosen = evaluation.fit(scored)
            own = held.thresholds({**carried, **chosen}).all()
        finally:
            held.close()
        cuts = {key: c.threshold for key, c in own.items()}
        return evaluation.cross_fitted(scored, cuts), chosen

    def _encode(self, embedder: Embedder, texts: list[str], phase: str = "") -> np.ndarray:
        began = time.monotonic()

        def progress(done: int, total: int) -> None:
            self._check_cancelled()
            if phase:
                elapsed = time.monotonic() - began
                left = elapsed / done * (total - done) if done else None
                self._report(JobProgress(phase, done, total, None, left))

        return encode_in_chunks(embedder, texts, ENCODE_BATCH, progress)

    def _manifest(
        self,
        folder: Path,
        adopted: bool,
        reason: str,
        before: Figures,
        before_recalibrated: Figures,
        after: Figures,
        thresholds: Mapping[str, Calibration],
    ) -> dict[str, Any]:
        m = self.settings.models
        return {
            "version": folder.name,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "base_model": m.embedder,
            "multilingual_embedder": m.multilingual_embedder,
            "trained_from": english_part(self.kb.embedder).name,
            "adopted": adopted,
            "reason": reason,
            "config": self.config.model_dump(),
            "metrics": {
                "before": before.as_dict(),
                "before_recalibrated": before_recalibrated.as_dict(),
                "after": after.as_dict(),
            },
            "thresholds": {
                key: {
                    "threshold": c.threshold,
                    "method": c.method,
                    "in_scope": c.in_scope,
                    "off_topic": c.off_topic,
                }
                for key, c in thresholds.items()
            },
        }

    def _report(self, progress: JobProgress) -> None:
        if progress.phase != self.progress.phase:  # how long each step took (`chatbot -v`)
            now = time.monotonic()
            log.info("training: %s took %.1f s", self.progress.phase, now - self._phase_started)
            self._phase_started = now
        self.progress = progress
        for listener in self._listeners:
            listener(progress)

    def _check_cancelled(self) -> None:
        if self._cancelled.is_set():
            raise TrainingCancelled("the training was cancelled; nothing was kept")


def _check_held_out(split: Split) -> None:
    ins, oos = len(split.in_scope), len(split.out_of_scope)
    if ins < evaluation.MIN_PER_CLASS or oos < evaluation.MIN_PER_CLASS:
        raise data.TrainingDataError(
            f"too few held-out questions to measure a training: {ins} in scope and {oos} out "
            f"of scope (at least {evaluation.MIN_PER_CLASS} of each); add FAQ entries and "
            "other phrasings of their questions (rows sharing an id), then train again"
        )


def _counts(
    entries: Sequence[data.Entry], split: Split, pairs: Sequence[data.Pair]
) -> dict[str, int]:
    return {
        "faq_entries": sum(1 for e in entries if e.is_faq),
        "trained_entries": len({p.entry for p in pairs}),
        "pairs": len(pairs),
        "held_out_in_scope": len(split.in_scope),
        "held_out_in_scope_variants": sum(1 for q in split.in_scope if q.synthetic),
        "held_out_out_of_scope": len(split.out_of_scope),
        "held_out_entries": len(split.out_of_scope_entries),
    }


def _peak_memory_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kilobytes, macOS bytes.
    return peak / 1024 / 1024 if sys.platform == "darwin" else peak / 1024
